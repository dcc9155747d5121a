import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import { IoError } from '../errors.js'
import { writeBytesAtomically } from '../atomic-write.js'
import { directionToQuatern } from '../nifti/nifti-affine.js'
import { indexToRas, toFloat32, type Volume } from '../../volume/volume.js'

const gzipAsync = promisify(gzip)

export interface WriteNiftiOptions {
  /** 'float32' (default); 'int16' with scl_slope/scl_inter covering the range; 'auto': int16 when the values are integers that fit. */
  dtype?: 'float32' | 'int16' | 'auto'
  /** Goes to the 80-byte `descrip` field (printable ASCII, cut at 79 characters). */
  description?: string
}

interface Encoded {
  datatype: 4 | 16 | 128
  bitpix: 16 | 24 | 32
  slope: number
  inter: number
  bytes: Uint8Array
}

/**
 * Writes a NIfTI-1 file (.nii or .nii.gz) with the volume's geometry in both sform (exact
 * index→RAS affine, code 1 scanner) and qform (rotation + qfac, code 1).
 *
 * The header is built here rather than through itk-wasm's NIfTI writer because that writer
 * exposes neither scl_slope/scl_inter (needed for int16 output) nor descrip, and picks its
 * own qform/sform codes; patching its output at fixed offsets would be as much code with
 * less control. NIfTI-1 stores the affine as float32: coordinates round to ~1e-7 relative.
 */
export async function writeNifti(v: Volume, out: string, opts: WriteNiftiOptions = {}): Promise<void> {
  const gz = /\.nii\.gz$/i.test(out)
  if (!gz && !/\.nii$/i.test(out)) {
    throw new IoError('UNSUPPORTED_OUTPUT', `NIfTI output must end in .nii or .nii.gz: ${out}`, { source: out })
  }
  const enc = v.components === 1 ? encode(toFloat32(v), opts.dtype ?? 'float32') : encodeRgb24(v, out)
  const grey = v.components === 1
  const header = niftiHeader(v, enc, opts.description ?? '', grey ? v.meta.windowCenter : undefined, grey ? v.meta.windowWidth : undefined)
  const file = new Uint8Array(header.length + enc.bytes.length)
  file.set(header, 0)
  file.set(enc.bytes, header.length)
  const bytes = gz ? new Uint8Array(await gzipAsync(file, { level: 6 })) : file
  await writeBytesAtomically(out, bytes)
}

function range(x: Float32Array): { min: number; max: number; integral: boolean } {
  let min = Infinity
  let max = -Infinity
  let integral = true
  for (let i = 0; i < x.length; i++) {
    const v = x[i]
    if (!Number.isFinite(v)) continue
    if (v < min) min = v
    if (v > max) max = v
    if (integral && v !== Math.round(v)) integral = false
  }
  if (min > max) return { min: 0, max: 0, integral: true }
  return { min, max, integral }
}

function encode(x: Float32Array, dtype: 'float32' | 'int16' | 'auto'): Encoded {
  const r = dtype === 'float32' ? undefined : range(x)
  const fitsInt16 = r !== undefined && r.integral && r.min >= -32768 && r.max <= 32767
  if (dtype === 'float32' || (dtype === 'auto' && !fitsInt16)) {
    const le = new Float32Array(x)
    return { datatype: 16, bitpix: 32, slope: 1, inter: 0, bytes: toLittleEndian(le) }
  }
  let slope = 1
  let inter = 0
  if (!fitsInt16) {
    // Centre the range on 0 so ±32767 spans it; scl_* are float32 on disk, so round them
    // first and quantise with the very numbers a reader will use.
    inter = Math.fround((r!.max + r!.min) / 2)
    slope = r!.max > r!.min ? Math.fround((r!.max - r!.min) / 65534) : 1
    if (slope === 0) slope = 1
  }
  const q = new Int16Array(x.length)
  for (let i = 0; i < x.length; i++) {
    const s = Math.round((x[i] - inter) / slope)
    // NaN has no int16 code: it is stored as 0 (reads back as the intercept).
    q[i] = Number.isNaN(s) ? 0 : Math.max(-32768, Math.min(32767, s))
  }
  return { datatype: 4, bitpix: 16, slope, inter, bytes: toLittleEndian(q) }
}

/**
 * Colour as NIfTI-1 RGB24 (datatype 128): three bytes per voxel, interleaved, as dcm2niix writes
 * ultrasound and visible-light series. NIfTI has no deeper colour type, so 16-bit colour
 * (palette images with 16-bit entries) is refused rather than cut: NRRD / MHA keep it.
 */
function encodeRgb24(v: Volume, out: string): Encoded {
  if (v.components !== 3) {
    throw new IoError('UNSUPPORTED_OUTPUT', `NIfTI output holds grayscale or RGB volumes, not ${v.components} components: write .nrrd or .mha`, { source: out })
  }
  const d = v.data
  const fits = !v.meta.hasRescale && (d instanceof Uint8Array || d instanceof Uint8ClampedArray)
  if (!fits) {
    throw new IoError('UNSUPPORTED_OUTPUT', 'NIfTI RGB24 holds 8-bit colour only: write .nrrd or .mha for deeper colour', { source: out })
  }
  return { datatype: 128, bitpix: 24, slope: 1, inter: 0, bytes: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) }
}

const hostLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

function toLittleEndian(a: Float32Array | Int16Array): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  if (hostLittleEndian) return bytes
  const out = new Uint8Array(bytes.length)
  const dv = new DataView(out.buffer)
  for (let i = 0; i < a.length; i++) {
    if (a instanceof Float32Array) dv.setFloat32(i * 4, a[i], true)
    else dv.setInt16(i * 2, a[i], true)
  }
  return out
}

/** The 348-byte NIfTI-1 header plus the 4-byte empty extension flag (vox_offset 352). */
function niftiHeader(v: Volume, enc: Encoded, description: string, wc?: number, ww?: number): Uint8Array {
  const buf = new Uint8Array(352)
  const dv = new DataView(buf.buffer)
  const i16 = (o: number, n: number) => dv.setInt16(o, n, true)
  const f32 = (o: number, n: number) => dv.setFloat32(o, n, true)
  dv.setInt32(0, 348, true)
  buf[38] = 'r'.charCodeAt(0)
  i16(40, 3)
  v.size.forEach((n, i) => i16(42 + 2 * i, n))
  for (let i = 4; i <= 7; i++) i16(40 + 2 * i, 1)
  i16(70, enc.datatype)
  i16(72, enc.bitpix)
  const q = directionToQuatern(v.direction)
  f32(76, q.qfac)
  v.spacing.forEach((s, i) => f32(80 + 4 * i, s))
  for (let i = 4; i <= 7; i++) f32(76 + 4 * i, 1)
  f32(108, 352)
  f32(112, enc.slope)
  f32(116, enc.inter)
  buf[123] = 2 // xyzt_units: mm
  if (wc !== undefined && ww !== undefined && ww > 0) {
    f32(124, wc + ww / 2)
    f32(128, wc - ww / 2)
  }
  const descrip = description.replace(/[^\x20-\x7e]/g, '?').slice(0, 79)
  for (let i = 0; i < descrip.length; i++) buf[148 + i] = descrip.charCodeAt(i)
  i16(252, 1)
  i16(254, 1)
  f32(256, q.b)
  f32(260, q.c)
  f32(264, q.d)
  const ras = indexToRas(v)
  f32(268, ras[3])
  f32(272, ras[7])
  f32(276, ras[11])
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) f32(280 + 16 * r + 4 * c, ras[r * 4 + c])
  buf.set([0x6e, 0x2b, 0x31, 0], 344) // "n+1\0"
  return buf
}
