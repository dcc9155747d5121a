import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadVolumes } from '../../src/io/load.js'
import { writeVolume } from '../../src/io/write.js'
import { indexToLps, toFloat32, type Volume } from '../../src/volume/index.js'

const repo = path.resolve(import.meta.dirname, '../..')
const tmp = mkdtempSync(path.join(os.tmpdir(), 'raddiff-roundtrip-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

function invert4(m: number[]): number[] {
  // Affine inverse: [R t; 0 1]^-1 = [R^-1, -R^-1 t].
  const [a, b, c, d, e, f, g, h, i] = [m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]]
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
  const r = [
    (e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
    (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
    (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det,
  ]
  const t = [m[3], m[7], m[11]]
  return [
    r[0], r[1], r[2], -(r[0] * t[0] + r[1] * t[1] + r[2] * t[2]),
    r[3], r[4], r[5], -(r[3] * t[0] + r[4] * t[1] + r[5] * t[2]),
    r[6], r[7], r[8], -(r[6] * t[0] + r[7] * t[1] + r[8] * t[2]),
    0, 0, 0, 1,
  ]
}

/**
 * Same physical image: every voxel of `b` maps onto a voxel centre of `a` with the same value.
 * Voxel order may differ (DICOM always stacks slices along row × column, so a left-handed
 * NIfTI comes back with k reversed), geometry and values may not.
 */
function expectSameImage(a: Volume, b: Volume, valueTol: number) {
  const m = indexToLps(a)
  const inv = invert4(m)
  const mb = indexToLps(b)
  // b index → a index, as a 3×4 matrix.
  const t: number[] = []
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) {
    t.push(inv[r * 4] * mb[c] + inv[r * 4 + 1] * mb[4 + c] + inv[r * 4 + 2] * mb[8 + c] + (c === 3 ? inv[r * 4 + 3] : 0))
  }
  for (const x of t) expect(Math.abs(x - Math.round(x))).toBeLessThan(1e-3) // a signed permutation with integer shifts
  const fa = toFloat32(a)
  const fb = toFloat32(b)
  expect(fb.length).toBe(fa.length)
  let maxDiff = 0
  const [nx, ny, nz] = b.size
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
    const ai = Math.round(t[0] * i + t[1] * j + t[2] * k + t[3])
    const aj = Math.round(t[4] * i + t[5] * j + t[6] * k + t[7])
    const ak = Math.round(t[8] * i + t[9] * j + t[10] * k + t[11])
    if (!(ai >= 0 && aj >= 0 && ak >= 0 && ai < a.size[0] && aj < a.size[1] && ak < a.size[2])) {
      maxDiff = Infinity // b holds a voxel that a does not cover
      continue
    }
    const d = Math.abs(fb[i + nx * (j + ny * k)] - fa[ai + a.size[0] * (aj + a.size[1] * ak)])
    if (d > maxDiff) maxDiff = d
  }
  expect(maxDiff).toBeLessThanOrEqual(valueTol)
}

describe('round trips through our own loaders and writers', () => {
  const cases = [
    { name: 'NIfTI (uint8 + scl_slope) → DICOM series → load', src: 'fixtures/nifti/ixi-t1-small.nii.gz', out: 'nifti-to-dicom' },
    { name: 'NIfTI → NIfTI → load', src: 'fixtures/nifti/ixi-t1-small.nii.gz', out: 'nifti.nii.gz' },
    { name: 'NIfTI → NRRD → load', src: 'fixtures/nifti/ixi-t1-small.nii.gz', out: 'nifti.nrrd' },
    { name: 'DICOM mosaic → DICOM series → load', src: 'fixtures/demo', out: 'dicom-to-dicom' },
    { name: 'DICOM mosaic → NIfTI → load', src: 'fixtures/demo', out: 'dicom.nii.gz' },
  ]
  for (const c of cases) {
    it(c.name, async () => {
      const [{ volume: src }] = await loadVolumes([path.join(repo, c.src)])
      const written = await writeVolume(src, path.join(tmp, c.out), { description: 'roundtrip test' })
      const back = await loadVolumes([written])
      expect(back).toHaveLength(1)
      // Integer sources with an exact rescale come back exactly; allow float32 rounding of slope·value.
      const scale = Math.abs(src.meta.rescaleSlope)
      expectSameImage(src, back[0].volume, 1e-4 * Math.max(1, scale * 255))
    })
  }
})
