import { randomUUID } from 'node:crypto'
import { endianness } from 'node:os'
import type { Volume } from '../../volume/index.js'
import { dcmjsData, type NaturalDataset } from './dicom-dcmjs.js'
import type { SliceGeometry } from './dicom-geometry.js'
import { toDecimalString, type StoredPixels } from './dicom-storage.js'

export const SOP_CLASS = {
  MR: '1.2.840.10008.5.1.4.1.1.4',
  CT: '1.2.840.10008.5.1.4.1.1.2',
  SC: '1.2.840.10008.5.1.4.1.1.7',
} as const

/** Our implementation UID: fixed, so a folder of our own earlier output is recognisable. */
export const IMPLEMENTATION_CLASS_UID = '2.25.263896315236745201962094396917350213893'
export const IMPLEMENTATION_VERSION_NAME = 'RADDIFF'
export const NOT_FOR_CLINICAL_USE = 'NOT FOR CLINICAL USE'
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1'

/** A UUID-derived UID (PS3.5 B.2): "2.25." + the UUID's 128 bits as a decimal integer. */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`
}

/** Values shared by every slice of one written series. */
export interface SeriesContext {
  sopClassUID: string
  modality: string
  studyInstanceUID: string
  seriesInstanceUID: string
  frameOfReferenceUID: string
  seriesNumber: number
  seriesDescription: string
  derivationDescription: string
  contentDate: string
  contentTime: string
  windowCenter: number
  windowWidth: number
  patient: NaturalDataset
  study: NaturalDataset
  /** The source series, when the volume came from DICOM. */
  sourceSeriesUID?: string
  sourceInstances?: { sopClassUID: string; sopInstanceUID: string }[]
  stored: StoredPixels
}

/** Placeholders for a source that was not DICOM (NIfTI has no patient module). */
const NON_DICOM_PATIENT: Record<string, string> = { PatientName: 'ANONYMOUS^RADDIFF', PatientID: 'RADDIFF' }

let keywordByTag: Map<string, string> | undefined
function dictionaryEntry(key: string) {
  const { nameMap } = dcmjsData.DicomMetaDictionary
  if (nameMap[key]) return nameMap[key]
  keywordByTag ??= new Map(Object.values(nameMap).map((e) => [e.tag.replace(/[(),]/g, '').toUpperCase(), e.name]))
  const hex = key.replace(/^x|[(),]/gi, '').toUpperCase()
  return nameMap[keywordByTag.get(hex) ?? '']
}

/**
 * Patient attributes of the source, keyed by keyword ('PatientName') or tag ('00100010',
 * 'x00100010', '(0010,0010)'), copied verbatim. Only group 0010 is taken, so a stray key can
 * never replace a UID or the pixel description.
 */
export function patientModule(patient: Record<string, string> | undefined): NaturalDataset {
  const out: NaturalDataset = { PatientName: '', PatientID: '', PatientBirthDate: '', PatientSex: '' }
  for (const [key, value] of Object.entries(patient ?? NON_DICOM_PATIENT)) {
    const entry = dictionaryEntry(key)
    if (typeof value !== 'string' || !entry?.tag.startsWith('(0010,') || entry.vr === 'SQ' || entry.vr.startsWith('O')) continue
    out[entry.name] = entry.vr === 'PN' && value ? [{ Alphabetic: value }] : value
  }
  return out
}

/** LO / SH hold one value of limited length and no backslash (the value separator). */
export function lo(text: string, max = 64): string {
  return text.replace(/\\/g, '/').replace(/[\u0000-\u001f]/g, ' ').slice(0, max).trimEnd()
}

const code = (value: string, scheme: string, meaning: string): NaturalDataset => ({
  CodeValue: value,
  CodingSchemeDesignator: scheme,
  CodeMeaning: meaning,
})

/**
 * One slice as a naturalised dcmjs dataset. Every DS is formatted here: dcmjs cuts a long
 * number's text at 16 characters, which turns 6.1e-17 into 6.1.
 * The file meta header goes in `_meta`.
 */
export function sliceDataset(ctx: SeriesContext, v: Volume, k: number, g: SliceGeometry): NaturalDataset {
  const [nx, ny] = v.size
  const sopInstanceUID = newUid()
  const source = ctx.sourceInstances?.length === v.size[2] ? ctx.sourceInstances[k] : undefined
  const pixels = ctx.stored.data.subarray(k * nx * ny, (k + 1) * nx * ny)
  // Copied into its own buffer: dcmjs writes the whole ArrayBuffer it is given.
  const pixelBytes = new Uint8Array(pixels.byteLength)
  pixelBytes.set(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength))
  // Typed arrays use the host's byte order; the transfer syntax is little endian.
  if (endianness() === 'BE') Buffer.from(pixelBytes.buffer).swap16()

  const ds: NaturalDataset = {
    SpecificCharacterSet: 'ISO_IR 192',
    // Value 3 is required for CT and MR; AXIAL is the CT term for a cross-sectional slice.
    ImageType: ['DERIVED', 'SECONDARY', ctx.sopClassUID === SOP_CLASS.CT ? 'AXIAL' : 'OTHER'],
    InstanceCreationDate: ctx.contentDate,
    InstanceCreationTime: ctx.contentTime,
    SOPClassUID: ctx.sopClassUID,
    SOPInstanceUID: sopInstanceUID,
    ...ctx.study,
    SeriesDate: ctx.contentDate,
    SeriesTime: ctx.contentTime,
    ContentDate: ctx.contentDate,
    ContentTime: ctx.contentTime,
    Modality: ctx.modality,
    // Type 2C: we cannot tell whether the body part is paired, so it is sent empty.
    Laterality: '',
    Manufacturer: 'raddiff',
    ManufacturerModelName: 'raddiff',
    SeriesDescription: ctx.seriesDescription,
    DerivationDescription: ctx.derivationDescription,
    ...ctx.patient,
    ContentQualification: 'RESEARCH',
    StudyInstanceUID: ctx.studyInstanceUID,
    SeriesInstanceUID: ctx.seriesInstanceUID,
    SeriesNumber: ctx.seriesNumber,
    InstanceNumber: k + 1,
    PatientOrientation: g.patientOrientation,
    ImagePositionPatient: g.imagePositionPatient.map(toDecimalString),
    ImageOrientationPatient: g.imageOrientationPatient.map(toDecimalString),
    FrameOfReferenceUID: ctx.frameOfReferenceUID,
    PositionReferenceIndicator: '',
    SliceLocation: toDecimalString(g.sliceLocation),
    SliceThickness: toDecimalString(g.sliceThickness),
    SpacingBetweenSlices: toDecimalString(g.sliceThickness),
    ImageComments: `${NOT_FOR_CLINICAL_USE}. Research output of raddiff, derived by software from the referenced series.`,
    BurnedInAnnotation: 'NO',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: ny,
    Columns: nx,
    PixelSpacing: g.pixelSpacing.map(toDecimalString),
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: ctx.stored.signed ? 1 : 0,
    WindowCenter: toDecimalString(ctx.windowCenter),
    WindowWidth: toDecimalString(ctx.windowWidth),
    RescaleIntercept: toDecimalString(ctx.stored.intercept),
    RescaleSlope: toDecimalString(ctx.stored.slope),
    PixelData: [pixelBytes.buffer],
    _vrMap: { PixelData: 'OW' },
  }
  if (ctx.sopClassUID === SOP_CLASS.CT) {
    Object.assign(ds, { RescaleType: 'HU', KVP: '', AcquisitionNumber: '' })
  } else if (ctx.sopClassUID === SOP_CLASS.MR) {
    // MR has no Modality LUT module: an identity rescale is left out rather than sent.
    if (ctx.stored.slope === 1 && ctx.stored.intercept === 0) {
      delete ds.RescaleSlope
      delete ds.RescaleIntercept
    }
    // RM = research mode: the pulse sequence behind a derived image is not known to us.
    Object.assign(ds, {
      ScanningSequence: 'RM',
      SequenceVariant: 'NONE',
      ScanOptions: '',
      MRAcquisitionType: '',
      RepetitionTime: '',
      EchoTime: '',
      EchoTrainLength: '',
    })
  } else {
    Object.assign(ds, { ConversionType: 'WSD', RescaleType: v.meta.units === 'HU' ? 'HU' : 'US' })
  }
  if (ctx.modality === 'MR' || ctx.modality === 'CT') ds.PatientPosition = ''
  if (ctx.sourceSeriesUID) {
    ds.RelatedSeriesSequence = [
      { StudyInstanceUID: ctx.studyInstanceUID, SeriesInstanceUID: ctx.sourceSeriesUID, PurposeOfReferenceCodeSequence: [] },
    ]
  }
  if (source && ctx.sourceSeriesUID) {
    const ref = { ReferencedSOPClassUID: source.sopClassUID, ReferencedSOPInstanceUID: source.sopInstanceUID }
    ds.SourceImageSequence = [
      { ...ref, PurposeOfReferenceCodeSequence: [code('121322', 'DCM', 'Source image for image processing operation')] },
    ]
    ds.ReferencedSeriesSequence = [{ SeriesInstanceUID: ctx.sourceSeriesUID, ReferencedInstanceSequence: [ref] }]
  }
  ds._meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: ctx.sopClassUID,
    MediaStorageSOPInstanceUID: sopInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  }
  return ds
}

/** Explicit VR Little Endian Part 10 bytes of a naturalised dataset. */
export function encodeDataset(ds: NaturalDataset): Uint8Array {
  const { _meta, ...body } = ds
  const dict = new dcmjsData.DicomDict(dcmjsData.DicomMetaDictionary.denaturalizeDataset(_meta as NaturalDataset))
  dict.dict = dcmjsData.DicomMetaDictionary.denaturalizeDataset(body)
  return new Uint8Array(dict.write())
}
