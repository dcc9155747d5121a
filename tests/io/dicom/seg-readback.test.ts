import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readSegMask, type SegTargetGrid } from '../../../src/io/dicom/read-dicom-seg.js'
import { IoError } from '../../../src/io/errors.js'
import { encodeDataset } from '../../../src/io/writers/dicom-dataset.js'
import type { NaturalDataset } from '../../../src/io/writers/dicom-dcmjs.js'
import { packBits, segmentationDataset, writeDicomSeg } from '../../../src/io/writers/write-dicom-seg.js'
import { createVolume, VolumeMetadata, type Mat3, type Vec3, type Volume } from '../../../src/volume/index.js'

const run = promisify(execFile)
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const reference = path.join(repoRoot, 'scripts/reference/seg_to_grid.py')
const hasPydicom = spawnSync('/usr/bin/python3', ['-c', 'import pydicom, numpy'], { stdio: 'ignore' }).status === 0

// 13 × 11 pixels a frame: not a multiple of 8, so 1-bit frames share bytes (PS3.5 8.1.1).
const SIZE: Vec3 = [13, 11, 6]
const N = SIZE[0] * SIZE[1] * SIZE[2]
const SPACING: Vec3 = [0.9, 1.1, 3]
const ORIGIN: Vec3 = [-20.5, 14.25, 3]
const a = (20 * Math.PI) / 180
const OBLIQUE: Mat3 = [1, 0, 0, 0, Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a)]
const FOR = '1.2.826.0.1.3680043.8.498.173'
const STUDY = '1.2.826.0.1.3680043.8.498.171'

// Slice 2 is left empty: a SEG from another tool may omit such frames.
const mask = new Float32Array(N).map((_, n) => (Math.floor(n / (SIZE[0] * SIZE[1])) !== 2 && (n * 7919) % 13 < 4 ? 1 : 0))
const ones = [...mask.keys()].filter((n) => mask[n] === 1)

const volume = (data: Float32Array, over: Partial<{ origin: Vec3; spacing: Vec3; frameOfReferenceUID: string }> = {}): Volume =>
  createVolume({
    data,
    size: SIZE,
    spacing: over.spacing ?? SPACING,
    origin: over.origin ?? ORIGIN,
    direction: OBLIQUE,
    modality: 'MR',
    meta: new VolumeMetadata({ dicom: { studyInstanceUID: STUDY, seriesInstanceUID: '1.2.826.0.1.3680043.8.498.172', frameOfReferenceUID: over.frameOfReferenceUID ?? FOR } }),
  })

const GRID: SegTargetGrid = { size: SIZE, spacing: SPACING, origin: ORIGIN, direction: OBLIQUE, frameOfReferenceUID: FOR }

/**
 * What another writer may produce from the same mask: frames in reverse order and the empty
 * slice left out, on a 9 × 7 crop that starts at voxel (2, 3) of each slice (its own Rows /
 * Columns and per-frame positions). Built on raddiff's dataset, with frames and pixels re-cut.
 */
function croppedShuffled(): Uint8Array {
  const { ds } = segmentationDataset(volume(mask))
  const [i0, j0, w, h] = [2, 3, 9, 7]
  const frames = ds.PerFrameFunctionalGroupsSequence as NaturalDataset[]
  const keep = [5, 4, 3, 1, 0]
  const pix = new Float32Array(keep.length * w * h)
  keep.forEach((k, f) => {
    for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) pix[f * w * h + r * w + c] = mask[i0 + c + SIZE[0] * (j0 + r + SIZE[1] * k)]
  })
  const at = (k: number) => [0, 1, 2].map((x) => ORIGIN[x] + OBLIQUE[3 * x] * SPACING[0] * i0 + OBLIQUE[3 * x + 1] * SPACING[1] * j0 + OBLIQUE[3 * x + 2] * SPACING[2] * k)
  Object.assign(ds, {
    Rows: h,
    Columns: w,
    NumberOfFrames: keep.length,
    PerFrameFunctionalGroupsSequence: keep.map((k) => ({ ...frames[k], PlanePositionSequence: [{ ImagePositionPatient: at(k).map((x) => x.toFixed(6)) }] })),
    PixelData: [packBits(pix, 0.5).buffer],
  })
  return encodeDataset(ds)
}

let root: string
const files: Record<string, string> = {}
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'raddiff-segread-'))
  const write = async (name: string, v: Volume) => (files[name] = (await writeDicomSeg(v, path.join(root, name))).files[0])
  await write('seg', volume(mask))
  await write('other-for', volume(mask, { frameOfReferenceUID: '1.2.826.0.1.3680043.8.498.999' }))
  await write('half-voxel', volume(mask, { origin: [ORIGIN[0] + SPACING[0] / 2, ORIGIN[1], ORIGIN[2]] }))
  await write('other-spacing', volume(mask, { spacing: [1, 1.1, 3] }))
  files.cropped = path.join(root, 'cropped.dcm')
  await writeFile(files.cropped, croppedShuffled())
})
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

const bytes = async (name: string) => new Uint8Array(await readFile(files[name]))
const onesOf = (m: Float32Array) => [...m.keys()].filter((n) => m[n] === 1)

/** Both values in the mask's set: 0 and 1, nothing else. */
function expectBinary(m: Float32Array): void {
  for (let n = 0; n < m.length; n++) if (m[n] !== 0 && m[n] !== 1) expect.fail(`voxel ${n} is ${m[n]}`)
}

async function pydicomOnes(name: string): Promise<{ ones: number[]; offsets: number[][] }> {
  const grid = JSON.stringify({ size: SIZE, spacing: SPACING, origin: ORIGIN, direction: OBLIQUE })
  return JSON.parse((await run('/usr/bin/python3', [reference, files[name], grid], { maxBuffer: 64 << 20 })).stdout)
}

describe('a DICOM SEG read back as a mask on the scan grid', () => {
  it('equals the mask raddiff wrote, voxel by voxel', async () => {
    const r = readSegMask(await bytes('seg'), GRID)
    expect(r.mask).toHaveLength(N)
    expectBinary(r.mask)
    expect(ones.length).toBeGreaterThan(20)
    expect(r.voxels).toBe(ones.length)
    expect(onesOf(r.mask)).toEqual(ones)
    expect(r).toMatchObject({ segments: [1], frames: SIZE[2], frameOfReferenceChecked: true })
  })

  it('places frames by their own geometry: reversed, cropped, an empty slice left out', async () => {
    const r = readSegMask(await bytes('cropped'), GRID)
    expect(r.frames).toBe(5)
    const inCrop = ones.filter((n) => {
      const i = n % SIZE[0]
      const j = Math.floor(n / SIZE[0]) % SIZE[1]
      return i >= 2 && i < 11 && j >= 3 && j < 10
    })
    expect(inCrop.length).toBeGreaterThan(10)
    expect(inCrop.length).toBeLessThan(ones.length)
    expect(onesOf(r.mask)).toEqual(inCrop)
  })

  it('a scan without a Frame of Reference (NIfTI) is matched on geometry alone', async () => {
    const r = readSegMask(await bytes('seg'), { ...GRID, frameOfReferenceUID: undefined })
    expect(r.frameOfReferenceChecked).toBe(false)
    expect(onesOf(r.mask)).toEqual(ones)
  })

  it('reads only the segments asked for', async () => {
    expect(readSegMask(await bytes('seg'), GRID, { segments: [2] }).voxels).toBe(0)
  })

  const refusals: [string, string, RegExp][] = [
    ['other-for', 'SEG_MISMATCH', /Frame of Reference/],
    ['half-voxel', 'SEG_MISMATCH', /voxel grid/],
    ['other-spacing', 'SEG_MISMATCH', /pixel spacing/],
  ]
  for (const [name, code, message] of refusals) {
    it(`${name}: ${code}, with no UID or position in the message`, async () => {
      const e = await Promise.resolve()
        .then(async () => readSegMask(await bytes(name), GRID))
        .catch((x) => x)
      expect(e).toBeInstanceOf(IoError)
      expect(e).toMatchObject({ code })
      expect(e.message).toMatch(message)
      expect(e.message).not.toMatch(/1\.2\.826|20\.5|14\.25/)
    })
  }

  it('a DICOM image that is not a SEG, and bytes that are not DICOM, are NOT_A_SEGMENTATION', async () => {
    const ct = new Uint8Array(await readFile(path.join(repoRoot, 'fixtures/dicom/CT_small.dcm')))
    expect(() => readSegMask(ct, GRID)).toThrow(expect.objectContaining({ code: 'NOT_A_SEGMENTATION' }))
    expect(() => readSegMask(new TextEncoder().encode('not a dicom file at all'), GRID)).toThrow(expect.objectContaining({ code: 'NOT_A_SEGMENTATION' }))
  })
})

describe.skipIf(!hasPydicom)('a DICOM SEG read back as a mask, against pydicom + numpy', () => {
  for (const name of ['seg', 'cropped']) {
    it(`${name}: the same voxels as pydicom's pixel data placed by its per-frame positions`, async () => {
      const ref = await pydicomOnes(name)
      const ours = readSegMask(await bytes(name), GRID)
      expect(ref.ones.length).toBeGreaterThan(10)
      expect(onesOf(ours.mask)).toEqual(ref.ones)
      if (name === 'seg') expect(ref.offsets).toEqual(Array.from({ length: SIZE[2] }, (_, k) => [0, 0, k]))
      else expect(ref.offsets.map((o) => o[2])).toEqual([5, 4, 3, 1, 0])
    })
  }
})
