import { access } from 'node:fs/promises'
import { IoError } from '../errors.js'
import { inspectItkImage, readItkImage } from '../itk/read-itk.js'
import { defaultLimits, type Limits } from '../limits.js'
import { inspectNifti, readNifti } from '../nifti/read-nifti.js'
import type { SeriesSummary } from '../summary.js'
import type { Modality, Volume } from '../../volume/volume.js'
import { itkFormatOf } from './format.js'

export { itkFormatOf } from './format.js'

/**
 * Image files that are not DICOM: NIfTI through our own header code (src/io/nifti), NRRD,
 * MetaImage and MGH through itk-wasm (src/io/itk). This is the one door the loaders use.
 */

export interface ReadImageOptions {
  /** NIfTI/NRRD/MHA carry no modality; pass 'CT' / 'MR' when the caller knows. Default 'OT'. */
  modality?: Modality
}

async function mustExist(path: string, name: string): Promise<void> {
  try {
    await access(path)
  } catch (e) {
    throw new IoError('INPUT_NOT_FOUND', `cannot read ${name}`, { source: name, cause: e })
  }
}

async function formatOf(path: string, name: string): Promise<string> {
  await mustExist(path, name)
  const format = itkFormatOf(path)
  if (!format) {
    throw new IoError('NOT_AN_IMAGE', `${name} is not a NIfTI, NRRD, MetaImage or MGH file`, { source: name })
  }
  return format
}

function tagged<T>(name: string, p: Promise<T>): Promise<T> {
  return p.catch((e) => {
    if (e instanceof IoError && e.source === undefined) {
      throw new IoError(e.code, `${name}: ${e.message}`, { source: name, cause: e.cause })
    }
    if (e instanceof IoError) throw e
    throw new IoError('DECODE_FAILED', `${name} could not be read`, { source: name, cause: e })
  })
}

/** Header-only summary: NIfTI from our own header parse, other formats from itk-wasm informationOnly. */
export async function inspectImageFile(path: string, name: string, limits: Limits = defaultLimits()): Promise<SeriesSummary> {
  return tagged(
    name,
    formatOf(path, name).then((format) => (format === 'nifti' ? inspectNifti(path, name, limits) : inspectItkImage(path, name, format, limits))),
  )
}

/** Reads NIfTI-1/2, NRRD, MetaImage or MGH into a Volume. */
export async function readImageFile(path: string, name: string, limits: Limits = defaultLimits(), opts: ReadImageOptions = {}): Promise<Volume> {
  const modality = opts.modality ?? 'OT'
  return tagged(
    name,
    formatOf(path, name).then((format) => (format === 'nifti' ? readNifti(path, name, limits, modality) : readItkImage(path, name, limits, modality))),
  )
}
