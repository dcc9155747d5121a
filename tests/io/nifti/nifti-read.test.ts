import { existsSync } from 'node:fs'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { inspectImageFile, readImageFile } from '../../../src/io/image/index.js'
import { indexToRas, toFloat32, voxelType, type Volume } from '../../../src/volume/index.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const dataRoot = path.resolve(repoRoot, '../shared/data')
const hasData = existsSync(dataRoot)

interface Ref {
  shape: number[]
  dtype: string
  slope: number | null
  affine: number[][]
  sum: number
  sumsq: number
  probes: { ijk: number[]; value: number }[]
}
const refs = JSON.parse(readFileSync(path.join(repoRoot, 'tests/reference/nifti-refs.json'), 'utf8')) as {
  data: Record<string, Ref>
  fixtures: Record<string, Ref>
}

function expectMatchesNibabel(v: Volume, ref: Ref): void {
  expect(v.size).toEqual(ref.shape.slice(0, 3))
  // itk-wasm applies scl_slope; the stored integers are recovered and kept with the scaling.
  expect(voxelType(v)).toBe(ref.dtype)
  const ras = indexToRas(v)
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(ras[r * 4 + c]).toBeCloseTo(ref.affine[r][c], 4)
  const x = toFloat32(v)
  let sum = 0
  let sumsq = 0
  for (let i = 0; i < x.length; i++) {
    sum += x[i]
    sumsq += x[i] * x[i]
  }
  expect(Math.abs(sum - ref.sum)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(ref.sum), Math.sqrt(ref.sumsq)))
  expect(Math.abs(sumsq - ref.sumsq)).toBeLessThanOrEqual(1e-5 * Math.max(1, ref.sumsq))
  for (const p of ref.probes) {
    const [i, j, k] = p.ijk
    const got = x[i + v.size[0] * (j + v.size[1] * k)]
    expect(Math.abs(got - p.value)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(p.value)))
  }
}

describe('NIfTI fixture vs nibabel', () => {
  for (const [rel, ref] of Object.entries(refs.fixtures)) {
    it(rel, async () => {
      const file = path.join(repoRoot, rel)
      const v = await readImageFile(file, rel)
      expectMatchesNibabel(v, ref)
      expect(v.meta.rescaleSlope).toBeCloseTo(ref.slope ?? 1, 6)
      const s = await inspectImageFile(file, rel)
      expect(s).toMatchObject({ format: 'nifti', size: v.size, voxelType: ref.dtype, modality: 'OT' })
      s.spacing.forEach((sp, i) => expect(sp).toBeCloseTo(v.spacing[i], 6))
    })
  }
})

describe.skipIf(!hasData)('shared NIfTI files vs nibabel', () => {
  for (const [rel, ref] of Object.entries(refs.data)) {
    it(rel, async () => {
      const v = await readImageFile(path.join(dataRoot, rel), rel, undefined, { modality: rel.startsWith('ct/') ? 'CT' : undefined })
      expectMatchesNibabel(v, ref)
      expect(v.modality).toBe(rel.startsWith('ct/') ? 'CT' : 'OT')
    })
  }
})
