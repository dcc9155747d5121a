import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Volume } from '../../../src/volume/volume.js'
import { dicomData, hasData, loadOne, refs } from './helpers.js'

interface NiftiRef {
  shape: number[]
  affine_ras: number[][]
  sum: number
  sumsq: number
  samples: { ijk: number[]; value: number }[]
}
const REF: Record<string, NiftiRef> = JSON.parse(readFileSync(refs('dicom-dcm2niix.json'), 'utf8'))

/** Our voxel index of an LPS point (direction is orthonormal for these series). */
function lpsToIndex(v: Volume, p: number[]): number[] {
  const d = v.direction
  const q = [0, 1, 2].map((a) => p[a] - v.origin[a])
  return [0, 1, 2].map((j) => (d[j] * q[0] + d[3 + j] * q[1] + d[6 + j] * q[2]) / v.spacing[j])
}

const inputs: [string, string][] = [
  ...Array.from({ length: 9 }, (_, i): [string, string] => [`dcm_qa_ts/${i + 1}`, `dcm_qa_ts/In/${i + 1}.dcm`]),
  ['dcm_qa_12bit/2', 'dcm_qa_12bit/In/12bitUnsigned.dcm'],
  ['dcm_qa_12bit/3', 'dcm_qa_12bit/In/12bitUnsigned_0x0F0F.dcm'],
  ['dcm_qa_12bit/4', 'dcm_qa_12bit/In/12bitSigned_0x0F0F.dcm'],
]

describe.skipIf(!hasData)('Siemens mosaic series vs dcm2niix Ref/*.nii (nibabel numbers)', () => {
  it.each(inputs)('%s', async (key, file) => {
    const ref = REF[key]
    const v = await loadOne(path.join(dicomData, file))
    expect(v.size).toEqual(ref.shape)
    let sum = 0
    let sumsq = 0
    for (let i = 0; i < v.data.length; i++) {
      sum += v.data[i]
      sumsq += v.data[i] * v.data[i]
    }
    expect(sum).toBe(ref.sum)
    expect(sumsq).toBe(ref.sumsq)
    // dcm2niix flips rows: compare voxels at the same physical position, which must fall on our grid
    const A = ref.affine_ras
    for (const { ijk, value } of ref.samples) {
      const ras = [0, 1, 2].map((r) => A[r][0] * ijk[0] + A[r][1] * ijk[1] + A[r][2] * ijk[2] + A[r][3])
      const ours = lpsToIndex(v, [-ras[0], -ras[1], ras[2]])
      for (const x of ours) expect(Math.abs(x - Math.round(x))).toBeLessThan(1e-3)
      const [i, j, k] = ours.map(Math.round)
      expect(v.data[i + v.size[0] * (j + v.size[1] * k)]).toBe(value)
    }
    // voxel sizes: columns of the reference affine
    const colNorm = (c: number) => Math.hypot(A[0][c], A[1][c], A[2][c])
    for (let c = 0; c < 3; c++) expect(v.spacing[c]).toBeCloseTo(colNorm(c), 4)
  })
})
