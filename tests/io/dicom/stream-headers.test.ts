import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import dicomParser from 'dicom-parser'
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { IoError } from '../../../src/io/errors.js'
import { dicomData, fixtures, hasData, loadOne } from './helpers.js'

// GDCM failures say 'GDCM could not decode': the mismatch message shows our check stopped the
// file first. A pass-through spy on OpenJPEG shows it is never reached.
// pass-through spy: the point of the checks is that a bad stream never reaches a decoder
vi.mock('../../../src/io/dicom/codecs.js', async (orig) => {
  const m = await orig<typeof import('../../../src/io/dicom/codecs.js')>()
  return { ...m, decodeJ2K: vi.fn(m.decodeJ2K) }
})
const { decodeJ2K } = await import('../../../src/io/dicom/codecs.js')

const dir = mkdtempSync(path.join(tmpdir(), 'raddiff-stream-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
beforeEach(() => void vi.mocked(decodeJ2K).mockClear())

const pydicomFiles = path.join(dicomData, 'pydicom/test_files')

/** A copy of `file` whose first pixel fragment has been edited by `edit(bytes, fragmentStart)`. */
function mutant(file: string, name: string, edit: (b: Uint8Array, frag: number, dv: DataView) => void): string {
  const b = new Uint8Array(readFileSync(file))
  const frag = dicomParser.parseDicom(b).elements['x7fe00010'].fragments![0].position
  edit(b, frag, new DataView(b.buffer, b.byteOffset, b.byteLength))
  const p = path.join(dir, name)
  writeFileSync(p, b)
  return p
}

async function decodeError(file: string): Promise<IoError> {
  const e = await loadOne(file).then(
    () => null,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(IoError)
  return e as IoError
}

function expectMismatch(e: IoError, what: RegExp) {
  expect(e.code).toBe('DECODE_FAILED')
  expect(e.message).toMatch(/does not match the image header/)
  expect(e.message).toMatch(what)
}

describe('RLE header is checked before GDCM (fuzz seed 2026 #5456)', () => {
  const rle = path.join(fixtures, 'MR_small_RLE.dcm')

  it('control: the valid fixture loads through GDCM', async () => {
    const v = await loadOne(rle)
    expect(v.size).toEqual([64, 64, 1])
  })
  it.each([
    ['segment count 0x7fffffff', (dv: DataView, f: number) => dv.setUint32(f, 0x7fffffff, true), /segments/],
    ['segment count 15 (16-bit grey needs 2)', (dv: DataView, f: number) => dv.setUint32(f, 15, true), /needs 2/],
    ['first offset not 64', (dv: DataView, f: number) => dv.setUint32(f + 4, 60, true), /offsets/],
    ['offsets decreasing', (dv: DataView, f: number) => dv.setUint32(f + 8, 63, true), /offsets/],
    ['offset past the fragment', (dv: DataView, f: number) => dv.setUint32(f + 8, 0x7ffffff0, true), /past the end/],
  ])('%s → DECODE_FAILED before GDCM', async (name, edit, what) => {
    const p = mutant(rle, `rle-${name.replace(/\W+/g, '-')}.dcm`, (_b, f, dv) => edit(dv, f))
    expectMismatch(await decodeError(p), what)
  })
})

describe('JPEG 2000 SIZ is checked before OpenJPEG (fuzz seed 2026 #9988)', () => {
  const j2k = path.join(fixtures, 'MR_small_jp2klossless.dcm')
  const siz = (b: Uint8Array, from: number) => {
    for (let i = from; ; i++) if (b[i] === 0xff && b[i + 1] === 0x4f && b[i + 2] === 0xff && b[i + 3] === 0x51) return i + 4
  }

  it('control: the valid fixture loads through OpenJPEG', async () => {
    expect((await loadOne(j2k)).size).toEqual([64, 64, 1])
    expect(decodeJ2K).toHaveBeenCalledTimes(1)
  })
  it.each([
    // #9988 turned Xsiz 1760 into 263904: OpenJPEG then allocated > 1 GB
    ['Xsiz 263904', (dv: DataView, s: number) => dv.setUint32(s + 4, 263904), /263904×64/],
    ['Ysiz 65536', (dv: DataView, s: number) => dv.setUint32(s + 8, 65536), /64×65536/],
    ['Csiz 3', (dv: DataView, s: number) => dv.setUint16(s + 36, 3), /length|components/],
    ['precision 32 bits', (dv: DataView, s: number) => dv.setUint8(s + 38, 31), /precision 32/],
    ['tile width 0', (dv: DataView, s: number) => dv.setUint32(s + 20, 0), /tile grid/],
  ])('%s → DECODE_FAILED, decoder never called', async (name, edit, what) => {
    const p = mutant(j2k, `j2k-${name.replace(/\W+/g, '-')}.dcm`, (b, f, dv) => edit(dv, siz(b, f)))
    expectMismatch(await decodeError(p), what)
    expect(decodeJ2K).not.toHaveBeenCalled()
  })
})

describe.skipIf(!hasData)('JPEG extended: SOF checked, GDCM gets a clean copy (fuzz seed 2026 #4647)', () => {
  const extended = path.join(pydicomFiles, 'JPGExtended.dcm')
  const lossy = path.join(pydicomFiles, 'JPEG-lossy.dcm')
  const sof = (b: Uint8Array, from: number) => {
    for (let i = from; ; i++) if (b[i] === 0xff && b[i + 1] === 0xc1) return i + 2
  }

  it('control: JPGExtended.dcm loads (244 at row 420, column 140, as Osirix / pydicom GDCM test)', async () => {
    const v = await loadOne(extended)
    expect(v.data[420 * v.size[0] + 140]).toBe(244)
  })
  it.each([
    ['height 16384', (dv: DataView, s: number) => dv.setUint16(s + 3, 16384), /×16384/],
    ['width 1', (dv: DataView, s: number) => dv.setUint16(s + 5, 1), /is 1×/],
    ['3 components', (dv: DataView, s: number) => dv.setUint8(s + 7, 3), /components/],
    ['precision 32', (dv: DataView, s: number) => dv.setUint8(s + 2, 32), /precision 32/],
  ])('SOF %s → DECODE_FAILED before GDCM', async (name, edit, what) => {
    const p = mutant(extended, `jpg-${name.replace(/\W+/g, '-')}.dcm`, (b, f, dv) => edit(dv, sof(b, f)))
    expectMismatch(await decodeError(p), what)
  })
  it('a data set corrupted outside the pixels (#4647 recipe) decodes as the intact file', async () => {
    // the fuzz recipe: u32le at 225 = 0 and "NaN" written over a tag at 1610; GDCM parsing the
    // original file then aborted after allocating ~600 MB
    const b = new Uint8Array(readFileSync(lossy))
    new DataView(b.buffer).setUint32(225, 0, true)
    b.set(new TextEncoder().encode('NaN'), 1610)
    const p = path.join(dir, 'm4647.dcm')
    writeFileSync(p, b)
    const v = await loadOne(p)
    expect(v.data[230 * v.size[0] + 120]).toBe(95)
    expect(Array.from(v.data)).toEqual(Array.from((await loadOne(lossy)).data))
  })
})
