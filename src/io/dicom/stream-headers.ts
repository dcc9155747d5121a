import { IoError } from '../errors.js'
import type { PixelFormat } from './types.js'

/**
 * Container checks run BEFORE a compressed frame reaches a codec: the stream's own header
 * must describe the image the DICOM header describes. The codecs (OpenJPEG, OpenJPH, CharLS,
 * libjpeg-turbo, GDCM) allocate from the stream's header, so a corrupt size there costs
 * gigabytes before any error (fuzz seed 2026: #4647, #5456, #9988).
 */

const fail = (source: string, what: string): never => {
  throw new IoError('DECODE_FAILED', `compressed frame does not match the image header: ${what}`, { source })
}

// SOF0-3, 5-7, 9-11, 13-15 (ITU T.81 B.1.1.3) and SOF55 (JPEG-LS, T.87)
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf, 0xf7])
// markers without a length field: TEM, RST0-7, SOI, EOI
const STANDALONE = (m: number) => m === 0x01 || (m >= 0xd0 && m <= 0xd9)

/** JPEG (baseline, extended, lossless) and JPEG-LS: walk the markers up to SOFn. */
export function checkJpegStream(b: Uint8Array, f: PixelFormat, source: string): void {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) fail(source, 'no JPEG start-of-image marker')
  let i = 2
  for (;;) {
    if (i + 4 > b.length) fail(source, 'no JPEG frame header (SOF) before the end of the frame')
    if (b[i] !== 0xff) fail(source, 'JPEG marker expected')
    while (i < b.length && b[i] === 0xff) i++ // fill bytes
    if (i >= b.length) fail(source, 'no JPEG frame header (SOF) before the end of the frame')
    const m = b[i++]
    if (STANDALONE(m)) {
      if (m === 0xd9) fail(source, 'JPEG stream ends before its frame header (SOF)')
      continue
    }
    if (i + 2 > b.length) fail(source, 'JPEG marker segment runs past the end of the frame')
    const len = (b[i] << 8) | b[i + 1]
    if (len < 2 || i + len > b.length) fail(source, 'JPEG marker segment runs past the end of the frame')
    if (m === 0xda) fail(source, 'JPEG scan starts before the frame header (SOF)')
    if (SOF.has(m)) {
      if (len < 8) fail(source, 'JPEG frame header (SOF) too short')
      const precision = b[i + 2]
      const height = (b[i + 3] << 8) | b[i + 4]
      const width = (b[i + 5] << 8) | b[i + 6]
      const comps = b[i + 7]
      if (len < 8 + 3 * comps) fail(source, 'JPEG frame header (SOF) too short for its components')
      if (height !== f.rows || width !== f.columns) fail(source, `JPEG frame is ${width}×${height}, header says ${f.columns}×${f.rows}`)
      if (comps !== f.samplesPerPixel) fail(source, `JPEG frame has ${comps} components, header says ${f.samplesPerPixel} samples per pixel`)
      if (precision < 2 || precision > f.bitsAllocated) fail(source, `JPEG precision ${precision} bits does not fit ${f.bitsAllocated} bits allocated`)
      return
    }
    i += len
  }
}

/** JPEG 2000 / HTJ2K: the SIZ marker segment that must follow SOC (T.800 A.5.1), in a bare or JP2-wrapped codestream. */
export function checkJ2kStream(b: Uint8Array, f: PixelFormat, source: string): void {
  let i = -1
  for (let k = 0; k + 4 <= b.length; k++) {
    if (b[k] === 0xff && b[k + 1] === 0x4f && b[k + 2] === 0xff && b[k + 3] === 0x51) {
      i = k + 4
      break
    }
  }
  if (i < 0) fail(source, 'no JPEG 2000 codestream header (SOC + SIZ)')
  if (i + 38 > b.length) fail(source, 'JPEG 2000 size marker (SIZ) runs past the end of the frame')
  const dv = new DataView(b.buffer, b.byteOffset + i, b.length - i)
  const lsiz = dv.getUint16(0)
  const [xsiz, ysiz, xo, yo, xt, yt, xto, yto] = [4, 8, 12, 16, 20, 24, 28, 32].map((o) => dv.getUint32(o))
  const csiz = dv.getUint16(36)
  if (lsiz !== 38 + 3 * csiz || i + lsiz > b.length) fail(source, 'JPEG 2000 size marker (SIZ) has an inconsistent length')
  if (xsiz <= xo || ysiz <= yo) fail(source, 'JPEG 2000 image area is empty')
  const width = xsiz - xo
  const height = ysiz - yo
  if (width !== f.columns || height !== f.rows) fail(source, `JPEG 2000 image is ${width}×${height}, header says ${f.columns}×${f.rows}`)
  if (csiz !== f.samplesPerPixel) fail(source, `JPEG 2000 image has ${csiz} components, header says ${f.samplesPerPixel} samples per pixel`)
  // T.800 A.5.1: tile grid anchored at or before the image origin, at most 65535 tiles
  if (xt === 0 || yt === 0 || xto > xo || yto > yo || xto + xt <= xo || yto + yt <= yo) fail(source, 'JPEG 2000 tile grid is invalid')
  if (Math.ceil((xsiz - xto) / xt) * Math.ceil((ysiz - yto) / yt) > 65535) fail(source, 'JPEG 2000 image has too many tiles')
  for (let c = 0; c < csiz; c++) {
    const ssiz = dv.getUint8(38 + 3 * c)
    const precision = (ssiz & 0x7f) + 1
    if (precision > f.bitsAllocated) fail(source, `JPEG 2000 precision ${precision} bits does not fit ${f.bitsAllocated} bits allocated`)
    if (dv.getUint8(39 + 3 * c) !== 1 || dv.getUint8(40 + 3 * c) !== 1) fail(source, 'JPEG 2000 subsampled components are not supported')
  }
}

/** RLE Lossless: the 64-byte header of one frame (PS3.5 G.3.1). */
export function checkRleStream(b: Uint8Array, f: PixelFormat, source: string): void {
  if (b.length < 64) fail(source, 'RLE frame shorter than its 64-byte header')
  const dv = new DataView(b.buffer, b.byteOffset, 64)
  const segments = dv.getUint32(0, true)
  const expected = f.samplesPerPixel * Math.ceil(f.bitsAllocated / 8)
  if (segments < 1 || segments > 15) fail(source, `RLE header names ${segments} segments (1 to 15 allowed)`)
  if (segments !== expected) fail(source, `RLE frame has ${segments} segments, the header needs ${expected}`)
  let prev = 0
  for (let s = 0; s < segments; s++) {
    const off = dv.getUint32(4 + 4 * s, true)
    if (s === 0 ? off !== 64 : off <= prev) fail(source, 'RLE segment offsets are not increasing from 64')
    if (off >= b.length) fail(source, 'RLE segment offset lies past the end of the frame')
    prev = off
  }
}
