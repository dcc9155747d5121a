import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Volume } from '../../volume/index.js'
import { IoError } from '../errors.js'
import { createDeidentifier, deidentifyDataset, type Deidentifier } from './deidentify.js'
import { writeFolderAtomically } from './dicom-atomic-folder.js'
import {
  encodeDataset,
  lo,
  newUid,
  NOT_FOR_CLINICAL_USE,
  patientModule,
  SOP_CLASS,
  sliceDataset,
  type SeriesContext,
} from './dicom-dataset.js'
import { sliceGeometry } from './dicom-geometry.js'
import { chooseStorage } from './dicom-storage.js'

export interface DicomWriteOptions {
  /** e.g. 'raddiff denoise (brain-t1 v1)'; ' - NOT FOR CLINICAL USE' is always appended. */
  seriesDescription?: string
  /** Provenance text (model, version, sha256, steps, seed, raddiff version); at most 1024 characters are kept. */
  derivationDescription?: string
  /** Defaults to the source series number + 1000, or 1000. */
  seriesNumber?: number
  /** Defaults to volume.modality. MR and CT get their own SOP class; anything else Secondary Capture. */
  modality?: string
  /**
   * For float results: stored as int16 (or uint16) with RescaleSlope/Intercept chosen to cover the
   * range; for CT HU slope 1 intercept 0 when values are integers in range.
   */
  storage?: 'auto' | 'int16' | 'uint16'
  /**
   * Apply PS3.15 Annex E's Basic Profile (see deidentify.ts): patient / study identifiers emptied
   * or removed, dates removed, UIDs replaced by a keyed hash. Pass one `createDeidentifier()` to
   * several calls to keep their Study / FrameOfReference UIDs consistent with each other.
   */
  deidentify?: boolean | Deidentifier
}

const SUFFIX = ` - ${NOT_FOR_CLINICAL_USE}`

/** DICOM DA / TM of now, local time (as scanners write them). */
function dateTime(now = new Date()): { date: string; time: string } {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return {
    date: `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}`,
    time: `${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}.${p(now.getMilliseconds(), 3)}`,
  }
}

function checkVolume(v: Volume): void {
  const [nx, ny, nz] = v.size
  if (v.components !== 1) {
    throw new IoError('WRITE_FAILED', 'only single-component (grayscale) volumes can be written as a DICOM series')
  }
  if (![nx, ny, nz].every((n) => Number.isInteger(n) && n > 0) || nx > 65535 || ny > 65535) {
    throw new IoError('WRITE_FAILED', 'the volume size cannot be written as DICOM rows / columns')
  }
  const geometry = [...v.spacing, ...v.origin, ...v.direction]
  if (!geometry.every(Number.isFinite) || !v.spacing.every((s) => s > 0)) {
    throw new IoError('WRITE_FAILED', 'the volume geometry (spacing, origin, direction) is not finite and positive')
  }
}

/**
 * Writes `v` as a derived single-frame DICOM series (one file per k-slice, Explicit VR Little
 * Endian) into `folder`, filed in the source study with a new series. The folder appears whole
 * or not at all; an existing folder is only replaced when it holds nothing but our own output.
 */
export async function writeDicomSeries(
  v: Volume,
  folder: string,
  opts: DicomWriteOptions = {},
): Promise<{ files: string[]; seriesInstanceUID: string }> {
  checkVolume(v)
  const deid = opts.deidentify === true ? createDeidentifier() : opts.deidentify || undefined
  const src = v.meta.dicom
  const modality = lo(opts.modality ?? v.modality ?? 'OT', 16) || 'OT'
  const sopClassUID = modality === 'MR' ? SOP_CLASS.MR : modality === 'CT' ? SOP_CLASS.CT : SOP_CLASS.SC
  const stored = chooseStorage(v, opts.storage ?? 'auto')
  const { date, time } = dateTime()
  const seriesNumber = opts.seriesNumber ?? (src?.seriesNumber !== undefined ? src.seriesNumber + 1000 : 1000)
  if (!Number.isInteger(seriesNumber) || seriesNumber < 0 || seriesNumber > 2 ** 31 - 1) {
    throw new IoError('WRITE_FAILED', 'the series number must be a non-negative integer')
  }
  const describe = opts.seriesDescription ?? 'raddiff derived'
  const windowWidth = v.meta.windowWidth ?? Math.max(stored.max - stored.min, 1)
  const ctx: SeriesContext = {
    sopClassUID,
    modality,
    studyInstanceUID: src?.studyInstanceUID || newUid(),
    seriesInstanceUID: newUid(),
    frameOfReferenceUID: src?.frameOfReferenceUID || newUid(),
    seriesNumber,
    seriesDescription: lo(describe, 64 - SUFFIX.length) + SUFFIX,
    derivationDescription: (opts.derivationDescription ?? 'Derived by raddiff').slice(0, 1024),
    contentDate: date,
    contentTime: time,
    windowCenter: v.meta.windowCenter ?? (stored.min + stored.max) / 2,
    windowWidth: windowWidth > 0 ? windowWidth : 1,
    patient: patientModule(src?.patient),
    // A study we create (non-DICOM source) is dated now, so archives and DICOMDIRs can file it.
    study: {
      StudyDate: src?.studyInstanceUID ? (src.studyDate ?? '') : date,
      StudyTime: src?.studyInstanceUID ? (src.studyTime ?? '') : time,
      ReferringPhysicianName: '',
      StudyID: src?.studyInstanceUID ? lo(src.studyID ?? '', 16) : 'RADDIFF',
      AccessionNumber: lo(src?.accessionNumber ?? '', 16),
    },
    sourceSeriesUID: src?.seriesInstanceUID,
    sourceInstances: src?.sourceInstances,
    stored,
  }
  const names = Array.from({ length: v.size[2] }, (_, k) => `IM${String(k + 1).padStart(5, '0')}.dcm`)
  await writeFolderAtomically(folder, async (tmp) => {
    for (let k = 0; k < v.size[2]; k++) {
      let bytes: Uint8Array
      try {
        const ds = sliceDataset(ctx, v, k, sliceGeometry(v, k))
        bytes = encodeDataset(deid ? deidentifyDataset(ds, deid) : ds)
      } catch (cause) {
        throw new IoError('WRITE_FAILED', `slice ${k + 1} could not be encoded as DICOM`, { source: folder, cause })
      }
      await writeFile(path.join(tmp, names[k]), bytes)
    }
  })
  const target = path.resolve(folder)
  return { files: names.map((n) => path.join(target, n)), seriesInstanceUID: deid ? deid.uid(ctx.seriesInstanceUID) : ctx.seriesInstanceUID }
}
