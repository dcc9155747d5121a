import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Volume } from '../../volume/index.js'
import { RADDIFF_VERSION } from '../../version.js'
import { IoError } from '../errors.js'
import { deidentifyDataset, type Deidentifier } from './deidentify.js'
import { writeFolderAtomically } from './dicom-atomic-folder.js'
import type { NaturalDataset } from './dicom-dcmjs.js'
import {
  encodeDataset,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  lo,
  newUid,
  NOT_FOR_CLINICAL_USE,
  patientModule,
} from './dicom-dataset.js'
import { sliceGeometry } from './dicom-geometry.js'
import { toDecimalString } from './dicom-storage.js'

/**
 * Shared parts of the multi-frame (enhanced) objects raddiff writes next to a source series:
 * DICOM Segmentation and Parametric Map. Both carry the source's patient and study modules,
 * its Frame of Reference, and one frame per source slice that names that slice.
 */

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1'
/** Tag numbers as dcmjs writes AT values (group << 16 | element). */
export const AT = {
  ImagePositionPatient: 0x00200032,
  PlanePositionSequence: 0x00209113,
  ReferencedSegmentNumber: 0x0062000b,
  SegmentIdentificationSequence: 0x0062000a,
} as const

/**
 * `lo` cut to `max` UTF-8 bytes: with ISO_IR 192 validators count bytes, and a label such as
 * '|input − healed|' holds multi-byte characters.
 */
export function loBytes(text: string, max = 64): string {
  let out = lo(text, max)
  while (Buffer.byteLength(out, 'utf8') > max) out = out.slice(0, -1)
  return out.trimEnd()
}

export const code = (value: string, scheme: string, meaning: string): NaturalDataset => ({
  CodeValue: value,
  CodingSchemeDesignator: scheme,
  CodeMeaning: meaning,
})

export interface EnhancedWriteOptions {
  seriesDescription?: string
  /** Provenance text; at most 1024 characters are kept. */
  derivationDescription?: string
  seriesNumber?: number
  /** PS3.15 Basic Profile, as in writeDicomSeries; share one Deidentifier across a run's outputs. */
  deidentify?: Deidentifier
}

/** One row of the Multi-frame Dimension module: the attribute a frame index runs over, and its functional group. */
export interface DimensionIndex {
  pointer: number
  group: number
  label: string
}

/**
 * Multi-frame Dimension module (one organization, new UID): the `leading` indices, then the
 * frame's position, in the order the per-frame DimensionIndexValues list them.
 */
export function dimensionModule(leading: DimensionIndex[] = []): NaturalDataset {
  const uid = newUid()
  const position: DimensionIndex = { pointer: AT.ImagePositionPatient, group: AT.PlanePositionSequence, label: 'ImagePositionPatient' }
  return {
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: uid }],
    DimensionIndexSequence: [...leading, position].map((d) => ({
      DimensionOrganizationUID: uid,
      DimensionIndexPointer: d.pointer,
      FunctionalGroupPointer: d.group,
      DimensionDescriptionLabel: d.label,
    })),
  }
}

export interface EnhancedContext {
  sopClassUID: string
  sopInstanceUID: string
  seriesInstanceUID: string
  studyInstanceUID: string
  frameOfReferenceUID: string
  /** Source slice per frame (volume k order), when the volume came from a DICOM series. */
  sources?: { sopClassUID: string; sopInstanceUID: string }[]
  sourceSeriesUID?: string
}

function dateTime(now = new Date()): { date: string; time: string } {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return {
    date: `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}`,
    time: `${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`,
  }
}

export function checkEnhancedVolume(v: Volume): void {
  const [nx, ny, nz] = v.size
  if (v.components !== 1) throw new IoError('WRITE_FAILED', 'only single-component volumes can be written as a multi-frame DICOM object')
  if (![nx, ny, nz].every((n) => Number.isInteger(n) && n > 0) || nx > 65535 || ny > 65535) {
    throw new IoError('WRITE_FAILED', 'the volume size cannot be written as DICOM rows / columns')
  }
  if (![...v.spacing, ...v.origin, ...v.direction].every(Number.isFinite) || !v.spacing.every((s) => s > 0)) {
    throw new IoError('WRITE_FAILED', 'the volume geometry (spacing, origin, direction) is not finite and positive')
  }
}

/**
 * The modules every enhanced object here shares: patient, study, series, frame of reference,
 * (enhanced) equipment, SOP common, common instance reference, and the geometry functional
 * groups. `perFrame(k)` adds each frame's own functional groups.
 */
export function enhancedDataset(
  v: Volume,
  sopClassUID: string,
  modality: string,
  opts: EnhancedWriteOptions,
  perFrame: (k: number, refs: NaturalDataset | undefined) => NaturalDataset,
): { ds: NaturalDataset; ctx: EnhancedContext } {
  checkEnhancedVolume(v)
  const src = v.meta.dicom
  const { date, time } = dateTime()
  const nz = v.size[2]
  const sources = src?.sourceInstances?.length === nz && src.seriesInstanceUID ? src.sourceInstances : undefined
  const ctx: EnhancedContext = {
    sopClassUID,
    sopInstanceUID: newUid(),
    seriesInstanceUID: newUid(),
    studyInstanceUID: src?.studyInstanceUID || newUid(),
    frameOfReferenceUID: src?.frameOfReferenceUID || newUid(),
    sources,
    sourceSeriesUID: src?.seriesInstanceUID,
  }
  const seriesNumber = opts.seriesNumber ?? (src?.seriesNumber !== undefined ? src.seriesNumber + 1000 : 1000)
  if (!Number.isInteger(seriesNumber) || seriesNumber < 0 || seriesNumber > 2 ** 31 - 1) {
    throw new IoError('WRITE_FAILED', 'the series number must be a non-negative integer')
  }
  const suffix = ` - ${NOT_FOR_CLINICAL_USE}`
  const g0 = sliceGeometry(v, 0)
  const fromSource = !!src?.studyInstanceUID
  const ds: NaturalDataset = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: sopClassUID,
    SOPInstanceUID: ctx.sopInstanceUID,
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    ...patientModule(src?.patient),
    StudyInstanceUID: ctx.studyInstanceUID,
    // A study we create (non-DICOM source) is dated now, so archives can file it.
    StudyDate: fromSource ? (src?.studyDate ?? '') : date,
    StudyTime: fromSource ? (src?.studyTime ?? '') : time,
    ReferringPhysicianName: '',
    StudyID: fromSource ? lo(src?.studyID ?? '', 16) : 'RADDIFF',
    AccessionNumber: lo(src?.accessionNumber ?? '', 16),
    Modality: modality,
    SeriesInstanceUID: ctx.seriesInstanceUID,
    SeriesNumber: seriesNumber,
    SeriesDate: date,
    SeriesTime: time,
    SeriesDescription: loBytes(opts.seriesDescription ?? 'raddiff derived', 64 - suffix.length) + suffix,
    FrameOfReferenceUID: ctx.frameOfReferenceUID,
    PositionReferenceIndicator: '',
    Manufacturer: 'raddiff',
    ManufacturerModelName: 'raddiff',
    // Type 1 in the Enhanced General Equipment module; software has no serial, so its name stands in.
    DeviceSerialNumber: 'raddiff',
    SoftwareVersions: RADDIFF_VERSION,
    InstanceNumber: 1,
    ContentDate: date,
    ContentTime: time,
    ContentQualification: 'RESEARCH',
    ImageComments: `${NOT_FOR_CLINICAL_USE}. Research output of raddiff, derived by software from the referenced series.`,
    DerivationDescription: (opts.derivationDescription ?? 'Derived by raddiff').slice(0, 1024),
    NumberOfFrames: nz,
    Rows: v.size[1],
    Columns: v.size[0],
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: g0.imageOrientationPatient.map(toDecimalString) }],
        PixelMeasuresSequence: [
          {
            PixelSpacing: g0.pixelSpacing.map(toDecimalString),
            SliceThickness: toDecimalString(g0.sliceThickness),
            SpacingBetweenSlices: toDecimalString(g0.sliceThickness),
          },
        ],
      },
    ],
    PerFrameFunctionalGroupsSequence: Array.from({ length: nz }, (_, k) => {
      const s = sources?.[k]
      const refs = s
        ? {
            ReferencedSOPClassUID: s.sopClassUID,
            ReferencedSOPInstanceUID: s.sopInstanceUID,
            PurposeOfReferenceCodeSequence: [code('121322', 'DCM', 'Source image for image processing operation')],
          }
        : undefined
      return {
        PlanePositionSequence: [{ ImagePositionPatient: sliceGeometry(v, k).imagePositionPatient.map(toDecimalString) }],
        ...perFrame(k, refs),
      }
    }),
  }
  if (sources && ctx.sourceSeriesUID) {
    // Common Instance Reference: every source slice, so a reader can fetch them all.
    ds.ReferencedSeriesSequence = [
      {
        SeriesInstanceUID: ctx.sourceSeriesUID,
        ReferencedInstanceSequence: sources.map((s) => ({ ReferencedSOPClassUID: s.sopClassUID, ReferencedSOPInstanceUID: s.sopInstanceUID })),
      },
    ]
  }
  ds._meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUID,
    MediaStorageSOPInstanceUID: ctx.sopInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  }
  return { ds, ctx }
}

/**
 * Applies the Basic Profile when asked. Where the profile empties (Z) or removes (X) an attribute
 * that is Type 1 in a multi-frame IOD, the profile's D action (a dummy value) is used instead.
 */
export function maybeDeidentify(ds: NaturalDataset, ctx: EnhancedContext, d: Deidentifier | undefined): { ds: NaturalDataset; ctx: EnhancedContext } {
  if (!d) return { ds, ctx }
  const out = deidentifyDataset(ds, d)
  out.DeviceSerialNumber = 'raddiff'
  out.ContentDate = '19000101'
  out.ContentTime = '000000'
  return {
    ds: out,
    ctx: { ...ctx, sopInstanceUID: d.uid(ctx.sopInstanceUID), seriesInstanceUID: d.uid(ctx.seriesInstanceUID), studyInstanceUID: d.uid(ctx.studyInstanceUID) },
  }
}

export interface EnhancedWriteResult {
  files: string[]
  seriesInstanceUID: string
  sopInstanceUID: string
}

/**
 * Encodes the dataset `build` returns and writes it as `IM00001.dcm` in `folder` (whole or not at
 * all, as writeDicomSeries does). The builders' own IoErrors pass through; anything the encoder
 * throws becomes WRITE_FAILED with `failure` as its message.
 */
export async function writeEnhancedFile(folder: string, build: () => { ds: NaturalDataset; ctx: EnhancedContext }, failure: string): Promise<EnhancedWriteResult> {
  let bytes: Uint8Array
  let ctx: EnhancedContext
  try {
    const built = build()
    ctx = built.ctx
    bytes = encodeDataset(built.ds)
  } catch (cause) {
    if (cause instanceof IoError) throw cause
    throw new IoError('WRITE_FAILED', failure, { source: folder, cause })
  }
  await writeFolderAtomically(folder, (tmp) => writeFile(path.join(tmp, 'IM00001.dcm'), bytes))
  return { files: [path.join(path.resolve(folder), 'IM00001.dcm')], seriesInstanceUID: ctx.seriesInstanceUID, sopInstanceUID: ctx.sopInstanceUID }
}
