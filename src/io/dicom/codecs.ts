import { createRequire } from 'node:module'
import { Decoder as LosslessDecoder } from 'jpeg-lossless-decoder-js'

const require = createRequire(import.meta.url)

/** What a codec hands back: interleaved samples, little-endian, in `bytes`. */
export interface DecodedFrame {
  bytes: Uint8Array
  width: number
  height: number
  bitsPerSample: number
  components: number
}

interface EmscriptenDecoder {
  getEncodedBuffer(length: number): Uint8Array
  decode(): void
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean }
  getDecodedBuffer(): Uint8Array
  /** CharLS only: 0 = components in separate scans, decoded one plane after another */
  getInterleaveMode?(): number
  delete(): void
}
type Module = Record<string, new () => EmscriptenDecoder>

// stdout carries --json output: Emscripten must print nothing
const QUIET = { print() {}, printErr() {} }
const modules = new Map<string, Promise<Module>>()

function loadModule(specifier: string): Promise<Module> {
  let m = modules.get(specifier)
  if (!m) {
    const factory = require(specifier) as (opts: object) => Promise<Module>
    m = factory({ ...QUIET })
    modules.set(specifier, m)
  }
  return m
}

async function runEmscripten(specifier: string, className: string, encoded: Uint8Array): Promise<DecodedFrame> {
  const mod = await loadModule(specifier)
  let dec: EmscriptenDecoder
  try {
    dec = new mod[className]()
  } catch (e) {
    // an earlier abort can leave the WASM instance unusable: start a fresh one next time
    modules.delete(specifier)
    throw e
  }
  try {
    dec.getEncodedBuffer(encoded.length).set(encoded)
    dec.decode()
    const info = dec.getFrameInfo()
    // the decoded buffer is a view into WASM memory: copy before the decoder is freed
    let bytes: Uint8Array = new Uint8Array(dec.getDecodedBuffer())
    // CharLS hands back colour in the stream's own interleave: planar for ILV none (what
    // gdcmconv --jpegls writes for PlanarConfiguration 1); the loader expects interleaved
    if (info.componentCount > 1 && dec.getInterleaveMode?.() === 0) {
      bytes = interleavePlanes(bytes, info.componentCount, info.width * info.height, info.bitsPerSample <= 8 ? 1 : 2)
    }
    return { bytes, width: info.width, height: info.height, bitsPerSample: info.bitsPerSample, components: info.componentCount }
  } catch (e) {
    modules.delete(specifier)
    throw e
  } finally {
    try {
      dec.delete()
    } catch {
      modules.delete(specifier)
    }
  }
}

function interleavePlanes(planar: Uint8Array, components: number, pixels: number, bytesPerSample: number): Uint8Array {
  const out = new Uint8Array(planar.length)
  for (let c = 0; c < components; c++) {
    for (let p = 0; p < pixels; p++) {
      for (let b = 0; b < bytesPerSample; b++) out[(p * components + c) * bytesPerSample + b] = planar[(c * pixels + p) * bytesPerSample + b]
    }
  }
  return out
}

export const decodeJ2K = (b: Uint8Array) => runEmscripten('@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder', b)
export const decodeJpegLS = (b: Uint8Array) => runEmscripten('@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder', b)
export const decodeJpegBaseline = (b: Uint8Array) =>
  runEmscripten('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', 'JPEGDecoder', b)
export const decodeHTJ2K = (b: Uint8Array) => runEmscripten('@cornerstonejs/codec-openjph/wasmjs', 'HTJ2KDecoder', b)

/**
 * jpeg-lossless-decoder-js 2.1.2 with the two faults the transfer-syntax matrix found (#16),
 * fixed here because the package has no release that fixes them:
 * - Predictor 7 is computed as (Ra + Rb) / 2 in floating point, and the final `& 0xffff`
 *   truncates a negative result's fraction toward zero instead of flooring it, so values that
 *   wrap below 0 come back one too high (0 for 65535, −7 for −8). T.81 H.1.2.1 and IJG's
 *   PREDICTOR7 use the integer shift (Ra + Rb) >> 1.
 * - When the last Huffman code ends exactly on the byte before EOI, the decoder takes it for
 *   the marker and never writes the last pixel, which stays 0 (a CT's −2048 corner came back
 *   2048 off). Two zero bytes before EOI give its look-ahead data to read; they follow the last
 *   code, so they decode to nothing.
 * A frame the decoder still leaves short is refused rather than returned with zeros.
 */
class Jpeg14Decoder extends LosslessDecoder {
  override select7(compOffset?: number): number {
    return (this.getPreviousX(compOffset) + this.getPreviousY(compOffset)) >> 1
  }
}

export function decodeJpegLossless(b: Uint8Array, bitsAllocated: number): DecodedFrame {
  const bytesPerSample = bitsAllocated <= 8 ? 1 : 2
  const stream = padBeforeEoi(b)
  const dec = new Jpeg14Decoder()
  const out = dec.decode(stream.buffer as ArrayBuffer, stream.byteOffset, stream.length, bytesPerSample) as ArrayLike<number> & {
    buffer: ArrayBuffer
    byteOffset: number
    byteLength: number
  }
  if (dec.yLoc < dec.yDim) throw new Error('JPEG lossless stream ended before the last pixel')
  return {
    bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
    width: 0,
    height: 0,
    bitsPerSample: bytesPerSample * 8,
    components: 0,
  }
}

/** The stream with 00 00 inserted before its EOI (FF D9, possibly followed by DICOM's even-length pad). */
function padBeforeEoi(b: Uint8Array): Uint8Array {
  for (let i = b.length - 2; i >= Math.max(0, b.length - 4); i--) {
    if (b[i] === 0xff && b[i + 1] === 0xd9) {
      const out = new Uint8Array(b.length + 2)
      out.set(b.subarray(0, i), 0)
      out.set(b.subarray(i), i + 2)
      return out
    }
  }
  return b
}
