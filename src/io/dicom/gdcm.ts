import { RaddiffError } from '../errors.js'

/**
 * RLE and 12-bit JPEG (Process 2 & 4) have no Cornerstone codec here: GDCM (itk-wasm) decodes
 * the whole file. GDCM applies RescaleSlope/Intercept itself (top level or shared functional
 * group: checked against pydicom on CT_small re-encoded as RLE and on enhanced CT0012 RLE), so
 * its output is mapped back to stored values by rounding; frames come back concatenated.
 */
export async function decodeWithGdcm(path: string, source: string, slope: number, intercept: number): Promise<ArrayLike<number>> {
  const { gdcmReadImageNode } = await import('@itk-wasm/image-io')
  let data: ArrayLike<number> | null | undefined
  const restore = silenceStdout()
  try {
    const { couldRead, image } = await gdcmReadImageNode(path)
    if (!couldRead) throw new Error('GDCM could not read the file')
    data = image.data as ArrayLike<number> | null
  } catch (e) {
    throw new RaddiffError('DECODE_FAILED', 'GDCM could not decode the compressed pixel data', { source, cause: e })
  } finally {
    restore()
  }
  if (!data) throw new RaddiffError('DECODE_FAILED', 'GDCM returned no pixel data', { source })
  if (slope === 1 && intercept === 0) return data
  const out = new Float64Array(data.length)
  for (let i = 0; i < data.length; i++) out[i] = Math.round((data[i] - intercept) / slope)
  return out
}

/** itk-wasm pipelines print codec chatter; stdout carries --json output and stderr is for our messages. */
function silenceStdout(): () => void {
  const out = process.stdout.write
  const err = process.stderr.write
  const { log, warn, error } = console
  process.stdout.write = (() => true) as typeof process.stdout.write
  process.stderr.write = (() => true) as typeof process.stderr.write
  console.log = console.warn = console.error = () => {}
  return () => {
    process.stdout.write = out
    process.stderr.write = err
    Object.assign(console, { log, warn, error })
  }
}
