import dicomParser from 'dicom-parser'
import type { DataSet } from 'dicom-parser'
import { IoError } from '../errors.js'
import type { Limits } from '../limits.js'
import { rawDataSetLayout } from './detect.js'
import { DataSetCtor, inflateDataSet } from './inflate.js'
import { IMPLICIT_LE } from './transfer-syntax.js'

export interface ParsedDicom {
  dataSet: DataSet
  transferSyntaxUID: string
}

const EXPLICIT_LE = '1.2.840.10008.1.2.1'
const EXPLICIT_BE = '1.2.840.10008.1.2.2'
const DEFLATED = '1.2.840.10008.1.2.1.99'

/**
 * Parses a whole DICOM file (header and element offsets; pixel data stay in place). Every
 * dicom-parser failure becomes an IoError; its text (which may echo values) goes to `cause`.
 * A deflated data set is inflated first, streaming and bounded (see inflateDataSet).
 */
export async function parseDicomBytes(bytes: Uint8Array, source: string, limits: Limits): Promise<ParsedDicom> {
  try {
    return parseWith(bytes, source, undefined)
  } catch (e) {
    // dicom-parser asks for inflation synchronously; it is done here, asynchronously, then parsed again
    if (!(e instanceof NeedsInflate)) throw e
    const start = metaEnd(bytes, e.position)
    return parseWith(bytes, source, { bytes: await inflateDataSet(bytes, start, start, source, limits), start })
  }
}

/**
 * dicom-parser (1.8) parses an inflated array from offset 0, reading the preamble and meta
 * group again as if they were data set elements; parse from the data set's start instead.
 */
function parseInflated(bytes: Uint8Array, inflated: Inflated): DataSet {
  const meta = dicomParser.readPart10Header(bytes)
  const elements = Object.fromEntries(Object.entries(meta.elements).filter(([tag]) => tag.startsWith('x0002')))
  const dataSet = new DataSetCtor(dicomParser.littleEndianByteArrayParser, inflated.bytes, elements)
  const stream = new dicomParser.ByteStream(dicomParser.littleEndianByteArrayParser, inflated.bytes, inflated.start)
  dicomParser.parseDicomDataSetExplicit(dataSet, stream, inflated.bytes.length)
  return dataSet
}

/**
 * Where the meta group really ends. dicom-parser reads meta elements until a tag above group
 * 0002, so the first deflated bytes may pass for a group 0000/0001 element and push its
 * position past the meta group; like pydicom, the meta group is only group 0002.
 */
function metaEnd(bytes: Uint8Array, parserPosition: number): number {
  try {
    let end = 132
    for (const el of Object.values(dicomParser.readPart10Header(bytes).elements)) {
      if (el.tag.startsWith('x0002')) end = Math.max(end, el.dataOffset + el.length)
    }
    return Math.min(end, parserPosition)
  } catch {
    return parserPosition
  }
}

class NeedsInflate {
  constructor(readonly position: number) {}
}

/** Meta header + inflated data set in one array; the data set starts at `start`. */
interface Inflated {
  bytes: Uint8Array
  start: number
}

function parseWith(bytes: Uint8Array, source: string, inflated: Inflated | undefined): ParsedDicom {
  const hasPreamble =
    bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d
  let dataSet: DataSet
  let transferSyntaxUID: string
  try {
    if (inflated) {
      dataSet = parseInflated(bytes, inflated)
      transferSyntaxUID = DEFLATED
    } else if (hasPreamble) {
      const inflater = (_arr: Uint8Array, pos: number) => {
        throw new NeedsInflate(pos)
      }
      dataSet = dicomParser.parseDicom(bytes, { inflater } as never)
      transferSyntaxUID = dataSet.string('x00020010')?.replace(/\0/g, '').trim() || IMPLICIT_LE
    } else {
      const layout = rawDataSetLayout(bytes)
      if (!layout) throw new IoError('NOT_AN_IMAGE', 'not a DICOM file (no DICM marker and no recognisable data set)', { source })
      transferSyntaxUID = !layout.littleEndian ? EXPLICIT_BE : layout.explicitVR ? EXPLICIT_LE : IMPLICIT_LE
      dataSet = dicomParser.parseDicom(bytes, { TransferSyntaxUID: transferSyntaxUID })
    }
  } catch (e) {
    const inner = (e as { exception?: unknown })?.exception
    if (e instanceof NeedsInflate) throw e
    if (inner instanceof NeedsInflate) throw inner
    const ours = e instanceof IoError || inner instanceof IoError
    const retry = hasPreamble && !ours && !inflated ? reparseWithSniffedSyntax(bytes) : undefined
    if (!retry) throw wrapParserError(e, source)
    ;({ dataSet, transferSyntaxUID } = retry)
  }
  checkElementBounds(dataSet, source)
  return { dataSet, transferSyntaxUID }
}

/**
 * Some writers declare one VR style in the meta header and write the other, or omit the
 * transfer syntax (pydicom's SC_rgb_jpeg.dcm, meta_missing_tsyntax.dcm). Like pydicom, sniff the
 * data set after the meta group; the declared syntax still decides how pixels are decoded.
 */
function reparseWithSniffedSyntax(bytes: Uint8Array): ParsedDicom | undefined {
  try {
    const meta = dicomParser.readPart10Header(bytes)
    let metaEnd = 132
    for (const el of Object.values(meta.elements)) {
      if (el.tag.startsWith('x0002')) metaEnd = Math.max(metaEnd, el.dataOffset + el.length)
    }
    const rest = bytes.subarray(metaEnd)
    const layout = rawDataSetLayout(rest)
    if (!layout) return undefined
    const declared = meta.elements['x00020010'] ? meta.string('x00020010')?.replace(/\0/g, '').trim() : undefined
    const guessed = !layout.littleEndian ? EXPLICIT_BE : layout.explicitVR ? EXPLICIT_LE : IMPLICIT_LE
    const declaredStyle = declared === IMPLICIT_LE ? IMPLICIT_LE : declared === EXPLICIT_BE ? EXPLICIT_BE : EXPLICIT_LE
    if (declared && declaredStyle === guessed) return undefined
    const dataSet = dicomParser.parseDicom(rest, { TransferSyntaxUID: guessed })
    const pixels = dataSet.elements['x7fe00010']
    if (pixels?.hadUndefinedLength && !pixels.encapsulatedPixelData && guessed === IMPLICIT_LE) {
      // implicit VR cannot tell fragments from sequence items: re-read them as fragments
      const stream = new dicomParser.ByteStream(dicomParser.littleEndianByteArrayParser, dataSet.byteArray, pixels.dataOffset)
      pixels.encapsulatedPixelData = true
      pixels.items = undefined
      dicomParser.findEndOfEncapsulatedElement(stream, pixels, [])
    }
    return { dataSet, transferSyntaxUID: declared || guessed }
  } catch {
    return undefined
  }
}

function wrapParserError(e: unknown, source: string): IoError {
  if (e instanceof IoError) return e
  // dicom-parser throws either strings or { exception, dataSet }
  const inner = typeof e === 'object' && e !== null && 'exception' in e ? (e as { exception: unknown }).exception : e
  if (inner instanceof IoError) return inner
  const text = String(inner instanceof Error ? inner.message : inner)
  if (/DICM prefix not found|not a valid DICOM/i.test(text)) {
    return new IoError('NOT_AN_IMAGE', 'not a DICOM file (no DICM marker)', { source, cause: e })
  }
  if (/end of buffer|past the end|buffer overread|beyond|overrun|eof/i.test(text)) {
    return new IoError('TRUNCATED', 'the DICOM file ends in the middle of an element', { source, cause: e })
  }
  if (/length|offset/i.test(text)) {
    return new IoError('ELEMENT_OUT_OF_BOUNDS', 'a DICOM element length points past the end of the file', { source, cause: e })
  }
  return new IoError('INVALID_HEADER', 'the DICOM header could not be parsed', { source, cause: e })
}

/**
 * dicom-parser accepts lengths past the end for the last element (always in implicit VR, where
 * it never checks); we do not, for Pixel Data either: explicit VR already fails there, and a
 * length the file cannot hold means the file was cut or damaged, whatever rows × columns say.
 */
function checkElementBounds(dataSet: DataSet, source: string): void {
  const end = dataSet.byteArray.length
  for (const el of Object.values(dataSet.elements)) {
    if (el.length === 0xffffffff) continue
    if (el.dataOffset + el.length > end) {
      const code = el.tag === 'x7fe00010' || el.tag === 'x7fe00008' ? 'TRUNCATED' : 'ELEMENT_OUT_OF_BOUNDS'
      throw new IoError(code, 'a DICOM element runs past the end of the file (file truncated?)', { source })
    }
  }
}
