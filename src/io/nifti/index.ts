import { access } from 'node:fs/promises'
import { readImageNode } from '@itk-wasm/image-io'
import type { Image } from 'itk-wasm'
import { RaddiffError } from '../errors.js'
import { defaultLimits, type Limits } from '../limits.js'
import type { SeriesSummary } from '../summary.js'
import { createVolume, type Modality, type Volume } from '../../volume/volume.js'
import { VolumeMetadata } from '../../volume/metadata.js'
import { allocateVoxels, voxelTypeOf, type VoxelArray } from '../../volume/voxel-array.js'
import { itkFormatOf } from './format.js'
import { itkGeometry, itkVoxels, itkVoxelType } from './itk-image.js'
import { quietItk } from './itk-quiet.js'
import { affineToGeometry, niftiAffine, unitScale } from './nifti-affine.js'
import { checkNiftiData, openNifti, type NiftiFile } from './nifti-file.js'
import { niftiDatatype, niftiScaling, niftiSize } from './nifti-header.js'
import { readNiftiVoxels } from './nifti-raw.js'

export { itkFormatOf } from './format.js'

export interface ReadImageOptions {
  /** NIfTI/NRRD/MHA carry no modality; pass 'CT' / 'MR' when the caller knows. Default 'OT'. */
  modality?: Modality
}

async function mustExist(path: string, name: string): Promise<void> {
  try {
    await access(path)
  } catch (e) {
    throw new RaddiffError('INPUT_NOT_FOUND', `cannot read ${name}`, { source: name, cause: e })
  }
}

async function formatOf(path: string, name: string): Promise<string> {
  await mustExist(path, name)
  const format = itkFormatOf(path)
  if (!format) {
    throw new RaddiffError('NOT_AN_IMAGE', `${name} is not a NIfTI, NRRD, MetaImage or MGH file`, { source: name })
  }
  return format
}

function tagged<T>(name: string, p: Promise<T>): Promise<T> {
  return p.catch((e) => {
    if (e instanceof RaddiffError && e.source === undefined) {
      throw new RaddiffError(e.code, `${name}: ${e.message}`, { source: name, cause: e.cause })
    }
    if (e instanceof RaddiffError) throw e
    throw new RaddiffError('DECODE_FAILED', `${name} could not be read`, { source: name, cause: e })
  })
}

function niftiGeometry(f: NiftiFile) {
  const h = f.header
  const { affine, source } = niftiAffine(h)
  const g = affineToGeometry(affine, unitScale(h.xyztUnits))
  if (source === 'pixdim') g.warnings.push('no qform/sform: orientation guessed from voxel sizes (Analyze convention)')
  return g
}

/** Header-only summary: NIfTI from our own header parse, other formats from itk-wasm informationOnly. */
export async function inspectImageFile(path: string, name: string, limits: Limits = defaultLimits()): Promise<SeriesSummary> {
  return tagged(name, inspect(path, name, limits))
}

async function inspect(path: string, name: string, limits: Limits): Promise<SeriesSummary> {
  const format = await formatOf(path, name)
  if (format === 'nifti') {
    const f = await openNifti(path, limits)
    const g = niftiGeometry(f)
    const dt = niftiDatatype(f.header)
    return {
      format,
      source: name,
      files: f.headerPath === f.dataPath ? 1 : 2,
      size: niftiSize(f.header),
      spacing: g.spacing,
      origin: g.origin,
      direction: g.direction,
      modality: 'OT',
      components: dt.components,
      voxelType: dt.type,
      warnings: g.warnings,
    }
  }
  const img = await itkInfo(path, name, limits)
  const g = itkGeometry(img)
  return {
    format,
    source: name,
    files: /\.(nhdr|mhd)$/i.test(path) ? 2 : 1,
    ...g,
    modality: 'OT',
    components: img.imageType.components,
    voxelType: itkVoxelType(img.imageType.componentType),
    warnings: [],
  }
}

async function itkInfo(path: string, name: string, limits: Limits): Promise<Image> {
  const img = await quietItk(() => readImageNode(path, { informationOnly: true }), 'INVALID_HEADER', `${name}: the image header could not be read`, name)
  const voxels = img.size.reduce((a, b) => a * b, 1) * img.imageType.components
  if (!(voxels >= 1)) throw new RaddiffError('DIMENSIONS_INVALID', `${name}: the image has no voxels`, { source: name })
  if (voxels > limits.maxVoxels) {
    throw new RaddiffError('TOO_LARGE', `${name}: ${voxels} voxels, above the cap of ${limits.maxVoxels}`, { source: name })
  }
  return img
}

/**
 * Reads NIfTI-1/2, NRRD, MetaImage or MGH into a Volume. NIfTI headers are validated here
 * (sizes against bytes present, gzip inflation bounded) before itk-wasm sees the file, and
 * NIfTI geometry comes from the header by the standard's rules (see niftiAffine).
 */
export async function readImageFile(path: string, name: string, limits: Limits = defaultLimits(), opts: ReadImageOptions = {}): Promise<Volume> {
  return tagged(name, read(path, name, limits, opts))
}

async function read(path: string, name: string, limits: Limits, opts: ReadImageOptions): Promise<Volume> {
  const format = await formatOf(path, name)
  const modality = opts.modality ?? 'OT'
  if (format !== 'nifti') {
    await itkInfo(path, name, limits)
    const img = await quietItk(() => readImageNode(path), 'DECODE_FAILED', `${name}: the image could not be decoded`, name)
    return createVolume({ data: itkVoxels(img), ...itkGeometry(img), components: img.imageType.components, modality })
  }
  const f = await openNifti(path, limits)
  await checkNiftiData(f, limits)
  const h = f.header
  const size = niftiSize(h)
  const components = niftiDatatype(h).components
  const g = niftiGeometry(f)
  const { data, slope, inter } = h.version === 2 ? rawVoxels(await readNiftiVoxels(f), f) : storedVoxels(await itkNiftiVoxels(f, name), f)
  const meta = new VolumeMetadata({
    rescaleSlope: slope,
    rescaleIntercept: inter,
    description: h.descrip || undefined,
    ...(h.calMax > h.calMin ? { windowCenter: (h.calMax + h.calMin) / 2, windowWidth: h.calMax - h.calMin } : {}),
  })
  return createVolume({ data, size, spacing: g.spacing, origin: g.origin, direction: g.direction, components, modality, meta })
}

async function itkNiftiVoxels(f: NiftiFile, name: string): Promise<VoxelArray> {
  const img = await quietItk(() => readImageNode(f.headerPath), 'DECODE_FAILED', `${name}: the NIfTI voxels could not be decoded`, name)
  const size = niftiSize(f.header)
  const got = itkGeometry(img).size
  if (got.some((s, i) => s !== size[i]) || img.imageType.components !== niftiDatatype(f.header).components) {
    throw new RaddiffError('DECODE_FAILED', `${name}: the decoder disagrees with the NIfTI header about the image size`)
  }
  return itkVoxels(img)
}

function rawVoxels(data: VoxelArray, f: NiftiFile): { data: VoxelArray; slope: number; inter: number } {
  const s = niftiScaling(f.header)
  return { data, slope: s?.slope ?? 1, inter: s?.inter ?? 0 }
}

/**
 * itk-wasm applies scl_slope/scl_inter and hands back float32. For integer stored types we
 * recover the stored integers (exact whenever every value maps back within float32
 * rounding) so the Volume keeps its stored type with the scaling in its metadata, as the
 * DICOM path does; otherwise the scaled floats are kept with unit scaling.
 */
function storedVoxels(data: VoxelArray, f: NiftiFile): { data: VoxelArray; slope: number; inter: number } {
  const scaling = niftiScaling(f.header)
  const stored = niftiDatatype(f.header).type
  if (!scaling || voxelTypeOf(data) === stored) return { data, slope: 1, inter: 0 }
  if (stored === 'float32' || stored === 'float64' || stored === 'uint32' || stored === 'int32') {
    return { data, slope: 1, inter: 0 }
  }
  const { slope, inter } = scaling
  const out = allocateVoxels(stored, data.length)
  for (let i = 0; i < data.length; i++) {
    const v = data[i]
    const s = Math.round((v - inter) / slope)
    const back = s * slope + inter
    out[i] = s
    if (out[i] !== s || !(Math.abs(back - v) <= 1e-6 * Math.abs(v) + 1e-9)) return { data, slope: 1, inter: 0 }
  }
  return { data: out, slope, inter }
}
