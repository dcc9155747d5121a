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
    const bytes = new Uint8Array(dec.getDecodedBuffer())
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

export const decodeJ2K = (b: Uint8Array) => runEmscripten('@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder', b)
export const decodeJpegLS = (b: Uint8Array) => runEmscripten('@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder', b)
export const decodeJpegBaseline = (b: Uint8Array) =>
  runEmscripten('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', 'JPEGDecoder', b)
export const decodeHTJ2K = (b: Uint8Array) => runEmscripten('@cornerstonejs/codec-openjph/wasmjs', 'HTJ2KDecoder', b)

export function decodeJpegLossless(b: Uint8Array, bitsAllocated: number): DecodedFrame {
  const bytesPerSample = bitsAllocated <= 8 ? 1 : 2
  const out = new LosslessDecoder().decode(b.buffer as ArrayBuffer, b.byteOffset, b.length, bytesPerSample) as ArrayLike<number> & {
    buffer: ArrayBuffer
    byteOffset: number
    byteLength: number
  }
  return {
    bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
    width: 0,
    height: 0,
    bitsPerSample: bytesPerSample * 8,
    components: 0,
  }
}
