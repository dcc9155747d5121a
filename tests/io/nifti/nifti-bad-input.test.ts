import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { IoError } from '../../../src/io/errors.js'
import { inspectImageFile, itkFormatOf, readImageFile } from '../../../src/io/image/index.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const valid = gunzipSync(readFileSync(path.join(repoRoot, 'fixtures/nifti/ixi-t1-small.nii.gz')))
const work = mkdtempSync(path.join(tmpdir(), 'raddiff-nifti-bad-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

let n = 0
/** The valid fixture (uncompressed NIfTI-1, little endian) with a header edit. */
function crafted(edit: (dv: DataView, b: Buffer) => void, ext = '.nii', bytes: Buffer = valid): string {
  const b = Buffer.from(bytes)
  edit(new DataView(b.buffer, b.byteOffset, b.byteLength), b)
  const file = path.join(work, `case${n++}${ext}`)
  writeFileSync(file, ext.endsWith('.gz') ? gzipSync(b) : b)
  return file
}

async function expectCode(file: string, code: string, maxMs = 10_000): Promise<IoError> {
  const t = performance.now()
  const err = await readImageFile(file, 'input.nii').then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(performance.now() - t).toBeLessThan(maxMs)
  expect(err).toBeInstanceOf(IoError)
  const e = err as IoError
  expect(e.code).toBe(code)
  expect(e.message).not.toMatch(/at .*\.(js|ts):\d+|Exception|pipeline/)
  return e
}

describe('bad NIfTI headers end in typed errors', () => {
  it('sizeof_hdr wrong → NOT_AN_IMAGE (.nii and .nii.gz)', async () => {
    await expectCode(crafted((dv) => dv.setInt32(0, 350, true)), 'NOT_AN_IMAGE')
    await expectCode(crafted((dv) => dv.setInt32(0, 350, true), '.nii.gz'), 'NOT_AN_IMAGE')
    await expect(inspectImageFile(crafted((dv) => dv.setInt32(0, 1, true), '.nii.gz'), 'x')).rejects.toMatchObject({ code: 'NOT_AN_IMAGE' })
  })

  it('big-endian header is read (sizeof_hdr 348 byte-swapped is valid)', async () => {
    const be = crafted((dv) => {
      // swap every header field we rely on; voxels are uint8 so need no swap
      const i16 = [40, 42, 44, 46, 48, 50, 52, 54, 70, 72, 252, 254]
      for (const o of i16) dv.setInt16(o, dv.getInt16(o, true), false)
      const f32 = [76, 80, 84, 88, 92, 96, 100, 104, 108, 112, 116, 124, 128, 256, 260, 264, 268, 272, 276]
      for (let o = 280; o < 328; o += 4) f32.push(o)
      for (const o of f32) dv.setFloat32(o, dv.getFloat32(o, true), false)
      dv.setInt32(0, 348, false)
    })
    const a = await readImageFile(be, 'be')
    const b = await readImageFile(crafted(() => undefined), 'le')
    expect(a.origin).toEqual(b.origin)
    expect(a.direction).toEqual(b.direction)
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true)
  })

  it('dim[0] = 0 and 8, negative dim → DIMENSIONS_INVALID', async () => {
    await expectCode(crafted((dv) => dv.setInt16(40, 0, true)), 'DIMENSIONS_INVALID')
    await expectCode(crafted((dv) => dv.setInt16(40, 8, true)), 'DIMENSIONS_INVALID')
    await expectCode(crafted((dv) => dv.setInt16(44, -5, true)), 'DIMENSIONS_INVALID')
    await expectCode(crafted((dv) => dv.setInt16(44, 0, true)), 'DIMENSIONS_INVALID')
  })

  it('huge dims in a tiny file → TOO_LARGE (over the cap) or TRUNCATED (under it)', async () => {
    const huge = (dv: DataView) => [42, 44, 46].forEach((o) => dv.setInt16(o, 32767, true))
    await expectCode(crafted(huge), 'TOO_LARGE')
    await expectCode(crafted(huge, '.nii.gz'), 'TOO_LARGE')
    const big = (dv: DataView) => [1000, 1000, 100].forEach((d, i) => dv.setInt16(42 + 2 * i, d, true))
    await expectCode(crafted(big), 'TRUNCATED')
    await expectCode(crafted(big, '.nii.gz'), 'TRUNCATED')
    await expect(readImageFile(crafted(() => undefined), 'x', { ...defaults(), maxVoxels: 1000 })).rejects.toMatchObject({ code: 'TOO_LARGE' })
  })

  it('NaN / infinite scl_slope or scl_inter → NONFINITE_SCALING', async () => {
    await expectCode(crafted((dv) => dv.setFloat32(112, NaN, true)), 'NONFINITE_SCALING')
    await expectCode(crafted((dv) => dv.setFloat32(116, Infinity, true), '.nii.gz'), 'NONFINITE_SCALING')
    await expect(inspectImageFile(crafted((dv) => dv.setFloat32(112, NaN, true)), 'x')).rejects.toMatchObject({ code: 'NONFINITE_SCALING' })
  })

  it('scl_slope 0 means no scaling (stored values as they are)', async () => {
    const v = await readImageFile(crafted((dv) => dv.setFloat32(112, 0, true)), 'x')
    expect(v.data).toBeInstanceOf(Uint8Array)
    expect(v.meta.rescaleSlope).toBe(1)
    expect(v.data[60 * 60 * 22 + 60 * 30 + 30]).toBe(valid[352 + 60 * 60 * 22 + 60 * 30 + 30])
  })

  it('NaN or too-small vox_offset → INVALID_HEADER', async () => {
    await expectCode(crafted((dv) => dv.setFloat32(108, NaN, true)), 'INVALID_HEADER')
    await expectCode(crafted((dv) => dv.setFloat32(108, 100, true)), 'INVALID_HEADER')
  })

  it('unsupported datatype → UNSUPPORTED_PIXEL_FORMAT', async () => {
    await expectCode(crafted((dv) => dv.setInt16(70, 1024, true)), 'UNSUPPORTED_PIXEL_FORMAT')
  })

  it('truncated voxels or gzip stream → TRUNCATED', async () => {
    await expectCode(crafted(() => undefined, '.nii', valid.subarray(0, 352 + 1000)), 'TRUNCATED')
    await expectCode(crafted(() => undefined, '.nii', valid.subarray(0, 200)), 'TRUNCATED')
    await expectCode(crafted(() => undefined, '.nii.gz', valid.subarray(0, valid.length - 1)), 'TRUNCATED')
    const gz = gzipSync(valid)
    const cut = path.join(work, 'cut.nii.gz')
    writeFileSync(cut, gz.subarray(0, gz.length >> 1))
    await expectCode(cut, 'TRUNCATED')
  })

  it('damaged gzip → DECODE_FAILED; random bytes, empty file → NOT_AN_IMAGE; missing → INPUT_NOT_FOUND', async () => {
    const gz = gzipSync(valid)
    gz.fill(0x55, 2000, 2100)
    const bad = path.join(work, 'damaged.nii.gz')
    writeFileSync(bad, gz)
    await expectCode(bad, 'DECODE_FAILED')
    const junk = path.join(work, 'junk.nii')
    writeFileSync(junk, Buffer.alloc(4000, 7))
    await expectCode(junk, 'NOT_AN_IMAGE')
    const empty = path.join(work, 'empty.nii.gz')
    writeFileSync(empty, Buffer.alloc(0))
    await expectCode(empty, 'NOT_AN_IMAGE')
    await expectCode(path.join(work, 'nope.nii'), 'INPUT_NOT_FOUND')
    expect(itkFormatOf(junk)).toBeUndefined()
    expect(itkFormatOf(path.join(repoRoot, 'fixtures/nifti/ixi-t1-small.nii.gz'))).toBe('nifti')
  })

  it('gzip bomb (1 GiB of zeros in ~1 MB) → TOO_LARGE quickly with bounded memory', async () => {
    // Concatenated gzip members inflate back to back (RFC 1952), so 64 copies of one
    // compressed 16 MiB block of zeros make the bomb without compressing 1 GiB in the test.
    const zeros = gzipSync(Buffer.alloc(16 << 20), { level: 9 })
    const head = gzipSync(Buffer.concat([valid.subarray(0, 352), Buffer.alloc(16 << 20)]), { level: 9 })
    const bomb = path.join(work, 'bomb.nii.gz')
    writeFileSync(bomb, Buffer.concat([head, ...Array.from({ length: 63 }, () => zeros)]))
    expect(readFileSync(bomb).length).toBeLessThan(1.2e6)
    const before = process.memoryUsage().rss
    await expectCode(bomb, 'TOO_LARGE')
    expect(process.memoryUsage().rss - before).toBeLessThan(256 << 20)
    // a header declaring 128 MiB of voxels (under the voxel cap) meets the inflate cap first
    const claims = crafted((dv) => [512, 512, 512].forEach((d, i) => dv.setInt16(42 + 2 * i, d, true)), '.nii.gz')
    await expect(readImageFile(claims, 'x', { ...defaults(), maxInflatedBytes: 8 << 20 })).rejects.toMatchObject({ code: 'TOO_LARGE' })
  })
})

describe('itk-wasm failures are typed and silent', () => {
  it('a broken NRRD → typed error, no console output, no library text', async () => {
    const file = path.join(work, 'broken.nrrd')
    writeFileSync(file, 'NRRD0004\ntype: float\ndimension: 3\nsizes: 4 4\nencoding: raw\n\n')
    const spies = (['log', 'error', 'warn'] as const).map((m) => vi.spyOn(console, m))
    const e = await expectCode(file, 'INVALID_HEADER')
    expect(e.source).toBe('input.nii')
    for (const s of spies) {
      expect(s).not.toHaveBeenCalled()
      s.mockRestore()
    }
  })
})

function defaults() {
  return { maxVoxels: 512 << 20, maxArchiveBytes: 8 << 30, maxArchiveEntries: 1e5, maxInflatedBytes: 4 * 1024 ** 3, maxFiles: 1e5 }
}

describe('.hdr/.img pairs with a half missing', () => {
  /** The fixture as an Analyze-style pair (magic ni1, voxels at offset 0 of the .img). */
  function pair(stem: string, withImg: boolean, withHdr = true): { hdr: string; img: string } {
    const h = Buffer.from(valid.subarray(0, 348))
    h.write('ni1\0', 344, 'latin1')
    new DataView(h.buffer, h.byteOffset).setFloat32(108, 0, true)
    const hdr = path.join(work, `${stem}.hdr`)
    const img = path.join(work, `${stem}.img`)
    if (withHdr) writeFileSync(hdr, h)
    if (withImg) writeFileSync(img, valid.subarray(new DataView(valid.buffer, valid.byteOffset).getFloat32(108, true)))
    return { hdr, img }
  }

  it('the complete pair inspects and loads (control)', async () => {
    const { hdr } = pair('whole', true)
    await expect(inspectImageFile(hdr, 'whole.hdr')).resolves.toMatchObject({ files: 2 })
    await expect(readImageFile(hdr, 'whole.hdr')).resolves.toBeDefined()
  })

  it('a missing .img is INPUT_NOT_FOUND at inspect time, naming only the .img basename', async () => {
    const { hdr } = pair('secret-folder-less', false)
    const e = await inspectImageFile(hdr, 'pair.hdr').then(() => undefined, (x: unknown) => x as IoError)
    expect(e).toBeInstanceOf(IoError)
    expect(e!.code).toBe('INPUT_NOT_FOUND')
    expect(e!.message).toContain('secret-folder-less.img')
    expect(e!.message).not.toContain(work)
    await expect(readImageFile(hdr, 'pair.hdr')).rejects.toMatchObject({ code: 'INPUT_NOT_FOUND' })
  })

  it('a missing .hdr (the .img named) is INPUT_NOT_FOUND too', async () => {
    const { img } = pair('no-header', true, false)
    await expect(inspectImageFile(img, 'no-header.img')).rejects.toMatchObject({ code: 'INPUT_NOT_FOUND' })
  })
})
