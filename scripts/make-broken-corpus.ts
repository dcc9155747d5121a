/**
 * Deterministic corpus of deliberately broken DICOM, NIfTI, gzip and zip files, built byte by
 * byte from small valid seeds made here (real libraries refuse to write broken files).
 *
 *   npx tsx scripts/make-broken-corpus.ts OUT_DIR          writes every case plus manifest.json
 *   npx tsx scripts/make-broken-corpus.ts OUT_DIR --run    also loads each one; prints a markdown table
 *
 * Cases cut from real compressed files (JPEG family, JPEG 2000, HTJ2K, RLE) are added when
 * ../shared/data is present beside the repository.
 *
 * Each case names the outcome it must end in: an IoError (optionally one of `codes`), or,
 * where the file is odd but legal (`mayLoad`), a loaded volume.
 */
import { createWriteStream, existsSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { once } from 'node:events'
import { pathToFileURL } from 'node:url'
import zlib from 'node:zlib'
import yazl from 'yazl'
import type { ErrorCode } from '../src/io/errors.js'
import type { Limits } from '../src/io/limits.js'

export interface BrokenCase {
  name: string
  /** File name inside the case folder; its extension picks the loader. */
  file: string
  /** Acceptable IoError codes; empty = any code. */
  codes: ErrorCode[]
  /** Odd but legal: loading is an acceptable outcome too. */
  mayLoad?: boolean
  /** A valid control: it must load. */
  valid?: boolean
  /**
   * A loader bug this case exposes today (tests run it as an expected failure, so the fix turns
   * the test red until this note is removed).
   */
  knownIssue?: string
  /** Limits to load it with (archive smoke cases shrink caps instead of writing gigabytes). */
  limits?: Partial<Limits>
  /** Writes the case under `dir` and returns the paths to hand to openInputs. */
  write(dir: string): Promise<string[]>
}

// ---------------------------------------------------------------- explicit VR little endian writer

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UR', 'UT', 'UN'])
const UNDEFINED = 0xffffffff

export interface El {
  tag: number // (group << 16) | element
  vr: string
  value: Uint8Array
  /** Length field to write instead of value.length (lies are the point). */
  len?: number
}

function u16(n: number): Uint8Array {
  const b = new Uint8Array(2)
  new DataView(b.buffer).setUint16(0, n, true)
  return b
}
function u32(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n >>> 0, true)
  return b
}
function ascii(s: string): Uint8Array {
  const padded = s.length % 2 ? `${s} ` : s
  return Uint8Array.from(padded, (c) => c.charCodeAt(0))
}
function uid(s: string): Uint8Array {
  const b = Uint8Array.from(s, (c) => c.charCodeAt(0))
  return s.length % 2 ? concat([b, new Uint8Array(1)]) : b
}
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** One element; a short-VR element given a length above 0xFFFF keeps only the low 16 bits. */
export function encodeEl(e: El): Uint8Array {
  const len = e.len ?? e.value.length
  const head = concat([u16(e.tag >>> 16), u16(e.tag & 0xffff), ascii(e.vr).subarray(0, 2)])
  const lenBytes = LONG_VRS.has(e.vr) ? concat([new Uint8Array(2), u32(len)]) : u16(len & 0xffff)
  return concat([head, lenBytes, e.value])
}

/** Item, item delimiter and sequence delimiter: tag + 4-byte length, no VR. */
export function item(len: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concat([u16(0xfffe), u16(0xe000), u32(len), body])
}
const ITEM_END = concat([u16(0xfffe), u16(0xe00d), u32(0)])
const SEQ_END = concat([u16(0xfffe), u16(0xe0dd), u32(0)])

export const TS = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  deflated: '1.2.840.10008.1.2.1.99',
  rle: '1.2.840.10008.1.2.5',
}

const MR_STORAGE = '1.2.840.10008.5.1.4.1.1.4'
const ROOT = '1.2.826.0.1.3680043.9.7433.1'

function metaHeader(ts: string): Uint8Array {
  const body = concat([
    encodeEl({ tag: 0x00020001, vr: 'OB', value: Uint8Array.of(0, 1) }),
    encodeEl({ tag: 0x00020002, vr: 'UI', value: uid(MR_STORAGE) }),
    encodeEl({ tag: 0x00020003, vr: 'UI', value: uid(`${ROOT}.3.1`) }),
    encodeEl({ tag: 0x00020010, vr: 'UI', value: uid(ts) }),
  ])
  return concat([new Uint8Array(128), ascii('DICM'), encodeEl({ tag: 0x00020000, vr: 'UL', value: u32(body.length) }), body])
}

export interface ImageOpts {
  rows?: number
  cols?: number
  frames?: number
  bitsAllocated?: number
  bitsStored?: number
  /** Replace or drop (value null) elements of the default data set, keyed by tag. */
  override?: Map<number, El | null>
  /** Extra elements, sorted in by tag. */
  extra?: El[]
  /** Raw bytes placed just before Pixel Data (sequences whose tags would sort elsewhere). */
  beforePixels?: Uint8Array
  pixelData?: El | null
  ts?: string
}

/** Pixel values of the 16-bit seed: a ramp, so a decoded image is recognisable. */
export function rampPixels(rows: number, cols: number, frames = 1): Uint8Array {
  const px = new Uint16Array(rows * cols * frames)
  for (let i = 0; i < px.length; i++) px[i] = i % 4096
  return new Uint8Array(px.buffer)
}

/** The data set (after the meta header) of a tiny MR slice; every case starts from it. */
export function imageDataSet(o: ImageOpts = {}): Uint8Array {
  const rows = o.rows ?? 16
  const cols = o.cols ?? 16
  const els: El[] = [
    { tag: 0x00080016, vr: 'UI', value: uid(MR_STORAGE) },
    { tag: 0x00080018, vr: 'UI', value: uid(`${ROOT}.3.1`) },
    { tag: 0x00080060, vr: 'CS', value: ascii('MR') },
    { tag: 0x00100010, vr: 'PN', value: ascii('CANARY^PATIENT') },
    { tag: 0x00100020, vr: 'LO', value: ascii('CANARY-ID-0001') },
    { tag: 0x00180050, vr: 'DS', value: ascii('2') },
    { tag: 0x0020000d, vr: 'UI', value: uid(`${ROOT}.1`) },
    { tag: 0x0020000e, vr: 'UI', value: uid(`${ROOT}.2`) },
    { tag: 0x00200013, vr: 'IS', value: ascii('1') },
    { tag: 0x00200032, vr: 'DS', value: ascii('-10\\-20\\30') },
    { tag: 0x00200037, vr: 'DS', value: ascii('1\\0\\0\\0\\1\\0') },
    { tag: 0x00280002, vr: 'US', value: u16(1) },
    { tag: 0x00280004, vr: 'CS', value: ascii('MONOCHROME2') },
    { tag: 0x00280010, vr: 'US', value: u16(rows) },
    { tag: 0x00280011, vr: 'US', value: u16(cols) },
    { tag: 0x00280030, vr: 'DS', value: ascii('0.5\\0.5') },
    { tag: 0x00280100, vr: 'US', value: u16(o.bitsAllocated ?? 16) },
    { tag: 0x00280101, vr: 'US', value: u16(o.bitsStored ?? 12) },
    { tag: 0x00280102, vr: 'US', value: u16((o.bitsStored ?? 12) - 1) },
    { tag: 0x00280103, vr: 'US', value: u16(0) },
  ]
  if (o.frames !== undefined) els.push({ tag: 0x00280008, vr: 'IS', value: ascii(String(o.frames)) })
  els.push(...(o.extra ?? []))
  const kept: El[] = []
  for (const e of els) {
    const over = o.override?.get(e.tag)
    if (over === null) continue
    kept.push(over ?? e)
  }
  kept.sort((a, b) => (a.tag >>> 0) - (b.tag >>> 0))
  const pixels = o.pixelData === undefined ? { tag: 0x7fe00010, vr: 'OW', value: rampPixels(rows, cols) } : o.pixelData
  return concat([...kept.map(encodeEl), o.beforePixels ?? new Uint8Array(0), pixels ? encodeEl(pixels) : new Uint8Array(0)])
}

/** Re-encodes an explicit-LE data set as implicit VR (tag + 4-byte length), keeping length lies. */
function toImplicit(els: El[]): Uint8Array {
  return concat(els.map((e) => concat([u16(e.tag >>> 16), u16(e.tag & 0xffff), u32(e.len ?? e.value.length), e.value])))
}

/** Implicit VR little endian file: the same image, elements given explicitly. */
export function implicitFile(override: Map<number, El> = new Map()): Uint8Array {
  const els: El[] = [
    { tag: 0x00080016, vr: 'UI', value: uid(MR_STORAGE) },
    { tag: 0x00080018, vr: 'UI', value: uid(`${ROOT}.3.1`) },
    { tag: 0x00080060, vr: 'CS', value: ascii('MR') },
    { tag: 0x00100010, vr: 'PN', value: ascii('CANARY^PATIENT') },
    { tag: 0x0020000d, vr: 'UI', value: uid(`${ROOT}.1`) },
    { tag: 0x0020000e, vr: 'UI', value: uid(`${ROOT}.2`) },
    { tag: 0x00280002, vr: 'US', value: u16(1) },
    { tag: 0x00280004, vr: 'CS', value: ascii('MONOCHROME2') },
    { tag: 0x00280010, vr: 'US', value: u16(16) },
    { tag: 0x00280011, vr: 'US', value: u16(16) },
    { tag: 0x00280100, vr: 'US', value: u16(16) },
    { tag: 0x00280101, vr: 'US', value: u16(12) },
    { tag: 0x00280102, vr: 'US', value: u16(11) },
    { tag: 0x00280103, vr: 'US', value: u16(0) },
    { tag: 0x7fe00010, vr: 'OW', value: rampPixels(16, 16) },
  ].map((e) => override.get(e.tag) ?? e)
  return concat([metaHeader(TS.implicitLE), toImplicit(els)])
}

export function dicomFile(o: ImageOpts = {}): Uint8Array {
  return concat([metaHeader(o.ts ?? TS.explicitLE), imageDataSet(o)])
}

/** Byte offset of the first occurrence of an element header (tag + VR) in a file. */
export function findEl(bytes: Uint8Array, tag: number, vr?: string): number {
  const pat = concat([u16(tag >>> 16), u16(tag & 0xffff), vr ? ascii(vr) : new Uint8Array(0)])
  outer: for (let i = 132; i + pat.length <= bytes.length; i++) {
    for (let j = 0; j < pat.length; j++) if (bytes[i + j] !== pat[j]) continue outer
    return i
  }
  throw new Error(`tag ${tag.toString(16)} not found`)
}

// ---------------------------------------------------------------- RLE

/** PackBits literal runs only: valid RLE, and easy to break on purpose. */
function packBits(seg: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = []
  for (let i = 0; i < seg.length; i += 128) {
    const chunk = seg.subarray(i, Math.min(seg.length, i + 128))
    parts.push(Uint8Array.of(chunk.length - 1), chunk)
  }
  const out = concat(parts)
  return out.length % 2 ? concat([out, Uint8Array.of(0x80)]) : out // 0x80 = no-op run, pads to even
}

/** RLE frame of a 16-bit image: header (count, 15 offsets) + high-byte and low-byte segments. */
export function rleFrame(rows: number, cols: number, header?: (h: DataView) => void, segments?: Uint8Array[]): Uint8Array {
  const px = new Uint16Array(rampPixels(rows, cols).buffer)
  const hi = Uint8Array.from(px, (v) => v >> 8)
  const lo = Uint8Array.from(px, (v) => v & 0xff)
  const segs = segments ?? [packBits(hi), packBits(lo)]
  const head = new Uint8Array(64)
  const dv = new DataView(head.buffer)
  dv.setUint32(0, segs.length, true)
  let off = 64
  segs.forEach((s, i) => {
    dv.setUint32(4 + 4 * i, off, true)
    off += s.length
  })
  header?.(dv)
  return concat([head, ...segs])
}

function encapsulated(frames: Uint8Array[], botLen = 0): El {
  const parts = [item(botLen, new Uint8Array(botLen)), ...frames.map((f) => item(f.length, f)), SEQ_END]
  return { tag: 0x7fe00010, vr: 'OB', value: concat(parts), len: UNDEFINED }
}

function rleFile(frame: Uint8Array): Uint8Array {
  return dicomFile({ ts: TS.rle, pixelData: encapsulated([frame]) })
}

// ---------------------------------------------------------------- NIfTI-1 writer

export interface NiftiOpts {
  sizeofHdr?: number
  dim?: number[] // dim[0..7]
  datatype?: number
  bitpix?: number
  pixdim?: number[]
  voxOffset?: number
  sclSlope?: number
  sclInter?: number
  extension?: Uint8Array // the 4 bytes after the header
  qformCode?: number
}

const DT_INT16 = 4

export function niftiHeader(o: NiftiOpts = {}): Uint8Array {
  const h = new Uint8Array(352)
  const dv = new DataView(h.buffer)
  dv.setInt32(0, o.sizeofHdr ?? 348, true)
  const dim = o.dim ?? [3, 16, 16, 8, 1, 1, 1, 1]
  dim.forEach((d, i) => dv.setInt16(40 + 2 * i, d, true))
  dv.setInt16(70, o.datatype ?? DT_INT16, true)
  dv.setInt16(72, o.bitpix ?? 16, true)
  const pixdim = o.pixdim ?? [1, 1, 1, 2, 1, 1, 1, 1]
  pixdim.forEach((p, i) => dv.setFloat32(76 + 4 * i, p, true))
  dv.setFloat32(108, o.voxOffset ?? 352, true)
  dv.setFloat32(112, o.sclSlope ?? 1, true)
  dv.setFloat32(116, o.sclInter ?? 0, true)
  h[123] = 10 // xyzt_units: mm, s
  dv.setInt16(252, o.qformCode ?? 1, true)
  dv.setInt16(254, 0, true)
  dv.setFloat32(256, 0, true) // quatern_b..d = 0: identity rotation
  h.set(Uint8Array.from('n+1\0', (c) => c.charCodeAt(0)), 344)
  if (o.extension) h.set(o.extension, 348)
  return h
}

export function niftiFile(o: NiftiOpts = {}, voxels = 16 * 16 * 8 * 2): Uint8Array {
  const data = new Uint8Array(voxels)
  for (let i = 0; i < voxels; i++) data[i] = (i * 7) & 0xff
  return concat([niftiHeader(o), data])
}

export interface Nifti2Opts {
  dim?: bigint[]
  voxOffset?: bigint
  sclSlope?: number
  pixdim?: number[]
}

/** NIfTI-2 header (540 bytes) + 4 extension bytes + int16 voxels. */
export function nifti2File(o: Nifti2Opts = {}, voxelBytes = 16 * 16 * 8 * 2): Uint8Array {
  const h = new Uint8Array(544 + voxelBytes)
  const dv = new DataView(h.buffer)
  dv.setInt32(0, 540, true)
  h.set([0x6e, 0x2b, 0x32, 0, 0x0d, 0x0a, 0x1a, 0x0a], 4)
  dv.setInt16(12, DT_INT16, true)
  dv.setInt16(14, 16, true)
  const dim = o.dim ?? [3n, 16n, 16n, 8n, 1n, 1n, 1n, 1n]
  dim.forEach((d, i) => dv.setBigInt64(16 + 8 * i, d, true))
  ;(o.pixdim ?? [1, 1, 1, 2, 1, 1, 1, 1]).forEach((p, i) => dv.setFloat64(104 + 8 * i, p, true))
  dv.setBigInt64(168, o.voxOffset ?? 544n, true)
  dv.setFloat64(176, o.sclSlope ?? 1, true)
  dv.setInt32(344, 1, true) // qform_code
  dv.setInt32(500, 10, true) // mm, s
  for (let i = 544; i < h.length; i++) h[i] = (i * 7) & 0xff
  return h
}

/** Streams a multi-member gzip: the first member holds `head`, then `members` copies of 64 MiB of zeros. */
async function writeGzipBomb(file: string, head: Uint8Array, members: number): Promise<void> {
  const zeros = zlib.gzipSync(Buffer.alloc(64 * 1024 ** 2), { level: 9 })
  const out = createWriteStream(file)
  const put = async (b: Uint8Array) => {
    if (!out.write(b)) await once(out, 'drain')
  }
  await put(zlib.gzipSync(head))
  for (let i = 0; i < members; i++) await put(zeros)
  out.end()
  await once(out, 'finish')
}

function yazlZip(entries: { name: string; data: Buffer }[]): Promise<Buffer> {
  const zip = new yazl.ZipFile()
  for (const e of entries) zip.addBuffer(e.data, e.name)
  zip.end()
  const chunks: Buffer[] = []
  return new Promise((resolve, reject) => {
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c))
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)))
    zip.outputStream.on('error', reject)
  })
}

// ---------------------------------------------------------------- the cases

type Spec = Omit<BrokenCase, 'write'> & { bytes?: () => Uint8Array | Promise<Uint8Array>; write?: BrokenCase['write'] }

function bytesCase(s: Spec): BrokenCase {
  if (s.write) return s as BrokenCase
  const make = s.bytes!
  return {
    ...s,
    async write(dir) {
      const p = path.join(dir, s.file)
      await writeFile(p, await make())
      return [p]
    },
  }
}

const SHORT: ErrorCode[] = ['TRUNCATED', 'ELEMENT_OUT_OF_BOUNDS', 'PIXEL_DATA_SHORT']
const HEADER: ErrorCode[] = ['INVALID_HEADER', 'DIMENSIONS_INVALID', 'UNSUPPORTED_PIXEL_FORMAT']

function sizeOverride(rows: number, cols: number): Map<number, El | null> {
  return new Map<number, El | null>([
    [0x00280010, { tag: 0x00280010, vr: 'US', value: u16(rows) }],
    [0x00280011, { tag: 0x00280011, vr: 'US', value: u16(cols) }],
  ])
}

function rowsAs(el: El): Map<number, El | null> {
  return new Map([[0x00280010, el]])
}

function dicomCases(): Spec[] {
  const seed = dicomFile()
  const at = (tag: number, vr?: string) => findEl(seed, tag, vr)
  const px = at(0x7fe00010, 'OW')
  const rowsOff = at(0x00280010, 'US')
  const cut = (n: number) => () => seed.subarray(0, n)
  const out: Spec[] = [
    { name: 'dicom valid seed (control)', file: 'seed.dcm', codes: [], valid: true, bytes: () => seed },
    { name: 'dicom valid RLE seed (control)', file: 'seed-rle.dcm', codes: [], valid: true, bytes: () => rleFile(rleFrame(16, 16)) },
    { name: 'dicom empty file', file: 'empty.dcm', codes: ['NOT_AN_IMAGE', 'TRUNCATED'], bytes: () => new Uint8Array(0) },
    { name: 'dicom truncated in preamble (64 B)', file: 'cut-64.dcm', codes: ['NOT_AN_IMAGE', 'TRUNCATED'], bytes: cut(64) },
    { name: 'dicom truncated inside DICM marker', file: 'cut-130.dcm', codes: ['NOT_AN_IMAGE', 'TRUNCATED'], bytes: cut(130) },
    { name: 'dicom truncated after DICM', file: 'cut-132.dcm', codes: ['NOT_AN_IMAGE', 'NO_IMAGE_DATA', ...SHORT, ...HEADER], bytes: cut(132) },
    { name: 'dicom truncated inside meta header', file: 'cut-meta.dcm', codes: [...SHORT, 'NOT_AN_IMAGE', 'INVALID_HEADER'], bytes: cut(160) },
    { name: 'dicom truncated inside an element header', file: 'cut-el-head.dcm', codes: [...SHORT, 'NO_IMAGE_DATA', 'INVALID_HEADER'], bytes: cut(at(0x00100010) + 3) },
    { name: 'dicom truncated inside an element value', file: 'cut-el-value.dcm', codes: [...SHORT, 'NO_IMAGE_DATA', 'INVALID_HEADER'], bytes: cut(at(0x00100010) + 12) },
    { name: 'dicom truncated inside Rows', file: 'cut-rows.dcm', codes: [...SHORT, 'NO_IMAGE_DATA', 'INVALID_HEADER'], bytes: cut(rowsOff + 9) },
    { name: 'dicom truncated in Pixel Data header', file: 'cut-px-head.dcm', codes: [...SHORT, 'NO_IMAGE_DATA'], bytes: cut(px + 6) },
    { name: 'dicom truncated 8 bytes into pixel data', file: 'cut-px-8.dcm', codes: SHORT, bytes: cut(px + 12 + 8) },
    { name: 'dicom truncated 1 byte before the end', file: 'cut-px-end.dcm', codes: SHORT, bytes: cut(seed.length - 1) },
    {
      name: 'dicom element length past the end (LO 0xFFF0)',
      file: 'len-past-end.dcm',
      codes: SHORT,
      bytes: () => dicomFile({ override: new Map([[0x00100020, { tag: 0x00100020, vr: 'LO', value: ascii('X'), len: 0xfff0 }]]), pixelData: null }),
    },
    {
      name: 'dicom UT length 0x7FFFFFF0 in a 1 KB file',
      file: 'len-huge.dcm',
      codes: SHORT,
      bytes: () => dicomFile({ extra: [{ tag: 0x00204000, vr: 'UT', value: ascii('comment'), len: 0x7ffffff0 }] }),
    },
    {
      name: 'dicom UT with undefined length (0xFFFFFFFF not allowed)',
      file: 'len-undef-ut.dcm',
      codes: [...SHORT, 'INVALID_HEADER', 'NO_IMAGE_DATA'],
      bytes: () => dicomFile({ extra: [{ tag: 0x00204000, vr: 'UT', value: ascii('comment'), len: UNDEFINED }] }),
    },
    {
      name: 'dicom native OW Pixel Data with undefined length',
      file: 'px-undef-native.dcm',
      codes: [...SHORT, 'INVALID_HEADER', 'DECODE_FAILED', 'NO_IMAGE_DATA'],
      bytes: () => dicomFile({ pixelData: { tag: 0x7fe00010, vr: 'OW', value: rampPixels(16, 16), len: UNDEFINED } }),
    },
    {
      name: 'dicom Pixel Data length past the end',
      file: 'px-len-past-end.dcm',
      codes: SHORT,
      bytes: () => dicomFile({ pixelData: { tag: 0x7fe00010, vr: 'OW', value: rampPixels(16, 16), len: 4096 } }),
    },
    {
      name: 'dicom Pixel Data shorter than Rows x Columns needs',
      file: 'px-short.dcm',
      codes: ['PIXEL_DATA_SHORT', 'TRUNCATED'],
      bytes: () => dicomFile({ pixelData: { tag: 0x7fe00010, vr: 'OW', value: new Uint8Array(100) } }),
    },
    {
      name: 'dicom Rows=Columns=65535 in a tiny file',
      file: 'huge-rows-cols.dcm',
      codes: ['TOO_LARGE', 'PIXEL_DATA_SHORT', 'DIMENSIONS_INVALID'],
      bytes: () => dicomFile({ override: sizeOverride(65535, 65535) }),
    },
    {
      name: 'dicom 16000x16000 (under the voxel cap, 512 MB) in a tiny file',
      file: 'big-under-cap.dcm',
      codes: ['PIXEL_DATA_SHORT', 'TRUNCATED'],
      bytes: () => dicomFile({ override: sizeOverride(16000, 16000) }),
    },
    {
      name: 'dicom NumberOfFrames=2147483647',
      file: 'frames-huge.dcm',
      codes: ['TOO_LARGE', 'PIXEL_DATA_SHORT', 'DIMENSIONS_INVALID', 'INVALID_HEADER'],
      bytes: () => dicomFile({ frames: 2147483647 }),
    },
    {
      name: 'dicom NumberOfFrames=1000 (16 MB claimed) in a tiny file',
      file: 'frames-1000.dcm',
      codes: ['PIXEL_DATA_SHORT', 'TRUNCATED'],
      bytes: () => dicomFile({ frames: 1000 }),
    },
    {
      name: 'dicom NumberOfFrames=-5',
      file: 'frames-negative.dcm',
      codes: ['DIMENSIONS_INVALID', 'INVALID_HEADER'],
      bytes: () => dicomFile({ frames: -5 }),
    },
    {
      name: 'dicom NumberOfFrames=0',
      file: 'frames-zero.dcm',
      codes: ['DIMENSIONS_INVALID', 'INVALID_HEADER'],
      mayLoad: true, // some readers treat 0 as "absent"
      bytes: () => dicomFile({ frames: 0 }),
    },
    {
      name: 'dicom NumberOfFrames=1e9 (not an integer string)',
      file: 'frames-exp.dcm',
      codes: ['TOO_LARGE', 'PIXEL_DATA_SHORT', 'DIMENSIONS_INVALID', 'INVALID_HEADER'],
      bytes: () => dicomFile({ frames: 1e9 }),
    },
    { name: 'dicom Rows=0', file: 'rows-zero.dcm', codes: ['DIMENSIONS_INVALID', 'INVALID_HEADER'], bytes: () => dicomFile({ override: sizeOverride(0, 16) }) },
    {
      name: 'dicom Rows encoded as UL (wrong VR)',
      file: 'rows-ul.dcm',
      codes: [...HEADER, 'PIXEL_DATA_SHORT'],
      mayLoad: true, // a reader may honour the value 16 whatever the VR
      bytes: () => dicomFile({ override: rowsAs({ tag: 0x00280010, vr: 'UL', value: u32(16) }) }),
    },
    {
      name: 'dicom Rows encoded as DS "16" (wrong VR)',
      file: 'rows-ds.dcm',
      codes: [...HEADER, 'PIXEL_DATA_SHORT'],
      mayLoad: true,
      bytes: () => dicomFile({ override: rowsAs({ tag: 0x00280010, vr: 'DS', value: ascii('16') }) }),
    },
    {
      name: 'dicom Rows as US with length 0',
      file: 'rows-empty.dcm',
      codes: HEADER,
      bytes: () => dicomFile({ override: rowsAs({ tag: 0x00280010, vr: 'US', value: new Uint8Array(0) }) }),
    },
    {
      name: 'dicom Rows as US with odd length 1',
      file: 'rows-len1.dcm',
      codes: [...HEADER, ...SHORT],
      bytes: () => dicomFile({ override: rowsAs({ tag: 0x00280010, vr: 'US', value: Uint8Array.of(16) }) }),
    },
    { name: 'dicom BitsStored 17 > BitsAllocated 16', file: 'bits-stored.dcm', codes: HEADER, bytes: () => dicomFile({ bitsStored: 17 }) },
    { name: 'dicom BitsAllocated 0', file: 'bits-zero.dcm', codes: HEADER, bytes: () => dicomFile({ bitsAllocated: 0, bitsStored: 1 }) },
    { name: 'dicom BitsAllocated 13 (not a byte multiple)', file: 'bits-13.dcm', codes: HEADER, bytes: () => dicomFile({ bitsAllocated: 13, bitsStored: 12 }) },
    { name: 'dicom BitsAllocated 64 BitsStored 64 integer', file: 'bits-64.dcm', codes: [...HEADER, 'PIXEL_DATA_SHORT'], bytes: () => dicomFile({ bitsAllocated: 64, bitsStored: 64 }) },
    {
      name: 'dicom SamplesPerPixel 0',
      file: 'spp-zero.dcm',
      codes: HEADER,
      bytes: () => dicomFile({ override: new Map([[0x00280002, { tag: 0x00280002, vr: 'US', value: u16(0) }]]) }),
    },
    {
      name: 'dicom SamplesPerPixel 65535',
      file: 'spp-huge.dcm',
      codes: [...HEADER, 'PIXEL_DATA_SHORT', 'TOO_LARGE'],
      bytes: () => dicomFile({ override: new Map([[0x00280002, { tag: 0x00280002, vr: 'US', value: u16(65535) }]]) }),
    },
    {
      name: 'dicom undefined-length sequence without delimiter swallowing Pixel Data',
      file: 'sq-no-delim.dcm',
      codes: [...SHORT, 'NO_IMAGE_DATA', 'INVALID_HEADER'],
      bytes: () =>
        dicomFile({
          beforePixels: concat([encodeEl({ tag: 0x00540016, vr: 'SQ', value: new Uint8Array(0), len: UNDEFINED }), item(UNDEFINED)]),
        }),
    },
    {
      name: 'dicom 20000 nested undefined-length sequences',
      file: 'sq-deep-undef.dcm',
      codes: ['INVALID_HEADER', ...SHORT],
      mayLoad: true, // legal if a parser copes iteratively
      bytes: () => dicomFile({ beforePixels: deepSequence(20000, false) }),
    },
    {
      name: 'dicom 20000 nested defined-length sequences',
      file: 'sq-deep-def.dcm',
      codes: ['INVALID_HEADER', ...SHORT],
      mayLoad: true,
      bytes: () => dicomFile({ beforePixels: deepSequence(20000, true) }),
    },
    {
      name: 'dicom 100000 zero-length items in one sequence',
      file: 'sq-empty-items.dcm',
      codes: ['INVALID_HEADER'],
      mayLoad: true, // legal, only wasteful
      bytes: () => {
        const items = concat(Array.from({ length: 100000 }, () => item(0)))
        return dicomFile({ beforePixels: encodeEl({ tag: 0x00540016, vr: 'SQ', value: items }) })
      },
    },
    {
      name: 'dicom sequence item length past the sequence end',
      file: 'sq-item-overrun.dcm',
      codes: [...SHORT, 'INVALID_HEADER'],
      bytes: () => dicomFile({ beforePixels: encodeEl({ tag: 0x00540016, vr: 'SQ', value: item(0x7ffffff0) }) }),
    },
    { name: 'dicom implicit VR seed (control)', file: 'seed-implicit.dcm', codes: [], valid: true, bytes: () => implicitFile() },
    {
      name: 'dicom implicit VR: Rows with undefined length 0xFFFFFFFF',
      file: 'implicit-rows-undef.dcm',
      codes: [...SHORT, ...HEADER, 'NO_IMAGE_DATA'],
      bytes: () => implicitFile(new Map([[0x00280010, { tag: 0x00280010, vr: 'US', value: u16(16), len: UNDEFINED }]])),
    },
    {
      name: 'dicom implicit VR: PatientName with undefined length 0xFFFFFFFF',
      file: 'implicit-pn-undef.dcm',
      codes: [...SHORT, ...HEADER, 'NO_IMAGE_DATA'],
      bytes: () => implicitFile(new Map([[0x00100010, { tag: 0x00100010, vr: 'PN', value: ascii('CANARY^PATIENT'), len: UNDEFINED }]])),
    },
    {
      name: 'dicom implicit VR: Pixel Data length 0x7FFFFFFF',
      file: 'implicit-px-huge.dcm',
      codes: SHORT,
      bytes: () => implicitFile(new Map([[0x7fe00010, { tag: 0x7fe00010, vr: 'OW', value: rampPixels(16, 16), len: 0x7fffffff }]])),
    },
    {
      name: 'dicom transfer syntax UID unknown',
      file: 'ts-unknown.dcm',
      codes: ['UNSUPPORTED_TRANSFER_SYNTAX'],
      bytes: () => dicomFile({ ts: '1.2.3.4.5.6.7' }),
    },
    ...geometryCases(),
    ...rleCases(),
  ]
  return out
}

function ds(tag: number, text: string): Map<number, El | null> {
  return new Map([[tag, { tag, vr: 'DS', value: ascii(text) }]])
}

/** One slice of a two-slice series, at z, with extra overrides. */
function slice(i: number, z: number, over: [number, El][] = []): Uint8Array {
  const m = new Map<number, El | null>([
    [0x00080018, { tag: 0x00080018, vr: 'UI', value: uid(`${ROOT}.3.${i + 1}`) }],
    [0x00200013, { tag: 0x00200013, vr: 'IS', value: ascii(String(i + 1)) }],
    [0x00200032, { tag: 0x00200032, vr: 'DS', value: ascii(`-10\\-20\\${z}`) }],
    ...over,
  ])
  return dicomFile({ override: m })
}

function seriesCase(name: string, codes: ErrorCode[], slices: () => Uint8Array[], mayLoad = false): Spec {
  return {
    name,
    file: 'series',
    codes,
    mayLoad,
    async write(dir) {
      const folder = path.join(dir, 'series')
      await mkdir(folder)
      for (const [i, b] of slices().entries()) await writeFile(path.join(folder, `IM${i + 1}.dcm`), b)
      return [folder]
    },
  }
}

function geometryCases(): Spec[] {
  const GEO: ErrorCode[] = ['INVALID_HEADER', 'DIMENSIONS_INVALID', 'INCONSISTENT_SERIES']
  return [
    { name: 'dicom ImagePositionPatient NaN', file: 'ipp-nan.dcm', codes: GEO, mayLoad: true, bytes: () => dicomFile({ override: ds(0x00200032, 'NaN\\NaN\\NaN') }) },
    { name: 'dicom ImageOrientationPatient all zero', file: 'iop-zero.dcm', codes: GEO, mayLoad: true, bytes: () => dicomFile({ override: ds(0x00200037, '0\\0\\0\\0\\0\\0') }) },
    { name: 'dicom ImageOrientationPatient not numbers', file: 'iop-text.dcm', codes: GEO, mayLoad: true, bytes: () => dicomFile({ override: ds(0x00200037, 'a\\b\\c') }) },
    { name: 'dicom PixelSpacing 0', file: 'spacing-zero.dcm', codes: GEO, mayLoad: true, bytes: () => dicomFile({ override: ds(0x00280030, '0\\0') }) },
    { name: 'dicom PixelSpacing -1e308', file: 'spacing-neg.dcm', codes: GEO, mayLoad: true, bytes: () => dicomFile({ override: ds(0x00280030, '-1e308\\-1e308') }) },
    {
      name: 'dicom PixelSpacing 1e400 (overflows to Infinity)',
      file: 'spacing-inf.dcm',
      codes: GEO,
      mayLoad: true,
      bytes: () => dicomFile({ override: ds(0x00280030, '1e400\\1e400') }) },
    seriesCase('dicom series: two slices disagree on Rows', ['INCONSISTENT_SERIES', 'DIMENSIONS_INVALID', 'INVALID_HEADER'], () => [
      slice(0, 0),
      slice(1, 2, [[0x00280010, { tag: 0x00280010, vr: 'US', value: u16(8) }]]),
    ], true),
    seriesCase('dicom series: two slices at the same position', ['INCONSISTENT_SERIES'], () => [slice(0, 0), slice(1, 0)], true),
    {
      ...seriesCase('dicom series: slice positions 1e308 apart', ['INCONSISTENT_SERIES', 'INVALID_HEADER', 'DIMENSIONS_INVALID'], () => [slice(0, -1e308), slice(1, 1e308)], true),
    },
  ]
}

/** Sequences nested `depth` deep, each holding one item holding the next sequence. */
function deepSequence(depth: number, defined: boolean): Uint8Array {
  const sqHead = (len: number) => encodeEl({ tag: 0x00540016, vr: 'SQ', value: new Uint8Array(0), len })
  if (!defined) {
    const open = concat([sqHead(UNDEFINED), item(UNDEFINED)])
    const close = concat([ITEM_END, SEQ_END])
    const out = new Uint8Array(depth * (open.length + close.length))
    for (let i = 0; i < depth; i++) out.set(open, i * open.length)
    for (let i = 0; i < depth; i++) out.set(close, depth * open.length + i * close.length)
    return out
  }
  // Defined lengths: the innermost is empty, each level adds 12 (SQ header) + 8 (item header).
  const out = new Uint8Array(depth * 20)
  for (let level = 0; level < depth; level++) {
    const inner = (depth - level - 1) * 20
    out.set(sqHead(inner + 8), level * 20)
    out.set(item(inner), level * 20 + 12)
  }
  return out
}

function rleCases(): Spec[] {
  const frame = (h?: (dv: DataView) => void, segs?: Uint8Array[]) => () => rleFile(rleFrame(16, 16, h, segs))
  const codes: ErrorCode[] = ['DECODE_FAILED', 'PIXEL_DATA_SHORT', 'TRUNCATED', 'UNSUPPORTED_PIXEL_FORMAT']
  return [
    { name: 'rle segment offset past the fragment end', file: 'rle-offset-past-end.dcm', codes, bytes: frame((dv) => dv.setUint32(8, 0x7ffffff0, true)) },
    { name: 'rle segment offsets decreasing', file: 'rle-offset-backwards.dcm', codes, bytes: frame((dv) => dv.setUint32(8, 32, true)) },
    { name: 'rle segment count 0', file: 'rle-zero-segments.dcm', codes, bytes: frame((dv) => dv.setUint32(0, 0, true)) },
    { name: 'rle segment count 16 (> 15)', file: 'rle-16-segments.dcm', codes, bytes: frame((dv) => dv.setUint32(0, 16, true)) },
    { name: 'rle segment count 0xFFFFFFFF', file: 'rle-huge-count.dcm', codes, bytes: frame((dv) => dv.setUint32(0, 0xffffffff, true)) },
    { name: 'rle first offset inside the header', file: 'rle-offset-in-header.dcm', codes, bytes: frame((dv) => dv.setUint32(4, 4, true)) },
    {
      name: 'rle literal runs decoding past the segment size',
      file: 'rle-run-overflow.dcm',
      codes,
      mayLoad: true, // decoders may clip extra output
      bytes: frame(undefined, [concat(Array.from({ length: 8 }, () => concat([Uint8Array.of(127), new Uint8Array(128)]))), concat(Array.from({ length: 8 }, () => Uint8Array.of(0x81, 7)))]),
    },
    { name: 'rle segments too short for the image', file: 'rle-short.dcm', codes, bytes: frame(undefined, [Uint8Array.of(3, 1, 2, 3, 4, 0x80), Uint8Array.of(0x81, 5)]) },
    {
      name: 'rle fragment truncated mid segment (item length past end)',
      file: 'rle-fragment-cut.dcm',
      codes: [...codes, 'ELEMENT_OUT_OF_BOUNDS'],
      bytes: () => {
        const f = rleFile(rleFrame(16, 16))
        return f.subarray(0, f.length - 200)
      },
    },
  ]
}

function niftiCases(): Spec[] {
  const nii = (o: NiftiOpts, voxels?: number) => () => niftiFile(o, voxels)
  const HDR: ErrorCode[] = ['INVALID_HEADER', 'NOT_AN_IMAGE', 'DIMENSIONS_INVALID', 'TRUNCATED']
  const DIMS: ErrorCode[] = ['DIMENSIONS_INVALID', 'INVALID_HEADER', 'TOO_LARGE', 'TRUNCATED']
  const dims = (d: number[]) => [d.length, ...d, ...Array(7 - d.length).fill(1)]
  return [
    { name: 'nifti valid seed (control)', file: 'seed.nii', codes: [], valid: true, bytes: nii({}) },
    { name: 'nifti empty file', file: 'empty.nii', codes: ['TRUNCATED', 'NOT_AN_IMAGE', 'INVALID_HEADER'], bytes: () => new Uint8Array(0) },
    { name: 'nifti truncated in the header (200 B)', file: 'cut-header.nii', codes: ['TRUNCATED', 'INVALID_HEADER', 'NOT_AN_IMAGE'], bytes: () => niftiFile().subarray(0, 200) },
    { name: 'nifti truncated in the data', file: 'cut-data.nii', codes: ['TRUNCATED', 'PIXEL_DATA_SHORT'], bytes: () => niftiFile().subarray(0, 1000) },
    { name: 'nifti sizeof_hdr 0', file: 'sizeof-0.nii', codes: HDR, bytes: nii({ sizeofHdr: 0 }) },
    { name: 'nifti sizeof_hdr 1000', file: 'sizeof-1000.nii', codes: HDR, bytes: nii({ sizeofHdr: 1000 }) },
    { name: 'nifti sizeof_hdr -348', file: 'sizeof-neg.nii', codes: HDR, bytes: nii({ sizeofHdr: -348 }) },
    { name: 'nifti dim[0]=0', file: 'dim0-0.nii', codes: DIMS, bytes: nii({ dim: [0, 16, 16, 8, 1, 1, 1, 1] }) },
    { name: 'nifti dim[0]=8', file: 'dim0-8.nii', codes: DIMS, bytes: nii({ dim: [8, 16, 16, 8, 1, 1, 1, 1] }) },
    { name: 'nifti dim[0]=-1', file: 'dim0-neg.nii', codes: DIMS, bytes: nii({ dim: [-1, 16, 16, 8, 1, 1, 1, 1] }) },
    { name: 'nifti negative dim[2]', file: 'dim-neg.nii', codes: DIMS, bytes: nii({ dim: dims([16, -16, 8]) }) },
    { name: 'nifti zero dim[1]', file: 'dim-zero.nii', codes: DIMS, bytes: nii({ dim: dims([0, 16, 8]) }) },
    { name: 'nifti dims 32767^3 in a tiny file', file: 'dim-huge.nii', codes: DIMS, bytes: nii({ dim: dims([32767, 32767, 32767]) }) },
    { name: 'nifti dims 32767^7 (product beyond 2^53)', file: 'dim-huge7.nii', codes: DIMS, bytes: nii({ dim: [7, 32767, 32767, 32767, 32767, 32767, 32767, 32767] }) },
    { name: 'nifti 1024x1024x400 int16 (under cap, 800 MB) in a tiny file', file: 'dim-under-cap.nii', codes: ['TRUNCATED', 'PIXEL_DATA_SHORT'], bytes: nii({ dim: dims([1024, 1024, 400]) }) },
    { name: 'nifti datatype 9999', file: 'dtype-bad.nii', codes: ['UNSUPPORTED_PIXEL_FORMAT', 'INVALID_HEADER'], bytes: nii({ datatype: 9999 }) },
    { name: 'nifti datatype 0 (unknown)', file: 'dtype-0.nii', codes: ['UNSUPPORTED_PIXEL_FORMAT', 'INVALID_HEADER'], bytes: nii({ datatype: 0, bitpix: 0 }) },
    { name: 'nifti scl_slope NaN', file: 'slope-nan.nii', codes: ['NONFINITE_SCALING'], bytes: nii({ sclSlope: NaN }) },
    { name: 'nifti scl_slope +Inf', file: 'slope-inf.nii', codes: ['NONFINITE_SCALING'], bytes: nii({ sclSlope: Infinity }) },
    { name: 'nifti scl_inter NaN with slope 2', file: 'inter-nan.nii', codes: ['NONFINITE_SCALING'], bytes: nii({ sclSlope: 2, sclInter: NaN }) },
    { name: 'nifti vox_offset NaN', file: 'voxoff-nan.nii', codes: ['INVALID_HEADER', 'TRUNCATED'], bytes: nii({ voxOffset: NaN }) },
    { name: 'nifti vox_offset -352', file: 'voxoff-neg.nii', codes: ['INVALID_HEADER', 'TRUNCATED'], bytes: nii({ voxOffset: -352 }) },
    { name: 'nifti vox_offset 1e30', file: 'voxoff-huge.nii', codes: ['INVALID_HEADER', 'TRUNCATED'], bytes: nii({ voxOffset: 1e30 }) },
    { name: 'nifti vox_offset inside the header (100)', file: 'voxoff-100.nii', codes: ['INVALID_HEADER', 'TRUNCATED'], bytes: nii({ voxOffset: 100 }) },
    { name: 'nifti pixdim NaN', file: 'pixdim-nan.nii', codes: ['INVALID_HEADER', 'DIMENSIONS_INVALID'], bytes: nii({ pixdim: [1, NaN, 1, 2, 1, 1, 1, 1] }) },
    { name: 'nifti extension size 0 (would loop forever)', file: 'ext-size-0.nii', codes: ['INVALID_HEADER', 'TRUNCATED'], mayLoad: true, bytes: () => extNifti(0) },
    { name: 'nifti extension size past the end', file: 'ext-past-end.nii', codes: ['INVALID_HEADER', 'TRUNCATED'], mayLoad: true, bytes: () => extNifti(0x7ffffff0) },
    { name: 'nifti extension size -16', file: 'ext-negative.nii', codes: ['INVALID_HEADER', 'TRUNCATED'], mayLoad: true, bytes: () => extNifti(-16) },
    { name: 'nifti.gz truncated stream', file: 'cut.nii.gz', codes: ['TRUNCATED', 'DECODE_FAILED'], bytes: () => { const g = zlib.gzipSync(niftiFile()); return g.subarray(0, g.length >> 1) } },
    { name: 'nifti.gz not gzip at all', file: 'notgz.nii.gz', codes: ['TRUNCATED', 'DECODE_FAILED', 'NOT_AN_IMAGE', 'INVALID_HEADER'], bytes: () => niftiFile() },
    {
      name: 'nifti.gz 1024x1024x400 int16 claimed, 4 KB present',
      file: 'gz-under-cap.nii.gz',
      codes: ['TRUNCATED', 'PIXEL_DATA_SHORT'],
      bytes: () => zlib.gzipSync(niftiFile({ dim: dims([1024, 1024, 400]) })),
    },
    {
      name: 'nifti.gz bomb: 16x16x8 header then 4 GiB of zeros (multi-member gzip)',
      file: 'bomb.nii.gz',
      codes: ['TOO_LARGE', 'INVALID_HEADER', 'TRUNCATED'],
      mayLoad: true, // trailing bytes after the voxels are harmless if never inflated
      write: async (dir) => {
        const p = path.join(dir, 'bomb.nii.gz')
        await writeGzipBomb(p, niftiFile(), 64)
        return [p]
      },
    },
    { name: 'nifti-2 valid seed (control)', file: 'seed2.nii', codes: [], valid: true, bytes: () => nifti2File() },
    { name: 'nifti-2 dim[1] = 2^62', file: 'n2-dim-huge.nii', codes: DIMS, bytes: () => nifti2File({ dim: [3n, 2n ** 62n, 16n, 8n, 1n, 1n, 1n, 1n] }) },
    { name: 'nifti-2 dim[1] = -2^63', file: 'n2-dim-neg.nii', codes: DIMS, bytes: () => nifti2File({ dim: [3n, -(2n ** 63n), 16n, 8n, 1n, 1n, 1n, 1n] }) },
    { name: 'nifti-2 dims 2^21 each (product 2^63)', file: 'n2-dim-product.nii', codes: DIMS, bytes: () => nifti2File({ dim: [3n, 2n ** 21n, 2n ** 21n, 2n ** 21n, 1n, 1n, 1n, 1n] }) },
    { name: 'nifti-2 vox_offset 2^62', file: 'n2-voxoff-huge.nii', codes: ['INVALID_HEADER', 'TRUNCATED'], bytes: () => nifti2File({ voxOffset: 2n ** 62n }) },
    { name: 'nifti-2 vox_offset -1', file: 'n2-voxoff-neg.nii', codes: ['INVALID_HEADER', 'TRUNCATED'], bytes: () => nifti2File({ voxOffset: -1n }) },
    { name: 'nifti-2 scl_slope NaN', file: 'n2-slope-nan.nii', codes: ['NONFINITE_SCALING'], bytes: () => nifti2File({ sclSlope: NaN }) },
    { name: 'nifti-2 pixdim 1e308 x 1e308 (spacing product overflows)', file: 'n2-pixdim-huge.nii', codes: ['INVALID_HEADER', 'DIMENSIONS_INVALID'], mayLoad: true, bytes: () => nifti2File({ pixdim: [1, 1e308, 1e308, 1e308, 1, 1, 1, 1] }) },
    { name: 'nifti 4-D with 30000 time points in a tiny file', file: 'dim4-huge.nii', codes: DIMS, bytes: nii({ dim: [4, 16, 16, 8, 30000, 1, 1, 1] }) },
    { name: 'nifti single file with the pair magic ni1', file: 'magic-ni1.nii', codes: ['INVALID_HEADER', 'NOT_AN_IMAGE', 'INPUT_NOT_FOUND', 'TRUNCATED'], mayLoad: true, bytes: () => { const b = niftiFile(); b.set([0x6e, 0x69, 0x31, 0], 344); return b } },
    {
      name: 'nifti .hdr/.img pair with the .img missing',
      file: 'pair.hdr',
      codes: ['INPUT_NOT_FOUND', 'TRUNCATED'],
      bytes: () => { const h = niftiHeader(); h.set(Uint8Array.from('ni1\0', (c) => c.charCodeAt(0)), 344); new DataView(h.buffer).setFloat32(108, 0, true); return h.subarray(0, 348) },
    },
  ]
}

function extNifti(esize: number): Uint8Array {
  const ext = new Uint8Array(16)
  const dv = new DataView(ext.buffer)
  dv.setInt32(0, esize, true)
  dv.setInt32(4, 4, true) // ecode: AFNI
  return concat([niftiHeader({ extension: Uint8Array.of(1, 0, 0, 0), voxOffset: 368 }), ext, niftiFile().subarray(352)])
}

function archiveCases(): Spec[] {
  const zipCase = (name: string, file: string, codes: ErrorCode[], entries: () => Promise<Buffer>, limits?: Partial<Limits>): Spec => ({ name, file, codes, limits, bytes: entries })
  const dcm = Buffer.from(dicomFile())
  return [
    zipCase('zip slip (../) smoke', 'slip.zip', ['ARCHIVE_UNSAFE'], async () => {
      // yazl refuses '..', so a same-length placeholder is patched in both headers.
      const zip = await yazlZip([{ name: 'ok/IM1', data: dcm }, { name: 'QQ/evil', data: dcm }])
      for (let i = zip.indexOf('QQ/evil'); i >= 0; i = zip.indexOf('QQ/evil', i + 1)) zip.write('..', i)
      return zip
    }),
    zipCase('zip bomb smoke (64 MiB of zeros, 16 MiB cap)', 'bomb.zip', ['ARCHIVE_TOO_LARGE', 'TOO_LARGE'], () => yazlZip([{ name: 'zeros', data: Buffer.alloc(64 * 1024 ** 2) }]), { maxArchiveBytes: 16 * 1024 ** 2 }),
    zipCase('nested zip smoke', 'nested.zip', ['NOT_AN_IMAGE', 'NO_USABLE_INPUT'], async () => yazlZip([{ name: 'inner.zip', data: await yazlZip([{ name: 'IM1', data: dcm }]) }])),
    {
      name: 'deflated DICOM bomb: 1 GiB of zeros after the meta header',
      file: 'deflate-bomb.dcm',
      codes: ['TOO_LARGE', 'TRUNCATED', 'INVALID_HEADER', 'NO_IMAGE_DATA', 'ELEMENT_OUT_OF_BOUNDS'],
      write: async (dir) => {
        const p = path.join(dir, 'deflate-bomb.dcm')
        const out = createWriteStream(p)
        out.write(metaHeader(TS.deflated))
        const def = zlib.createDeflateRaw({ level: 1 })
        def.pipe(out)
        const zeros = Buffer.alloc(16 * 1024 ** 2)
        for (let i = 0; i < 64; i++) if (!def.write(zeros)) await once(def, 'drain')
        def.end()
        await once(out, 'finish')
        return [p]
      },
    },
  ]
}

// ---------------------------------------------------------------- real compressed seeds (shared data)

/** Small real files whose codecs the synthetic seeds cannot reach: path under shared/data/dicom. */
export const REAL_SEEDS = [
  'pydicom/gh_pydicom/src/pydicom/data/test_files/MR_small_RLE.dcm',
  'pydicom/gh_pydicom/src/pydicom/data/test_files/MR_small_jp2klossless.dcm',
  'pydicom/gh_pydicom/src/pydicom/data/test_files/MR_small_jpeg_ls_lossless.dcm',
  'pydicom/gh_pydicom/src/pydicom/data/test_files/SC_rgb_small_odd_jpeg.dcm',
  'pydicom/gh_pydicom/src/pydicom/data/test_files/JPGExtended.dcm',
  'dicomParser/testImages/encapsulated/multi-frame/CT0012.fragmented_no_bot_jpeg_lossless.57.dcm',
  'pydicom-data/data_store/data/HTJ2KLossless_08_RGB.dcm',
]

/** Offset and length of the first pixel fragment of an encapsulated explicit-LE file. */
export function firstFragment(bytes: Uint8Array): { at: number; len: number } | undefined {
  let px: number | undefined
  for (const vr of ['OB', 'OW']) {
    try {
      px ??= findEl(bytes, 0x7fe00010, vr)
    } catch {
      // some writers label encapsulated pixel data OW
    }
  }
  if (px === undefined) return undefined
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (dv.getUint32(px + 8, true) !== UNDEFINED) return undefined
  const bot = px + 12
  const frag = bot + 8 + dv.getUint32(bot + 4, true)
  if (frag + 8 > bytes.length) return undefined
  return { at: frag + 8, len: Math.min(dv.getUint32(frag + 4, true), bytes.length - frag - 8) }
}

function realSeedCases(sharedData: string): Spec[] {
  const out: Spec[] = []
  const codes: ErrorCode[] = ['DECODE_FAILED', 'PIXEL_DATA_SHORT', 'TRUNCATED', 'ELEMENT_OUT_OF_BOUNDS', 'UNSUPPORTED_PIXEL_FORMAT']
  for (const rel of REAL_SEEDS) {
    const file = path.join(sharedData, 'dicom', rel)
    if (!existsSync(file)) continue
    const base = path.basename(rel, '.dcm')
    const seed = new Uint8Array(readFileSync(file))
    const frag = firstFragment(seed)
    const edit = (fn: (b: Uint8Array, f: { at: number; len: number }) => void) => () => {
      const b = seed.slice()
      fn(b, frag!)
      return b
    }
    out.push({ name: `${base} truncated at half`, file: `${base}-half.dcm`, codes, bytes: () => seed.subarray(0, seed.length >> 1) })
    if (!frag) continue
    const mid = (f: { at: number; len: number }) => f.at + (f.len >> 1)
    // Codecs may decode garbage into a picture: loading is fine, crashing or hanging is not.
    out.push({ name: `${base} first fragment: 64 middle bytes zeroed`, file: `${base}-zeroed.dcm`, codes, mayLoad: true, bytes: edit((b, f) => b.fill(0, mid(f), Math.min(f.at + f.len, mid(f) + 64))) })
    out.push({ name: `${base} first fragment: 64 middle bytes 0xFF`, file: `${base}-ff.dcm`, codes, mayLoad: true, bytes: edit((b, f) => b.fill(0xff, mid(f), Math.min(f.at + f.len, mid(f) + 64))) })
    out.push({ name: `${base} first fragment: all but 16 bytes zeroed`, file: `${base}-gutted.dcm`, codes, mayLoad: true, bytes: edit((b, f) => b.fill(0, f.at + 16, f.at + f.len)) })
    if (/RLE/.test(base)) {
      out.push({
        name: `${base} RLE segment offset past the fragment end`,
        file: `${base}-rle-overrun.dcm`,
        codes,
        bytes: edit((b, f) => new DataView(b.buffer).setUint32(f.at + 8, f.len + 1000, true)),
      })
    }
  }
  return out
}

/** Every case, in a fixed order; with `sharedData` (../shared/data) also cases cut from real compressed files. */
export function brokenCases(opts: { sharedData?: string } = {}): BrokenCase[] {
  const real = opts.sharedData && existsSync(opts.sharedData) ? realSeedCases(opts.sharedData) : []
  return [...dicomCases(), ...niftiCases(), ...archiveCases(), ...real].map(bytesCase)
}

/** Writes each case into its own numbered folder; returns the manifest. */
export async function writeCorpus(dir: string, cases = brokenCases()): Promise<object[]> {
  const manifest = []
  for (const [i, c] of cases.entries()) {
    const sub = path.join(dir, String(i).padStart(3, '0'))
    await mkdir(sub, { recursive: true })
    const paths = await c.write(sub)
    manifest.push({ name: c.name, paths: paths.map((p) => path.relative(dir, p)), codes: c.codes, mayLoad: !!c.mayLoad, valid: !!c.valid, limits: c.limits, knownIssue: c.knownIssue })
  }
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  return manifest
}

/** Loads every case through the worker pool and returns a markdown table of outcomes. */
export async function outcomeTable(dir: string, cases: BrokenCase[]): Promise<string> {
  const { LoaderPool } = await import('./loader-pool.js')
  const pool = new LoaderPool({ timeoutMs: 5_000, memCapMB: 512, tmpDir: dir })
  const rows = ['| case | expected | outcome | ms | peak MB |', '|---|---|---|---|---|']
  try {
    for (const [i, c] of cases.entries()) {
      const sub = path.join(dir, String(i).padStart(3, '0'))
      await mkdir(sub, { recursive: true })
      const r = await pool.load(await c.write(sub), c.limits)
      const expected = c.valid ? 'loads' : `${c.codes.join(', ') || 'any code'}${c.mayLoad ? ' (or loads)' : ''}`
      const got = r.outcome === 'failure' ? `**${r.failure!.kind}**: ${r.failure!.detail}` : `${r.outcome} ${[...new Set(r.codes)].join(', ')}`
      const peak = Number.isFinite(r.peakAboveBaselineMB) ? r.peakAboveBaselineMB.toFixed(0) : '-'
      rows.push(`| ${c.name.replace(/\|/g, '/')} | ${expected} | ${got}${c.knownIssue ? ' (known issue)' : ''} | ${r.ms.toFixed(0)} | ${peak} |`)
    }
  } finally {
    pool.close()
  }
  return rows.join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [dir, flag] = process.argv.slice(2)
  if (!dir) {
    console.error('usage: tsx scripts/make-broken-corpus.ts OUT_DIR [--run]')
    process.exit(2)
  }
  const shared = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../shared/data')
  const cases = brokenCases({ sharedData: shared })
  if (flag === '--run') {
    console.log(await outcomeTable(path.resolve(dir), cases))
  } else {
    const m = await writeCorpus(path.resolve(dir), cases)
    console.log(`${m.length} cases written to ${dir} (manifest.json lists them)`)
  }
}
