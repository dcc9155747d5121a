import dicomParser from 'dicom-parser'
import type { DataSet } from 'dicom-parser'
import { IoError } from '../errors.js'
import { decodeHTJ2K, decodeJ2K, decodeJpegBaseline, decodeJpegLossless, decodeJpegLS, type DecodedFrame } from './codecs.js'
import { decodeWithGdcm } from './gdcm.js'
import { gdcmInputFile } from './gdcm-input.js'
import type { ParsedDicom } from './parse.js'
import { checkJ2kStream, checkJpegStream, checkRleStream } from './stream-headers.js'
import { transferSyntaxInfo, type PixelCodec } from './transfer-syntax.js'
import type { FileHeader, Palette } from './types.js'

/**
 * Stored values of the frames of one file, one array per frame (samples interleaved),
 * with unused high bits masked / sign-extended, planar colour interleaved and YBR → RGB.
 */
export class FramePixels {
  private gdcm?: ArrayLike<number>

  constructor(
    private readonly parsed: ParsedDicom,
    private readonly header: FileHeader,
  ) {}

  async frame(index: number): Promise<ArrayLike<number>> {
    const h = this.header
    const f = h.format
    const source = h.ref.name
    const n = f.rows * f.columns * f.samplesPerPixel
    const codec = transferSyntaxInfo(h.transferSyntaxUID).codec
    let values: ArrayLike<number>
    if (codec === 'native' || codec === 'deflate' || codec === 'native-be') {
      values = this.native(index, n, codec === 'native-be')
    } else if (codec === 'rle' || codec === 'jpeg-extended') {
      this.gdcm ??= await this.decodeAllWithGdcm(codec)
      if (this.gdcm.length !== n * h.numberOfFrames) throw new IoError('DECODE_FAILED', 'decoded image size does not match the header', { source })
      // lossy decoders may overshoot the stored range: clamp rather than wrap
      values = clampToStored(sliceOf(this.gdcm, index * n, n), f.bitsStored, f.pixelRepresentation)
    } else {
      values = await this.decodeEncapsulated(index, n, codec)
      // codecs deliver interleaved colour already converted to RGB. A lossy codec working at a
      // precision above BitsStored may overshoot the stored range (JPEG-LS near-lossless: 4097
      // for 4095): masking would wrap that to 1, so unsigned lossy values are clamped instead.
      // Signed data stay masked: the codec's sign convention at the overshoot is not knowable.
      values = LOSSY.has(h.transferSyntaxUID) && !f.pixelRepresentation && !f.floatPixels
        ? clampToStored(values instanceof Float64Array ? values : Float64Array.from(values), f.bitsStored, 0)
        : fixBits(values, f.bitsStored, f.pixelRepresentation, f.floatPixels)
      return h.palette ? applyPalette(values, h.palette) : values
    }
    values = fixBits(values, f.bitsStored, f.pixelRepresentation, f.floatPixels)
    if (h.palette) return applyPalette(values, h.palette)
    if (f.samplesPerPixel === 3) values = toInterleavedRgb(values, f.rows * f.columns, f.planarConfiguration, f.photometric, codec !== 'rle', source)
    return values
  }

  private native(index: number, n: number, bigEndian: boolean): ArrayLike<number> {
    const { dataSet: ds } = this.parsed
    const f = this.header.format
    const el = ds.elements['x7fe00010'] ?? ds.elements['x7fe00008']
    if (f.bitsAllocated === 1) return unpackBits(ds.byteArray, el.dataOffset, index * n, n)
    const bpp = f.bitsAllocated / 8
    // native 4:2:2 colour holds two bytes per pixel, not three
    if (f.photometric === 'YBR_FULL_422') n = f.rows * f.columns * 2
    const start = el.dataOffset + index * n * bpp
    const dv = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + start, n * bpp)
    const le = !bigEndian
    const out = new Float64Array(n)
    if (f.floatPixels) for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, le)
    else if (bpp === 1) for (let i = 0; i < n; i++) out[i] = dv.getUint8(i)
    else if (bpp === 2) for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, le)
    else for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, le)
    return out
  }

  /** Every frame is located and its stream header checked before GDCM sees any of them. */
  private async decodeAllWithGdcm(codec: PixelCodec): Promise<ArrayLike<number>> {
    const h = this.header
    const frames: Uint8Array[] = []
    for (let i = 0; i < h.numberOfFrames; i++) frames.push(this.checkedFrame(i, codec))
    return decodeWithGdcm(gdcmInputFile(h, frames), h.ref.name)
  }

  private checkedFrame(index: number, codec: PixelCodec): Uint8Array {
    const h = this.header
    const source = h.ref.name
    let encoded: Uint8Array
    try {
      encoded = encapsulatedFrame(this.parsed.dataSet, index, h.numberOfFrames)
    } catch (e) {
      throw new IoError('DECODE_FAILED', 'compressed frame could not be located in the pixel data', { source, cause: e })
    }
    if (codec === 'rle') checkRleStream(encoded, h.format, source)
    else if (codec === 'j2k' || codec === 'htj2k') checkJ2kStream(encoded, h.format, source)
    else checkJpegStream(encoded, h.format, source)
    return encoded
  }

  private async decodeEncapsulated(index: number, n: number, codec: PixelCodec): Promise<ArrayLike<number>> {
    const h = this.header
    const f = h.format
    const source = h.ref.name
    const encoded = this.checkedFrame(index, codec)
    let d: DecodedFrame
    try {
      if (codec === 'j2k') d = await decodeJ2K(encoded)
      else if (codec === 'htj2k') d = await decodeHTJ2K(encoded)
      else if (codec === 'jpeg-ls') d = await decodeJpegLS(encoded)
      else if (codec === 'jpeg-baseline') d = await decodeJpegBaseline(encoded)
      else d = decodeJpegLossless(encoded, f.bitsAllocated)
    } catch (e) {
      throw new IoError('DECODE_FAILED', 'the codec could not decode this frame', { source, cause: e })
    }
    const bps = d.bytes.length / n
    // a codec may widen 8-bit samples, never hand back more than 32 bits or a partial frame
    if (bps !== 1 && bps !== 2 && bps !== 4) {
      throw new IoError('DECODE_FAILED', 'decoded frame size does not match rows × columns × samples', { source })
    }
    const dv = new DataView(d.bytes.buffer, d.bytes.byteOffset, d.bytes.byteLength)
    const out = new Float64Array(n)
    if (bps === 1) for (let i = 0; i < n; i++) out[i] = d.bytes[i]
    else if (bps === 2) for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true)
    else for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true)
    return out
  }
}

/** Lossy syntaxes: JPEG baseline / extended, JPEG-LS near-lossless, JPEG 2000 and HTJ2K (not the lossless-only UIDs). */
const LOSSY = new Set(['1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51', '1.2.840.10008.1.2.4.81', '1.2.840.10008.1.2.4.91', '1.2.840.10008.1.2.4.203'])

function encapsulatedFrame(ds: DataSet, index: number, frames: number): Uint8Array {
  const el = ds.elements['x7fe00010']
  const fragments = el.fragments ?? []
  if (frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length) as Uint8Array
  if (el.basicOffsetTable && el.basicOffsetTable.length === frames) {
    return dicomParser.readEncapsulatedImageFrame(ds, el, index, el.basicOffsetTable) as Uint8Array
  }
  if (fragments.length === frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, index, 1) as Uint8Array
  const bot = dicomParser.createJPEGBasicOffsetTable(ds, el)
  return dicomParser.readEncapsulatedImageFrame(ds, el, index, bot) as Uint8Array
}

/** Binary frames are packed LSB first and need not start on a byte boundary (PS3.5 8.1.1). */
function unpackBits(bytes: Uint8Array, offset: number, firstBit: number, n: number): Float64Array {
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const b = firstBit + i
    out[i] = (bytes[offset + (b >> 3)] >> (b & 7)) & 1
  }
  return out
}

/** Mask to BitsStored; sign-extend signed data whose sign bit is BitsStored-1 (e.g. signed 12-bit). */
function fixBits(v: ArrayLike<number>, bitsStored: number, signed: number, isFloat: boolean): ArrayLike<number> {
  if (isFloat) return v
  const out = v instanceof Float64Array ? v : Float64Array.from(v)
  if (bitsStored >= 32) {
    if (signed) for (let i = 0; i < out.length; i++) out[i] = out[i] | 0
    return out
  }
  const mask = 2 ** bitsStored
  const half = mask / 2
  for (let i = 0; i < out.length; i++) {
    let x = ((out[i] % mask) + mask) % mask
    if (signed && x >= half) x -= mask
    out[i] = x
  }
  return out
}

/** Values below the first mapped one take entry 0, above the table its last entry (as pydicom). */
function applyPalette(v: ArrayLike<number>, p: Palette): Float64Array {
  const out = new Float64Array(v.length * 3)
  const last = p.red.length - 1
  for (let i = 0; i < v.length; i++) {
    const j = Math.min(last, Math.max(0, v[i] - p.firstMapped))
    out[i * 3] = p.red[j]
    out[i * 3 + 1] = p.green[j]
    out[i * 3 + 2] = p.blue[j]
  }
  return out
}

function clampToStored(v: Float64Array, bitsStored: number, signed: number): Float64Array {
  const lo = signed ? -(2 ** (bitsStored - 1)) : 0
  const hi = signed ? 2 ** (bitsStored - 1) - 1 : 2 ** bitsStored - 1
  for (let i = 0; i < v.length; i++) v[i] = Math.min(hi, Math.max(lo, v[i]))
  return v
}

function sliceOf(a: ArrayLike<number>, start: number, n: number): Float64Array {
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) out[i] = a[start + i]
  return out
}

function toInterleavedRgb(v: ArrayLike<number>, pixels: number, planar: number, photometric: string, mayBePlanar: boolean, source: string): Float64Array {
  const out = new Float64Array(pixels * 3)
  if (photometric === 'YBR_FULL_422' && mayBePlanar) {
    // native 4:2:2: Y0 Y1 Cb Cr per pixel pair
    for (let p = 0; p + 1 < pixels; p += 2) {
      const b = p * 2
      const [y0, y1, cb, cr] = [v[b], v[b + 1], v[b + 2], v[b + 3]]
      ybr(out, p * 3, y0, cb, cr)
      ybr(out, p * 3 + 3, y1, cb, cr)
    }
    return out
  }
  if (photometric !== 'RGB' && photometric !== 'YBR_FULL') {
    throw new IoError('UNSUPPORTED_PIXEL_FORMAT', `colour model ${photometric.replace(/[^A-Z0-9_]/g, '')} is not supported uncompressed`, { source })
  }
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) out[p * 3 + c] = planar === 1 && mayBePlanar ? v[c * pixels + p] : v[p * 3 + c]
  }
  if (photometric === 'YBR_FULL') for (let p = 0; p < pixels; p++) ybr(out, p * 3, out[p * 3], out[p * 3 + 1], out[p * 3 + 2])
  return out
}

/** ITU-R BT.601 full-range YCbCr → RGB, as PS3.3 C.7.6.3.1.2 and pydicom's convert_color_space. */
function ybr(out: Float64Array, o: number, y: number, cb: number, cr: number): void {
  const clamp = (x: number) => Math.min(255, Math.max(0, Math.round(x)))
  out[o] = clamp(y + 1.402 * (cr - 128))
  out[o + 1] = clamp(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128))
  out[o + 2] = clamp(y + 1.772 * (cb - 128))
}
