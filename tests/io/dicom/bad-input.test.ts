import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { isDicomBytes, loadDicomSeries, scanDicom } from '../../../src/io/dicom/index.js'
import { RaddiffError } from '../../../src/io/errors.js'
import { defaultLimits } from '../../../src/io/limits.js'
import { craftDicom, imageElements, type Element } from './craft.js'
import { dicomData, fixtures, hasData, refsOf } from './helpers.js'

const dir = mkdtempSync(path.join(tmpdir(), 'raddiff-bad-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function write(name: string, bytes: Uint8Array): string {
  const p = path.join(dir, name)
  writeFileSync(p, bytes)
  return p
}

/** Scan one file; return the code it was rejected with, or 'LOADED' after a full load. */
async function outcome(file: string, limits = defaultLimits()): Promise<string> {
  const { series, rejected } = await scanDicom(refsOf([file]), limits)
  if (rejected.length) {
    const e = rejected[0].error
    expect(e).toBeInstanceOf(RaddiffError)
    // patient names / IDs of the pydicom samples and of our crafted header (from pydicom's dump)
    for (const secret of ['CompressedSamples', 'Lastname', 'id11111', '4MR1', 'Secret']) expect(e.message).not.toContain(secret)
    expect(e.message).not.toMatch(/\n\s+at /)
    return e.code
  }
  try {
    for (const s of series) await loadDicomSeries(s, limits)
    return 'LOADED'
  } catch (e) {
    expect(e).toBeInstanceOf(RaddiffError)
    return (e as RaddiffError).code
  }
}

describe('broken files end in typed errors', () => {
  it('truncated MR (pydicom MR_truncated.dcm)', async () => {
    expect(['TRUNCATED', 'PIXEL_DATA_SHORT']).toContain(await outcome(path.join(fixtures, 'MR_truncated.dcm')))
  })
  it('structure set without pixels', async () => {
    expect(await outcome(path.join(fixtures, 'rtstruct.dcm'))).toBe('NO_IMAGE_DATA')
  })
  it('bad VR loads or ends typed', async () => {
    expect(['LOADED', 'INVALID_HEADER', 'ELEMENT_OUT_OF_BOUNDS']).toContain(await outcome(path.join(fixtures, 'badVR.dcm')))
  })
  it('random bytes are not DICOM', async () => {
    const p = write('noise.bin', new Uint8Array(4096).map((_, i) => (i * 7919) % 251))
    expect(isDicomBytes(new Uint8Array(4096).map((_, i) => (i * 7919) % 251))).toBe(false)
    expect(await outcome(p)).toBe('NOT_AN_IMAGE')
  })
  it('a crafted 65535×65535×10000 header in a few bytes fails fast without allocating', async () => {
    const p = write('huge.dcm', craftDicom(imageElements([
      [0x0028, 0x0010, 'US', 65535],
      [0x0028, 0x0011, 'US', 65535],
      [0x0028, 0x0008, 'IS', '10000'],
    ])))
    const t = performance.now()
    expect(await outcome(p)).toBe('TOO_LARGE')
    expect(await outcome(p, { ...defaultLimits(), maxVoxels: Number.MAX_SAFE_INTEGER })).toBe('PIXEL_DATA_SHORT')
    expect(performance.now() - t).toBeLessThan(1000)
  })
  it('pixel data element longer than the file', async () => {
    const bytes = craftDicom(imageElements(), { pixelLength: 0x7ffffff0 })
    expect(['TRUNCATED', 'PIXEL_DATA_SHORT']).toContain(await outcome(write('longpix.dcm', bytes)))
  })
  const cases: [string, Element[], string, string?][] = [
    ['Rows 0', [[0x0028, 0x0010, 'US', 0]], 'DIMENSIONS_INVALID'],
    ['BitsStored > BitsAllocated', [[0x0028, 0x0101, 'US', 17]], 'INVALID_HEADER'],
    ['non-finite slope', [[0x0028, 0x1053, 'DS', 'NaN']], 'NONFINITE_SCALING'],
    ['JPEG XL syntax', [], 'UNSUPPORTED_TRANSFER_SYNTAX', '1.2.840.10008.1.2.4.110'],
    ['short native pixel data', [[0x7fe0, 0x0010, 'OW', new Uint8Array(8)]], 'PIXEL_DATA_SHORT'],
  ]
  it.each(cases)('%s', async (name, over, code, ts) => {
    const p = write(`${name.replace(/\W/g, '_')}.dcm`, craftDicom(imageElements(over, ts)))
    expect(await outcome(p)).toBe(code)
  })
  it('unsupported syntax is named in the message', async () => {
    const p = write('jxl.dcm', craftDicom(imageElements([], '1.2.840.10008.1.2.4.110')))
    const { rejected } = await scanDicom(refsOf([p]))
    expect(rejected[0].error.message).toContain('JPEG XL Lossless (1.2.840.10008.1.2.4.110)')
  })
  it('a valid crafted image loads (builder sanity)', async () => {
    expect(await outcome(write('ok.dcm', craftDicom(imageElements())))).toBe('LOADED')
  })
})

describe.skipIf(!hasData)("pydicom's broken samples", () => {
  const t = path.join(dicomData, 'pydicom/test_files')
  it.each([
    ['MR_truncated.dcm', ['TRUNCATED', 'PIXEL_DATA_SHORT']],
    ['rtplan_truncated.dcm', ['TRUNCATED', 'ELEMENT_OUT_OF_BOUNDS', 'INVALID_HEADER', 'NO_IMAGE_DATA']],
    ['no_meta.dcm', ['NOT_AN_IMAGE', 'NO_IMAGE_DATA', 'LOADED']],
    ['meta_missing_tsyntax.dcm', ['INVALID_HEADER', 'LOADED']],
    ['badVR.dcm', ['LOADED', 'INVALID_HEADER', 'ELEMENT_OUT_OF_BOUNDS']],
    ['nested_priv_SQ.dcm', ['ELEMENT_OUT_OF_BOUNDS', 'NO_IMAGE_DATA', 'TRUNCATED']],
    ['ExplVR_BigEndNoMeta.dcm', ['NO_IMAGE_DATA']],
  ])('%s', async (name, codes) => {
    expect(codes).toContain(await outcome(path.join(t, name)))
  })
})

describe('deflate bomb', () => {
  it('a deflated data set expanding past maxInflatedBytes is TOO_LARGE', async () => {
    const { deflateRawSync } = await import('node:zlib')
    const head = craftDicom([[0x0002, 0x0010, 'UI', '1.2.840.10008.1.2.1.99']])
    const body = deflateRawSync(new Uint8Array(8 * 1024 * 1024))
    const p = write('bomb.dcm', Buffer.concat([head, body]))
    expect(await outcome(p, { ...defaultLimits(), maxInflatedBytes: 1024 * 1024 })).toBe('TOO_LARGE')
  })
})
