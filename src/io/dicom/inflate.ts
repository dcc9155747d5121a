import { createInflateRaw } from 'node:zlib'
import dicomParser from 'dicom-parser'
import type { DataSet, ByteArrayParser } from 'dicom-parser'
import { IoError } from '../errors.js'
import type { Limits } from '../limits.js'

/**
 * Inflated bytes allowed before the Pixel Data element has been found. Real headers are a few
 * KB (enhanced multi-frame: a few MB); walking zeros costs ~25 ms/MiB in dicom-parser, so this
 * also bounds the time a bomb can cost us.
 */
export const DEFLATE_HEADER_BUDGET = 16 * 1024 * 1024

/** Probes for Pixel Data at these inflated sizes (×4 each time, so probing stays O(n)). */
const FIRST_PROBE = 64 * 1024

/** Room for what may follow the pixels (padding, trailing elements) once their size is known. */
function trailingSlack(pixelBytes: number): number {
  return 1024 * 1024 + Math.ceil(pixelBytes / 100)
}

/**
 * Inflates the deflated data set that starts at `deflateStart`, streaming, and returns
 * `bytes[0, position)` followed by the inflated bytes in one array (no second full-size copy). The output
 * is capped by `limits.maxInflatedBytes` AND by what the data set can legitimately need: once
 * the Pixel Data element shows up, rows × columns × samples × frames × bytes plus a small
 * slack; before that, DEFLATE_HEADER_BUDGET. A bomb therefore ends in TOO_LARGE after at most
 * that many inflated bytes, whatever it would expand to.
 */
export async function inflateDataSet(bytes: Uint8Array, position: number, deflateStart: number, source: string, limits: Limits): Promise<Uint8Array> {
  const hardCap = Math.min(limits.maxInflatedBytes, 2 ** 31 - 1 - position)
  let cap = Math.min(hardCap, DEFLATE_HEADER_BUDGET)
  let pixelsFound = false
  let out: Uint8Array = new Uint8Array(position + Math.min(cap, Math.max(FIRST_PROBE, 4 * (bytes.length - deflateStart))))
  out.set(bytes.subarray(0, position), 0)
  let end = position
  let nextProbe = FIRST_PROBE

  const tooLarge = (why: string) => new IoError('TOO_LARGE', `deflated DICOM data set expands beyond ${why}`, { source })
  const inflater = createInflateRaw({ chunkSize: 64 * 1024 })
  inflater.end(bytes.subarray(deflateStart))
  try {
    for await (const chunk of inflater as AsyncIterable<Buffer>) {
      if (end - position + chunk.length > cap) {
        throw tooLarge(
          pixelsFound
            ? `what its pixel data need (${cap} bytes)`
            : cap === hardCap
              ? `the configured limit of ${cap} bytes (RADDIFF_MAX_INFLATED_BYTES)`
              : `${cap} bytes without reaching the pixel data (deflate bomb?)`,
        )
      }
      if (end + chunk.length > out.length) out = grow(out, end + chunk.length, position + cap)
      out.set(chunk, end)
      end += chunk.length
      if (!pixelsFound && end - position >= nextProbe) {
        nextProbe *= 4
        const need = pixelNeed(out.subarray(0, end), position, limits, source)
        if (need !== undefined) {
          pixelsFound = true
          cap = Math.min(hardCap, need + trailingSlack(need))
          if (out.length < position + cap) out = grow(out, position + cap, position + cap)
        }
      }
    }
  } catch (e) {
    if (e instanceof IoError) throw e
    throw new IoError('TRUNCATED', 'deflated DICOM data set is damaged or cut short', { source, cause: e })
  } finally {
    inflater.destroy()
  }
  return out.subarray(0, end)
}

function grow(out: Uint8Array, atLeast: number, max: number): Uint8Array {
  const next = new Uint8Array(Math.min(max, Math.max(atLeast, out.length * 2)))
  next.set(out)
  return next
}

// the runtime exports the class; the bundled typings only declare its interface
export const DataSetCtor = (dicomParser as unknown as { DataSet: new (p: ByteArrayParser, b: Uint8Array, e: object) => DataSet }).DataSet

/**
 * Inflated bytes (from `position`) the data set needs up to the end of its pixels, once the
 * bytes so far reach the Pixel Data element; undefined while they do not (or cannot be parsed yet).
 */
function pixelNeed(bytes: Uint8Array, position: number, limits: Limits, source: string): number | undefined {
  const ds = new DataSetCtor(dicomParser.littleEndianByteArrayParser, bytes, {})
  try {
    const stream = new dicomParser.ByteStream(dicomParser.littleEndianByteArrayParser, bytes, position)
    dicomParser.parseDicomDataSetExplicit(ds, stream, bytes.length, { untilTag: 'x7fe00010' })
  } catch {
    // the last element is still incomplete: try again with more bytes
  }
  const pixels = ds.elements['x7fe00010']
  if (!pixels) return undefined
  const n = (tag: string, fallback: number) => (ds.elements[tag] ? (ds.uint16(tag) ?? fallback) : fallback)
  const frames = Number(ds.string('x00280008') ?? '1')
  const values = n('x00280010', 0) * n('x00280011', 0) * n('x00280002', 1) * (Number.isFinite(frames) && frames > 1 ? frames : 1)
  if (values > limits.maxVoxels) {
    throw new IoError('TOO_LARGE', `image needs ${values} voxels, above the cap of ${limits.maxVoxels} (raise RADDIFF_MAX_VOXELS if intended)`, { source })
  }
  return pixels.dataOffset - position + Math.ceil((values * n('x00280100', 16)) / 8)
}
