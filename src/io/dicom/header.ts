import type { DataSet } from 'dicom-parser'
import { IoError } from '../errors.js'
import type { Limits } from '../limits.js'
import type { Vec3 } from '../../volume/volume.js'
import type { DicomSourceInfo } from '../../volume/metadata.js'
import { readCsaMosaicInfo } from './csa.js'
import type { ParsedDicom } from './parse.js'
import { isNativeCodec, transferSyntaxInfo } from './transfer-syntax.js'
import type { DicomFileRef, FileHeader, FrameHeader, Palette, PixelFormat } from './types.js'

const PIXEL_DATA = 'x7fe00010'
const FLOAT_PIXEL_DATA = 'x7fe00008'

/** Header of one file, validated against its own pixel data and the limits, without decoding pixels. */
export function readFileHeader(parsed: ParsedDicom, ref: DicomFileRef, limits: Limits): FileHeader {
  const { dataSet: ds, transferSyntaxUID } = parsed
  const source = ref.name
  const pixelEl = ds.elements[PIXEL_DATA] ?? ds.elements[FLOAT_PIXEL_DATA]
  if (!pixelEl && ds.elements['x7fe00009']) {
    throw new IoError('UNSUPPORTED_PIXEL_FORMAT', 'Double Float Pixel Data (64-bit) is not supported', { source })
  }
  if (!pixelEl) {
    throw new IoError('NO_IMAGE_DATA', 'DICOM object holds no pixel data (report, structure set or presentation state?)', { source })
  }
  const syntax = transferSyntaxInfo(transferSyntaxUID)
  if (syntax.codec === 'unsupported') {
    const uid = /^[0-9.]{1,64}$/.test(transferSyntaxUID) ? transferSyntaxUID : 'unreadable UID'
    throw new IoError('UNSUPPORTED_TRANSFER_SYNTAX', `transfer syntax ${syntax.name} (${uid}) is not supported; convert it to an uncompressed syntax first (e.g. dcmdjpeg, gdcmconv --raw)`, { source })
  }
  const format = readPixelFormat(ds, pixelEl.tag === FLOAT_PIXEL_DATA, source)
  const numberOfFrames = intOr(ds, 'x00280008', 1)
  if (!(numberOfFrames >= 1)) throw new IoError('DIMENSIONS_INVALID', 'NumberOfFrames is not a positive number', { source })

  const values = format.rows * format.columns * format.samplesPerPixel * numberOfFrames
  if (values > limits.maxVoxels) {
    throw new IoError('TOO_LARGE', `image needs ${values} voxels, above the cap of ${limits.maxVoxels} (raise RADDIFF_MAX_VOXELS if intended)`, { source })
  }
  if (syntax.codec === 'rle' && format.samplesPerPixel === 3 && format.bitsAllocated > 8) {
    // GDCM (itk-wasm) returns scrambled samples for these (checked against pydicom): refuse rather than mislead
    throw new IoError('UNSUPPORTED_PIXEL_FORMAT', 'RLE colour images with more than 8 bits per sample are not supported; convert with gdcmconv --raw', { source })
  }
  if (format.photometric === 'PALETTE COLOR' && (syntax.codec === 'rle' || syntax.codec === 'jpeg-extended')) {
    // GDCM applies the palette itself and cuts 16-bit entries to 8 bits (checked against pydicom)
    throw new IoError('UNSUPPORTED_PIXEL_FORMAT', 'PALETTE COLOR images in RLE / JPEG extended are not supported; convert with gdcmconv --raw', { source })
  }
  if (format.bitsAllocated === 1 && !isNativeCodec(syntax.codec)) {
    throw new IoError('UNSUPPORTED_PIXEL_FORMAT', 'compressed 1-bit (binary) pixel data are not supported', { source })
  }
  if (isNativeCodec(syntax.codec)) {
    const subsampled = format.photometric === 'YBR_FULL_422' ? 2 / 3 : 1
    const needed = Math.ceil((values * subsampled * format.bitsAllocated) / 8)
    const present = Math.min(pixelEl.length, ds.byteArray.length - pixelEl.dataOffset)
    if (pixelEl.length === 0xffffffff || present < needed) {
      throw new IoError('PIXEL_DATA_SHORT', `pixel data hold ${Math.max(0, present)} bytes, rows × columns × frames needs ${needed}`, { source })
    }
  } else if (!pixelEl.encapsulatedPixelData) {
    throw new IoError('INVALID_HEADER', 'compressed transfer syntax but the pixel data are not encapsulated', { source })
  }

  const shared = item(ds, 'x52009229')
  // files cut down to fewer frames (pydicom's liver_1frame) keep the original per-frame items: use the first ones
  const perFrame = (ds.elements['x52009230']?.items ?? []).slice(0, numberOfFrames)
  const base = planeOf(ds, shared, undefined)
  const frames: FrameHeader[] = []
  if (perFrame.length > 0) {
    if (perFrame.length < numberOfFrames) {
      throw new IoError('INVALID_HEADER', 'per-frame functional groups do not match NumberOfFrames', { source })
    }
    perFrame.forEach((it, i) => {
      const f = planeOf(ds, shared, it.dataSet)
      const content = item(it.dataSet, 'x00209111')
      const stackPos = content ? intOr(content, 'x00209057', NaN) : NaN
      frames.push({ ...f, order: Number.isFinite(stackPos) ? stackPos : i })
    })
  } else {
    // classic multi-frame: RT dose and NM give z offsets of each frame from the first
    const offsets = numbers(ds, 'x3004000c')
    const instance = intOr(ds, 'x00200013', 0)
    for (let i = 0; i < numberOfFrames; i++) {
      let position = base.position
      if (position && offsets && offsets.length === numberOfFrames && offsets.every(Number.isFinite) && base.orientation) {
        const n = cross(base.orientation)
        position = [0, 1, 2].map((a) => position![a] + n[a] * (offsets[i] - offsets[0])) as Vec3
      } else if (numberOfFrames > 1) {
        position = undefined
      }
      frames.push({ ...base, position, order: numberOfFrames > 1 ? i : instance })
    }
  }
  for (const f of frames) {
    if (!Number.isFinite(f.slope) || !Number.isFinite(f.intercept) || f.slope === 0) {
      throw new IoError('NONFINITE_SCALING', 'RescaleSlope / RescaleIntercept is not a finite, non-zero number', { source })
    }
  }

  const measures = item(shared, 'x00289110')
  const declaredSpacing =
    positive(ds.floatString('x00180088')) ??
    positive(measures?.floatString('x00180088')) ??
    positive(ds.floatString('x00180050')) ??
    positive(measures?.floatString('x00180050'))

  const imageType = (ds.string('x00080008') ?? '').toUpperCase().split('\\')
  let mosaic: FileHeader['mosaic']
  if (imageType.includes('MOSAIC') && numberOfFrames === 1) {
    const csa = readCsaMosaicInfo(bytesOf(ds, 'x00291010'))
    const tiles = ds.elements['x0019100a'] ? ds.uint16('x0019100a') : csa.numberOfImagesInMosaic
    if (tiles && tiles > 1) {
      const perSide = Math.ceil(Math.sqrt(tiles))
      if (format.rows % perSide !== 0 || format.columns % perSide !== 0) {
        throw new IoError('DIMENSIONS_INVALID', 'mosaic dimensions are not a multiple of the tile grid', { source })
      }
      mosaic = { tiles, sliceNormal: csa.sliceNormalVector, sliceSpacing: declaredSpacing }
    }
  }

  return {
    ref,
    transferSyntaxUID,
    modality: str(ds, 'x00080060') ?? 'OT',
    sopClassUID: str(ds, 'x00080016') ?? '',
    sopInstanceUID: str(ds, 'x00080018') ?? '',
    seriesInstanceUID: str(ds, 'x0020000e') ?? '',
    format,
    numberOfFrames,
    frames,
    mosaic,
    declaredSpacing,
    windowCenter: finite(ds.floatString('x00281050')),
    windowWidth: finite(ds.floatString('x00281051')),
    rescaleType: str(ds, 'x00281054'),
    palette: format.photometric === 'PALETTE COLOR' ? readPalette(ds, source) : undefined,
    info: sourceInfo(ds, transferSyntaxUID, format.photometric),
  }
}

function readPixelFormat(ds: DataSet, floatPixels: boolean, source: string): PixelFormat {
  const rows = ds.uint16('x00280010') ?? 0
  const columns = ds.uint16('x00280011') ?? 0
  if (!(rows > 0 && columns > 0)) throw new IoError('DIMENSIONS_INVALID', 'Rows or Columns is zero or missing', { source })
  const bitsAllocated = ds.uint16('x00280100') ?? (floatPixels ? 32 : 0)
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated
  const samplesPerPixel = ds.uint16('x00280002') ?? 1
  const photometric = (str(ds, 'x00280004') ?? (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2')).toUpperCase()
  if (bitsStored > bitsAllocated || bitsStored === 0) {
    throw new IoError('INVALID_HEADER', 'BitsStored is zero or larger than BitsAllocated', { source })
  }
  if (![1, 8, 16, 32].includes(bitsAllocated) || (floatPixels && bitsAllocated !== 32)) {
    throw new IoError('UNSUPPORTED_PIXEL_FORMAT', `BitsAllocated ${bitsAllocated} is not supported (1, 8, 16 or 32)`, { source })
  }
  if (samplesPerPixel !== 1 && samplesPerPixel !== 3) {
    throw new IoError('UNSUPPORTED_PIXEL_FORMAT', `SamplesPerPixel ${samplesPerPixel} is not supported (1 or 3)`, { source })
  }
  return {
    rows,
    columns,
    bitsAllocated,
    bitsStored,
    pixelRepresentation: ds.uint16('x00280103') ?? 0,
    samplesPerPixel,
    planarConfiguration: ds.uint16('x00280006') ?? 0,
    photometric,
    floatPixels,
  }
}

function readPalette(ds: DataSet, source: string): Palette {
  const desc = ds.elements['x00281101']
  const channels = ['x00281201', 'x00281202', 'x00281203'].map((t) => ds.elements[t])
  if (!desc || desc.length < 6 || channels.some((c) => !c || c.length === 0)) {
    throw new IoError('UNSUPPORTED_PIXEL_FORMAT', 'PALETTE COLOR without plain lookup table data (segmented palettes are not supported)', { source })
  }
  const entries = ds.uint16('x00281101', 0) || 65536
  // the first mapped value is US or SS depending on PixelRepresentation
  const first = ds.uint16('x00281101', 1) ?? 0
  const firstMapped = (ds.uint16('x00280103') ?? 0) === 1 && first > 32767 ? first - 65536 : first
  const bits = (channels[0].length / entries) * 8
  if ((bits !== 8 && bits !== 16) || channels.some((c) => c.length !== channels[0].length)) {
    throw new IoError('UNSUPPORTED_PIXEL_FORMAT', 'palette lookup tables have an invalid size', { source })
  }
  const [red, green, blue] = channels.map((c) => {
    const out = new Uint16Array(entries)
    for (let i = 0; i < entries; i++) {
      out[i] = bits === 8 ? ds.byteArray[c.dataOffset + i] : ds.byteArrayParser.readUint16(ds.byteArray, c.dataOffset + 2 * i)
    }
    return out
  })
  return { firstMapped, bits, red, green, blue }
}

/** Plane geometry and rescale of a frame: per-frame group, else shared group, else top level. */
function planeOf(ds: DataSet, shared: DataSet | undefined, frame: DataSet | undefined): Omit<FrameHeader, 'order'> {
  const pick = (seq: string, tag: string): number[] | undefined => {
    for (const g of [frame, shared]) {
      const it = item(g, seq)
      const v = it && numbers(it, tag)
      if (v) return v
    }
    return numbers(ds, tag)
  }
  const pos = pick('x00209113', 'x00200032')
  const iop = pick('x00209116', 'x00200037')
  const ps = pick('x00289110', 'x00280030') ?? numbers(ds, 'x00181164')
  const slope = pick('x00289145', 'x00281053')?.[0] ?? 1
  const intercept = pick('x00289145', 'x00281052')?.[0] ?? 0
  const position = pos && pos.length >= 3 && pos.slice(0, 3).every(Number.isFinite) ? ([pos[0], pos[1], pos[2]] as Vec3) : undefined
  const orientation = iop && iop.length >= 6 && iop.slice(0, 6).every(Number.isFinite) && unitish(iop) ? iop.slice(0, 6) : undefined
  // 1e400 parses as Infinity: "> 0" alone would let it through
  const pixelSpacing = ps && ps.length >= 2 && ps.slice(0, 2).every((x) => Number.isFinite(x) && x > 0) ? ([ps[0], ps[1]] as [number, number]) : undefined
  const unusable: FrameHeader['unusable'] = []
  if (pos && !position) unusable.push('ImagePositionPatient')
  if (iop && !orientation) unusable.push('ImageOrientationPatient')
  if (ps && !pixelSpacing) unusable.push('PixelSpacing')
  return { position, orientation, pixelSpacing, slope, intercept, ...(unusable.length ? { unusable } : {}) }
}

function unitish(iop: number[]): boolean {
  const a = Math.hypot(iop[0], iop[1], iop[2])
  const b = Math.hypot(iop[3], iop[4], iop[5])
  return Math.abs(a - 1) < 0.01 && Math.abs(b - 1) < 0.01
}

export function cross(iop: number[]): Vec3 {
  const [a, b, c, d, e, f] = iop
  return [b * f - c * e, c * d - a * f, a * e - b * d]
}

function sourceInfo(ds: DataSet, transferSyntaxUID: string, photometric: string): DicomSourceInfo {
  const patient: Record<string, string> = {}
  const patientTags: [string, string][] = [
    ['PatientName', 'x00100010'],
    ['PatientID', 'x00100020'],
    ['PatientBirthDate', 'x00100030'],
    ['PatientSex', 'x00100040'],
    ['PatientAge', 'x00101010'],
  ]
  for (const [k, t] of patientTags) {
    const v = str(ds, t)
    if (v !== undefined) patient[k] = v
  }
  return {
    studyInstanceUID: str(ds, 'x0020000d'),
    seriesInstanceUID: str(ds, 'x0020000e'),
    frameOfReferenceUID: str(ds, 'x00200052'),
    seriesNumber: finite(ds.intString('x00200011')),
    seriesDescription: str(ds, 'x0008103e'),
    studyDate: str(ds, 'x00080020'),
    studyTime: str(ds, 'x00080030'),
    studyID: str(ds, 'x00200010'),
    accessionNumber: str(ds, 'x00080050'),
    patient,
    manufacturer: str(ds, 'x00080070'),
    bodyPartExamined: str(ds, 'x00180015'),
    transferSyntaxUID,
    photometricInterpretation: photometric,
  }
}

function item(ds: DataSet | undefined, tag: string): DataSet | undefined {
  return ds?.elements[tag]?.items?.[0]?.dataSet
}

function str(ds: DataSet, tag: string, maxLength = 1024): string | undefined {
  const el = ds.elements[tag]
  // a cap keeps hostile headers from making us build megabyte strings
  if (!el || el.length === 0 || el.length > maxLength) return undefined
  const v = ds.string(tag)?.replace(/\0/g, '').trim()
  return v ? v : undefined
}

function numbers(ds: DataSet, tag: string): number[] | undefined {
  const s = str(ds, tag, 1 << 20)
  if (!s) return undefined
  // non-finite entries are kept: rescale must reject them, geometry checks them itself
  return s.split('\\').map((x) => Number(x.trim()))
}

function intOr(ds: DataSet, tag: string, fallback: number): number {
  const el = ds.elements[tag]
  if (!el || el.length === 0) return fallback
  // IS in the standard, but some writers use US/UL
  const v = el.vr === 'US' ? ds.uint16(tag) : el.vr === 'UL' ? ds.uint32(tag) : Number(str(ds, tag))
  return v !== undefined && Number.isFinite(v) ? v : fallback
}

function bytesOf(ds: DataSet, tag: string): Uint8Array | undefined {
  const el = ds.elements[tag]
  if (!el || el.length === 0xffffffff || el.dataOffset + el.length > ds.byteArray.length) return undefined
  return ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length)
}

function finite(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) ? v : undefined
}

function positive(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : undefined
}
