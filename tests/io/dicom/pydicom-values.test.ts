import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Volume } from '../../../src/volume/volume.js'
import { dicomData, fixtures, hasData, loadOne, refs } from './helpers.js'

interface FrameStats {
  min: number
  max: number
  sum: number
  samples: [number, number][]
}
interface PydicomRef {
  transferSyntax: string
  photometric: string
  frames?: FrameStats[]
  pydicomError?: string
  /** Uncompressed original of a lossless file, decoded by pydicom. */
  twin?: string
  twinFrames?: FrameStats[]
  /** Mean / RMS per frame of the uncompressed original of a lossy file, from pydicom. */
  lossyTwinMoments?: { mean: number; rms: number }[]
}
const REF: Record<string, PydicomRef> = JSON.parse(readFileSync(refs('dicom-pydicom.json'), 'utf8'))

function sliceStats(v: Volume, k: number, samples: [number, number][]): FrameStats {
  const n = v.size[0] * v.size[1] * v.components
  const a = v.data.subarray(k * n, (k + 1) * n)
  let min = Infinity
  let max = -Infinity
  let sum = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    if (x < min) min = x
    if (x > max) max = x
    sum += x
  }
  return { min, max, sum, samples: samples.map(([i]) => [i, a[i]]) }
}

/** Frames may be re-ordered along the slice normal: match them to pydicom's as a multiset. */
function expectFramesMatch(v: Volume, frames: FrameStats[]): void {
  expect(v.size[2]).toBe(frames.length)
  const ours = Array.from({ length: v.size[2] }, (_, k) => JSON.stringify(sliceStats(v, k, frames[0].samples)))
  const theirs = frames.map((f) => JSON.stringify(f))
  expect(ours.sort()).toEqual(theirs.sort())
}

const decodable = Object.entries(REF).filter(([, r]) => r.frames)
const undecodableByPydicom = Object.entries(REF).filter(([, r]) => !r.frames)

/**
 * Known gap: GDCM (itk-wasm) returns RGB RLE with 16/32-bit samples scrambled (checked against
 * pydicom), so the loader refuses these with a typed error instead of returning wrong pixels.
 */
const REFUSED = new Set([
  'pydicom/test_files/SC_rgb_rle_16bit_2frame.dcm',
  'pydicom/test_files/SC_rgb_rle_32bit.dcm',
  // palette + RLE: GDCM applies the palette itself, 16-bit entries cut to 8 bits (known gap)
  'pydicom-data/data_store/data/OBXXXX1A_rle_2frame.dcm',
  'octave-dicom/US-PAL-8-10x-echo.dcm',
  // segmented palettes are not expanded (known gap)
  'pydicom-data/data_store/data/gdcm-US-ALOKA-16.dcm',
  'pydicom-data/data_store/data/gdcm-US-ALOKA-16_big.dcm',
])

describe.skipIf(!hasData)('stored values vs pydicom, one file per transfer syntax', () => {
  it.each([...REFUSED].filter((r) => REF[r]))('%s is refused (known gap)', async (rel) => {
    await expect(loadOne(path.join(dicomData, rel))).rejects.toMatchObject({ code: 'UNSUPPORTED_PIXEL_FORMAT' })
  })

  it.each(decodable.filter(([rel]) => !REFUSED.has(rel)))('%s', async (rel, ref) => {
    const v = await loadOne(path.join(dicomData, rel))
    expectFramesMatch(v, ref.frames!)
  })

  // pydicom has no handler here for these: lossless ones are compared with pydicom's decode of their uncompressed twin
  it.each(undecodableByPydicom.filter(([, r]) => r.twinFrames))('%s vs its uncompressed twin (pydicom)', async (rel, ref) => {
    const v = await loadOne(path.join(dicomData, rel))
    expectFramesMatch(v, ref.twinFrames!)
  })
  /**
   * Lossy 12-bit JPEG (GDCM path) vs its uncompressed original: the spread (SD) matches within 2 %.
   * Open question (see report): our values sit ~1023 above the original's, and no second
   * 12-bit decoder is available here to tell whether dcmtk shifted the samples or GDCM did.
   */
  it.each(undecodableByPydicom.filter(([, r]) => r.lossyTwinMoments))('%s (lossy) matches its original in spread', async (rel, ref) => {
    const v = await loadOne(path.join(dicomData, rel))
    const n = v.size[0] * v.size[1]
    ref.lossyTwinMoments!.forEach(({ mean, rms }, k) => {
      const a = v.data.subarray(k * n, (k + 1) * n)
      let s = 0
      let s2 = 0
      for (let i = 0; i < n; i++) {
        s += a[i]
        s2 += a[i] * a[i]
      }
      const sd = Math.sqrt(s2 / n - (s / n) ** 2)
      const refSd = Math.sqrt(rms * rms - mean * mean)
      expect(Math.abs(sd - refSd) / refSd).toBeLessThan(0.02)
    })
  })
  it.each(undecodableByPydicom.filter(([, r]) => !r.twinFrames && !r.lossyTwinMoments))('%s decodes (no reference: pydicom could not)', async (rel) => {
    const v = await loadOne(path.join(dicomData, rel))
    expect(v.data.length).toBe(v.size[0] * v.size[1] * v.size[2] * v.components)
  })
})

describe('bundled fixtures vs pydicom (no shared data needed)', () => {
  const cases: [string, string][] = [
    ['CT_small.dcm', 'pydicom/test_files/CT_small.dcm'],
    ['image_dfl.dcm', 'pydicom/test_files/image_dfl.dcm'],
    ['MR_small_RLE.dcm', 'pydicom/test_files/MR_small_RLE.dcm'],
    ['MR_small_jp2klossless.dcm', 'pydicom/test_files/MR_small_jp2klossless.dcm'],
    // CT_small re-encoded as RLE by pydicom: GDCM applies the top-level rescale, which must be undone
    ['CT_small_rle.dcm', 'pydicom/test_files/CT_small.dcm'],
  ]
  it.each(cases)('%s', async (file, key) => {
    const v = await loadOne(path.join(fixtures, file))
    expectFramesMatch(v, REF[key].frames!)
  })

  it('CT rescale and geometry come from the header', async () => {
    const v = await loadOne(path.join(fixtures, 'CT_small.dcm'))
    expect(v.modality).toBe('CT')
    expect(v.meta.units).toBe('HU')
    expect(v.meta.rescaleSlope).toBe(1)
    expect(v.meta.rescaleIntercept).toBe(-1024)
    expect(v.data).toBeInstanceOf(Int16Array)
    expect(v.origin).toEqual([-158.135803, -179.035797, -75.699997])
    expect(v.spacing[0]).toBeCloseTo(0.661468, 6)
    expect(JSON.stringify(v.meta)).not.toContain('CompressedSamples')
  })
})
