import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { IoError } from '../errors.js'

/**
 * RLE and 12-bit JPEG (Process 2 & 4) have no Cornerstone codec here: GDCM (itk-wasm) decodes
 * them. It reads a file, so it gets the clean copy `gdcmInputFile` builds (validated frames,
 * no rescale: it returns stored values); frames come back concatenated.
 */
export async function decodeWithGdcm(file: Uint8Array, source: string): Promise<ArrayLike<number>> {
  const { gdcmReadImageNode } = await import('@itk-wasm/image-io')
  const dir = await mkdtemp(path.join(tmpdir(), 'raddiff-gdcm-'))
  const p = path.join(dir, 'frames.dcm')
  let data: ArrayLike<number> | null | undefined
  const restore = silenceStdout()
  try {
    await writeFile(p, file)
    const { couldRead, image } = await gdcmReadImageNode(p)
    if (!couldRead) throw new Error('GDCM could not read the file')
    data = image.data as ArrayLike<number> | null
  } catch (e) {
    throw new IoError('DECODE_FAILED', 'GDCM could not decode the compressed pixel data', { source, cause: e })
  } finally {
    restore()
    await rm(dir, { recursive: true, force: true })
  }
  if (!data) throw new IoError('DECODE_FAILED', 'GDCM returned no pixel data', { source })
  return data
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
