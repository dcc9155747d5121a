import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { constants as zlibConstants, deflateRawSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { isDicomBytes, loadDicomSeries, scanDicom } from '../../../src/io/dicom/index.js'
import { IoError } from '../../../src/io/errors.js'
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
    expect(e).toBeInstanceOf(IoError)
    // patient names / IDs of the pydicom samples and of our crafted header (from pydicom's dump)
    for (const secret of ['CompressedSamples', 'Lastname', 'id11111', '4MR1', 'Secret']) expect(e.message).not.toContain(secret)
    expect(e.message).not.toMatch(/\n\s+at /)
    return e.code
  }
  try {
    for (const s of series) await loadDicomSeries(s, limits)
    return 'LOADED'
  } catch (e) {
    expect(e).toBeInstanceOf(IoError)
    return (e as IoError).code
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
    expect(performance.now() - t).toBeLessThan(10_000) // a hang guard, not a speed target
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

const DEFLATED = '1.2.840.10008.1.2.1.99'

/** A Part 10 file whose data set (everything after group 0002) is raw-deflated. */
function deflatedFile(elements: Element[], after: Uint8Array = new Uint8Array(0)): Uint8Array {
  const meta = elements.filter((e) => e[0] === 0x0002)
  const body = craftDicom(elements.filter((e) => e[0] !== 0x0002)).subarray(132)
  return Buffer.concat([craftDicom(meta), deflateRawSync(Buffer.concat([body, after]))])
}

/** Raw deflate of `mib` MiB of zeros in ~1 KB per MiB, without ever holding the zeros. */
function zerosBomb(mib: number): Buffer {
  const seg = deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: zlibConstants.Z_SYNC_FLUSH })
  return Buffer.concat([...Array<Buffer>(mib).fill(seg), deflateRawSync(Buffer.alloc(0))])
}

describe('deflate bomb', () => {
  it('a deflated data set expanding past maxInflatedBytes is TOO_LARGE', async () => {
    const head = craftDicom([[0x0002, 0x0010, 'UI', DEFLATED]])
    const body = deflateRawSync(new Uint8Array(8 * 1024 * 1024))
    const p = write('bomb.dcm', Buffer.concat([head, body]))
    expect(await outcome(p, { ...defaultLimits(), maxInflatedBytes: 1024 * 1024 })).toBe('TOO_LARGE')
  })
  it('1 GiB of deflated zeros (default limits) is TOO_LARGE quickly with < 300 MB memory growth', async () => {
    const p = write('bomb-1g.dcm', Buffer.concat([craftDicom([[0x0002, 0x0010, 'UI', DEFLATED]]), zerosBomb(1024)]))
    const rss0 = process.memoryUsage().rss
    let peak = rss0
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5)
    const t = performance.now()
    try {
      expect(await outcome(p)).toBe('TOO_LARGE')
    } finally {
      clearInterval(timer)
    }
    peak = Math.max(peak, process.memoryUsage().rss)
    expect(performance.now() - t).toBeLessThan(10_000) // a hang guard, not a speed target
    expect((peak - rss0) / 2 ** 20).toBeLessThan(300)
  })
  it('megabytes past what the pixel data need are TOO_LARGE, even under maxInflatedBytes', async () => {
    const p = write('pix-then-zeros.dcm', deflatedFile(imageElements([], DEFLATED), new Uint8Array(8 * 1024 * 1024)))
    expect(await outcome(p)).toBe('TOO_LARGE')
  })
  it('a deflated image with a 300 KB header (pixel data found after several probes) loads with its values', async () => {
    const pixels = new Uint8Array(32).map((_, i) => (i % 2 ? 0 : i * 3))
    const els = imageElements([[0x0009, 0x1010, 'OB', new Uint8Array(300_000).fill(7)], [0x7fe0, 0x0010, 'OW', pixels]], DEFLATED)
    const p = write('dfl-big-header.dcm', deflatedFile(els))
    const { series, rejected } = await scanDicom(refsOf([p]))
    expect(rejected).toEqual([])
    const v = await loadDicomSeries(series[0])
    expect(Array.from(v.data)).toEqual(Array.from({ length: 16 }, (_, i) => i * 6))
  })
  it('a deflated stream cut short is TRUNCATED', async () => {
    const whole = deflatedFile(imageElements([], DEFLATED))
    expect(await outcome(write('dfl-cut.dcm', whole.subarray(0, whole.length - 20)))).toBe('TRUNCATED')
  })
})

/** A Part 10 file in implicit VR little endian: meta group explicit, data set [tag, length, value]. */
function implicitDicom(elements: Element[], pixelLength?: number): Uint8Array {
  const meta = craftDicom([[0x0002, 0x0010, 'UI', '1.2.840.10008.1.2']])
  const body = craftDicom(elements.filter((e) => e[0] !== 0x0002)).subarray(132)
  // re-encode each explicit element as implicit: tag, 4-byte length, value
  const parts: Uint8Array[] = [meta]
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength)
  for (let o = 0; o < body.length; ) {
    const vr = String.fromCharCode(body[o + 4], body[o + 5])
    const long = ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr)
    const len = long ? dv.getUint32(o + 8, true) : dv.getUint16(o + 6, true)
    const start = o + (long ? 12 : 8)
    const head = new Uint8Array(8)
    head.set(body.subarray(o, o + 4))
    const isPixels = dv.getUint16(o, true) === 0x7fe0
    new DataView(head.buffer).setUint32(4, isPixels && pixelLength !== undefined ? pixelLength : len, true)
    parts.push(head, body.subarray(start, start + len))
    o = start + len
  }
  return Buffer.concat(parts)
}

describe('element lengths past the end, implicit and explicit VR alike', () => {
  it('implicit VR control loads', async () => {
    expect(await outcome(write('impl-ok.dcm', implicitDicom(imageElements())))).toBe('LOADED')
  })
  it('implicit VR Pixel Data length 0x7FFFFFFF (all pixels present) is TRUNCATED', async () => {
    expect(await outcome(write('impl-huge.dcm', implicitDicom(imageElements(), 0x7fffffff)))).toBe('TRUNCATED')
  })
  it('explicit VR Pixel Data length 0x7FFFFFFF (all pixels present) is TRUNCATED', async () => {
    expect(await outcome(write('expl-huge.dcm', craftDicom(imageElements(), { pixelLength: 0x7fffffff })))).toBe('TRUNCATED')
  })
})

describe('unusable geometry values are ignored with a warning, or refused', () => {
  async function warningsOf(over: Element[]): Promise<{ spacing: number[]; origin: number[]; direction: number[]; warnings: string[] }> {
    const { series, rejected } = await scanDicom(refsOf([write(`geo${Math.random()}.dcm`, craftDicom(imageElements(over)))]))
    expect(rejected).toEqual([])
    const v = await loadDicomSeries(series[0])
    return { spacing: v.spacing, origin: v.origin, direction: v.direction, warnings: series[0].warnings }
  }
  const IPP: Element = [0x0020, 0x0032, 'DS', '10\\20\\30']
  const IOP: Element = [0x0020, 0x0037, 'DS', '1\\0\\0\\0\\1\\0']

  it('PixelSpacing 1e400 (Infinity) → 1 mm with a warning, never an infinite spacing', async () => {
    const r = await warningsOf([IPP, IOP, [0x0028, 0x0030, 'DS', '1e400\\1e400']])
    expect(r.spacing.slice(0, 2)).toEqual([1, 1])
    expect(r.spacing.every(Number.isFinite)).toBe(true)
    expect(r.warnings.join('\n')).toContain('PixelSpacing is not two finite positive numbers')
  })
  it('PixelSpacing 0 and negative → 1 mm with the same warning', async () => {
    for (const v of ['0\\0', '-1e308\\-1e308', '0.5\\abc']) {
      const r = await warningsOf([IPP, IOP, [0x0028, 0x0030, 'DS', v]])
      expect(r.spacing.slice(0, 2)).toEqual([1, 1])
      expect(r.warnings.join('\n')).toContain('PixelSpacing is not two finite positive numbers')
    }
  })
  it('a valid PixelSpacing is used with no warning (control)', async () => {
    const r = await warningsOf([IPP, IOP, [0x0028, 0x0030, 'DS', '0.5\\0.75']])
    expect(r.spacing.slice(0, 2)).toEqual([0.75, 0.5])
    expect(r.origin).toEqual([10, 20, 30])
    expect(r.warnings).toEqual([])
  })
  it('non-finite ImagePositionPatient → origin 0,0,0 with a warning', async () => {
    const r = await warningsOf([[0x0020, 0x0032, 'DS', 'NaN\\NaN\\NaN'], IOP, [0x0028, 0x0030, 'DS', '1\\1']])
    expect(r.origin).toEqual([0, 0, 0])
    expect(r.warnings.join('\n')).toContain('ImagePositionPatient is not three finite numbers')
  })
  it('all-zero or non-numeric ImageOrientationPatient → identity with a warning', async () => {
    for (const v of ['0\\0\\0\\0\\0\\0', 'a\\b\\c']) {
      const r = await warningsOf([IPP, [0x0020, 0x0037, 'DS', v], [0x0028, 0x0030, 'DS', '1\\1']])
      expect(r.direction).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1])
      expect(r.warnings.join('\n')).toContain('ImageOrientationPatient is not two finite unit vectors')
    }
  })
  it('two slices at z = ±1e308 are INCONSISTENT_SERIES, and another series in the same scan still loads', async () => {
    const slice = (uid: string, z: string, n: number) =>
      write(`far-${uid}-${n}.dcm`, craftDicom(imageElements([[0x0020, 0x000e, 'UI', uid], [0x0020, 0x0032, 'DS', `0\\0\\${z}`], IOP, [0x0020, 0x0013, 'IS', String(n)]])))
    const files = [slice('1.2.3.9', '-1e308', 1), slice('1.2.3.9', '1e308', 2), slice('1.2.3.8', '0', 1), slice('1.2.3.8', '2', 2)]
    const { series, rejected } = await scanDicom(refsOf(files))
    expect(rejected.map((r) => r.error.code)).toEqual(['INCONSISTENT_SERIES', 'INCONSISTENT_SERIES'])
    expect(series).toHaveLength(1)
    expect(series[0].spacing[2]).toBe(2)
  })
})
