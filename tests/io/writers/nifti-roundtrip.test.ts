import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { readImageFile } from '../../../src/io/image/index.js'
import { writeItkImage } from '../../../src/io/writers/write-itk-image.js'
import { writeNifti } from '../../../src/io/writers/write-nifti.js'
import { createVolume, indexToRas, toFloat32, voxelType, type Volume } from '../../../src/volume/index.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const fixture = path.join(repoRoot, 'fixtures/nifti/ixi-t1-small.nii.gz')
const refs = JSON.parse(readFileSync(path.join(repoRoot, 'tests/reference/nifti-refs.json'), 'utf8'))
const ref = refs.fixtures['fixtures/nifti/ixi-t1-small.nii.gz'] as { affine: number[][]; sum: number; sumsq: number }
const work = mkdtempSync(path.join(tmpdir(), 'raddiff-nifti-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const PEER = `
import json, sys
import nibabel as nib, numpy as np
img = nib.load(sys.argv[1])
x = img.get_fdata(dtype=np.float64)
h = img.header
print(json.dumps({'shape': list(img.shape), 'dtype': str(img.get_data_dtype()), 'affine': img.affine.tolist(),
  'qform': img.get_qform().tolist(), 'codes': [int(h['qform_code']), int(h['sform_code'])],
  'slope': None if img.dataobj.slope is None else float(img.dataobj.slope),
  'inter': None if img.dataobj.inter is None else float(img.dataobj.inter),
  'descrip': h['descrip'].tobytes().rstrip(b'\\0').decode('ascii'),
  'data': x.ravel(order='F').tolist()}))
`
function nibabelAvailable(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import nibabel'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const hasNibabel = nibabelAvailable()
interface Peer {
  shape: number[]
  dtype: string
  affine: number[][]
  qform: number[][]
  codes: number[]
  slope: number | null
  inter: number | null
  descrip: string
  data: number[]
}
function nibabelRead(file: string): Peer {
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', PEER, file], { maxBuffer: 64 << 20 }).toString())
}

/** NIfTI-1 stores the affine as float32: allow its rounding, 1e-5 relative. */
function expectAffine(got: number[][], want: number[][]): void {
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) {
    expect(Math.abs(got[r][c] - want[r][c])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[r][c])))
  }
}
const rows = (m: number[]) => [0, 1, 2, 3].map((r) => m.slice(r * 4, r * 4 + 4))
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

/** A CT-like volume: integer HU, oblique direction with a reflection (qfac -1). */
function syntheticCt(): Volume {
  const size: [number, number, number] = [20, 16, 12]
  const data = new Int16Array(size[0] * size[1] * size[2])
  for (let i = 0; i < data.length; i++) data[i] = ((i * 37) % 4025) - 1024
  const c = Math.cos(0.3)
  const s = Math.sin(0.3)
  return createVolume({
    data, size, spacing: [0.7, 0.8, 2.5], origin: [-120.5, 33.25, 7.75],
    direction: [c, -s, 0, s, c, 0, 0, 0, -1], modality: 'CT',
  })
}

describe('writeNifti', () => {
  it('float32 .nii.gz keeps affine and values (read back by us)', async () => {
    const src = await readImageFile(fixture, 'fixture')
    const out = path.join(work, 'f32.nii.gz')
    await writeNifti(src, out, { description: 'raddiff test NOT FOR CLINICAL USE' })
    const back = await readImageFile(out, 'out')
    expect(voxelType(back)).toBe('float32')
    expectAffine(rows(indexToRas(back)), ref.affine)
    expect(maxAbsDiff(toFloat32(back), toFloat32(src))).toBe(0)
  })

  it('int16 with scaling covers a non-integer range within half a step', async () => {
    const src = await readImageFile(fixture, 'fixture')
    const out = path.join(work, 'i16.nii')
    await writeNifti(src, out, { dtype: 'int16' })
    const back = await readImageFile(out, 'out')
    expect(voxelType(back)).toBe('int16')
    const step = back.meta.rescaleSlope
    expect(step).toBeGreaterThan(0)
    expect(step).toBeLessThan(0.05)
    expect(maxAbsDiff(toFloat32(back), toFloat32(src))).toBeLessThanOrEqual(step / 2 + 1e-4)
  })

  it('auto picks int16 with slope 1 for integer HU and float32 otherwise', async () => {
    const ct = syntheticCt()
    await writeNifti(ct, path.join(work, 'ct.nii.gz'), { dtype: 'auto' })
    const back = await readImageFile(path.join(work, 'ct.nii.gz'), 'ct')
    expect(voxelType(back)).toBe('int16')
    expect([back.meta.rescaleSlope, back.meta.rescaleIntercept]).toEqual([1, 0])
    expect(maxAbsDiff(back.data, ct.data)).toBe(0)
    const frac = createVolume({ ...ct, data: Float32Array.from(ct.data, (x) => x + 0.5) })
    await writeNifti(frac, path.join(work, 'frac.nii.gz'), { dtype: 'auto' })
    expect(voxelType(await readImageFile(path.join(work, 'frac.nii.gz'), 'frac'))).toBe('float32')
  })

  it('refuses other extensions, creates missing folders, and fails typed where it cannot write', async () => {
    await expect(writeNifti(syntheticCt(), path.join(work, 'x.png'))).rejects.toMatchObject({ code: 'UNSUPPORTED_OUTPUT' })
    await writeNifti(syntheticCt(), path.join(work, 'missing-dir', 'x.nii'))
    expect(readdirSync(path.join(work, 'missing-dir'))).toEqual(['x.nii'])
    // A regular file where a folder should be: nothing to create, nothing left behind.
    writeFileSync(path.join(work, 'a-file'), 'x')
    await expect(writeNifti(syntheticCt(), path.join(work, 'a-file', 'x.nii'))).rejects.toMatchObject({ code: 'WRITE_FAILED' })
  })
})

describe.skipIf(!hasNibabel)('writeNifti read by nibabel (peer)', () => {
  it('float32: same affine as nibabel reads from the source, same values, codes 1, descrip', async () => {
    const src = await readImageFile(fixture, 'fixture')
    const out = path.join(work, 'peer-f32.nii.gz')
    await writeNifti(src, out, { description: 'raddiff test NOT FOR CLINICAL USE' })
    const p = nibabelRead(out)
    expect(p.shape).toEqual([60, 60, 45])
    expect(p.dtype).toBe('float32')
    expect(p.codes).toEqual([1, 1])
    expect(p.descrip).toBe('raddiff test NOT FOR CLINICAL USE')
    expectAffine(p.affine, ref.affine)
    expectAffine(p.qform, ref.affine)
    let sum = 0
    let sumsq = 0
    for (const x of p.data) {
      sum += x
      sumsq += x * x
    }
    expect(sum).toBeCloseTo(ref.sum, 0)
    expect(Math.abs(sumsq - ref.sumsq) / ref.sumsq).toBeLessThan(1e-6)
    expect(maxAbsDiff(p.data, toFloat32(src))).toBe(0)
  })

  it('int16 CT: nibabel sees int16, slope 1, the exact HU and the oblique reflected affine', async () => {
    const ct = syntheticCt()
    const out = path.join(work, 'peer-ct.nii.gz')
    await writeNifti(ct, out, { dtype: 'int16' })
    const p = nibabelRead(out)
    expect(p.dtype).toBe('int16')
    expect([p.slope ?? 1, p.inter ?? 0]).toEqual([1, 0])
    expect(maxAbsDiff(p.data, ct.data)).toBe(0)
    expectAffine(p.affine, rows(indexToRas(ct)))
    expectAffine(p.qform, rows(indexToRas(ct)))
  })

  it('int16 scaled: nibabel applies our scl_slope/scl_inter to within half a step', async () => {
    const ct = syntheticCt()
    const f = createVolume({ ...ct, data: Float32Array.from(ct.data, (x) => x * 0.37 + 1000.25) })
    const out = path.join(work, 'peer-scaled.nii')
    await writeNifti(f, out, { dtype: 'int16' })
    const p = nibabelRead(out)
    expect(p.dtype).toBe('int16')
    expect(p.slope).not.toBe(1)
    expect(maxAbsDiff(p.data, f.data)).toBeLessThanOrEqual((p.slope ?? 1) / 2 + 1e-6)
  })
})

describe('writeItkImage .nrrd / .mha', () => {
  for (const ext of ['nrrd', 'mha']) {
    it(`${ext}: geometry and values survive a round trip through itk-wasm`, async () => {
      for (const src of [syntheticCt(), await readImageFile(fixture, 'fixture')]) {
        const out = path.join(work, `rt.${ext}`)
        await writeItkImage(src, out)
        const back = await readImageFile(out, 'rt')
        expect(back.size).toEqual(src.size)
        back.spacing.forEach((s, i) => expect(s).toBeCloseTo(src.spacing[i], 6))
        back.origin.forEach((s, i) => expect(s).toBeCloseTo(src.origin[i], 5))
        back.direction.forEach((s, i) => expect(s).toBeCloseTo(src.direction[i], 6))
        expect(maxAbsDiff(toFloat32(back), toFloat32(src))).toBe(0)
      }
    })
  }
  it('refuses detached-header formats', async () => {
    await expect(writeItkImage(syntheticCt(), path.join(work, 'x.nhdr'))).rejects.toMatchObject({ code: 'UNSUPPORTED_OUTPUT' })
  })
})

it.skipIf(!existsSync(fixture))('fixture stays small', () => {
  expect(readFileSync(fixture).length).toBeLessThan(200 * 1024)
})
