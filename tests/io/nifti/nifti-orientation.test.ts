import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { readImageNode } from '@itk-wasm/image-io'
import { describe, expect, it } from 'vitest'
import { readImageFile } from '../../../src/io/image/index.js'
import { indexToLps, indexToPoint, indexToRas, toFloat32, type Volume } from '../../../src/volume/index.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const dataRoot = path.resolve(repoRoot, '../shared/data')
const hasData = existsSync(dataRoot)
const refs = JSON.parse(readFileSync(path.join(repoRoot, 'tests/reference/nifti-refs.json'), 'utf8'))

/** LPS point → fractional voxel index, by inverting the volume's own index→LPS matrix. */
function pointToIndex(v: Volume, p: number[]): number[] {
  const m = indexToLps(v)
  const a = [0, 1, 2].map((r) => [m[r * 4], m[r * 4 + 1], m[r * 4 + 2]])
  const b = [0, 1, 2].map((r) => p[r] - m[r * 4 + 3])
  const det = (x: number[][]) =>
    x[0][0] * (x[1][1] * x[2][2] - x[1][2] * x[2][1]) - x[0][1] * (x[1][0] * x[2][2] - x[1][2] * x[2][0]) + x[0][2] * (x[1][0] * x[2][1] - x[1][1] * x[2][0])
  const d = det(a)
  return [0, 1, 2].map((c) => det(a.map((row, r) => row.map((val, j) => (j === c ? b[r] : val)))) / d)
}

describe.skipIf(!hasData)('RAS vs LPI: one image stored two ways', () => {
  it('identical values at the same physical points', async () => {
    const ras = await readImageFile(path.join(dataRoot, 'orientation/RAS.nii.gz'), 'RAS')
    const lpi = await readImageFile(path.join(dataRoot, 'orientation/LPI.nii.gz'), 'LPI')
    expect(ras.size).toEqual(lpi.size)
    // the two really are stored differently: every voxel axis is flipped
    for (let j = 0; j < 3; j++) expect(ras.direction[j * 4]).toBeCloseTo(-lpi.direction[j * 4], 9)
    const a = toFloat32(ras)
    const b = toFloat32(lpi)
    const [nx, ny, nz] = ras.size
    let compared = 0
    let mismatched = 0
    let maxOff = 0
    for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
      const q = pointToIndex(lpi, indexToPoint(ras, [i, j, k]))
      const r = q.map(Math.round)
      maxOff = Math.max(maxOff, ...q.map((x, t) => Math.abs(x - r[t])))
      if (r.some((x, t) => x < 0 || x >= lpi.size[t])) continue
      compared++
      if (a[i + nx * (j + ny * k)] !== b[r[0] + nx * (r[1] + ny * r[2])]) mismatched++
    }
    expect(maxOff).toBeLessThan(1e-3)
    expect(compared).toBe(nx * ny * nz)
    expect(mismatched).toBe(0)
  })
})

describe.skipIf(!hasData)('where ITK and the NIfTI standard disagree', () => {
  it('gg-flair template: qform and sform both coded 4 but different; we follow the sform like nibabel', async () => {
    const rel = 'templates/gg-flair-181-asym-8mmFWHM.nii'
    const file = path.join(dataRoot, rel)
    const nib = refs.data[rel].affine as number[][]
    const ours = indexToRas(await readImageFile(file, rel))
    const itk = await readImageNode(file, { informationOnly: true })
    const itkRas = indexToRas({ spacing: itk.spacing as never, origin: itk.origin as never, direction: Array.from(itk.direction as ArrayLike<number>) as never })
    for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) expect(ours[r * 4 + c]).toBeCloseTo(nib[r][c], 5)
    // raw itk-wasm picked the qform here: x flipped, different origin
    expect(Math.abs(itkRas[0] - nib[0][0]) + Math.abs(itkRas[3] - nib[0][3]) + Math.abs(itkRas[7] - nib[1][3])).toBeGreaterThan(1)
  })
})
