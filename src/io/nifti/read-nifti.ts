import { readImageNode } from '@itk-wasm/image-io'
import { IoError } from '../errors.js'
import type { Limits } from '../limits.js'
import type { SeriesSummary } from '../summary.js'
import { createVolume, type Modality, type Volume } from '../../volume/volume.js'
import { VolumeMetadata } from '../../volume/metadata.js'
import { allocateVoxels, voxelTypeOf, type VoxelArray } from '../../volume/voxel-array.js'
import { itkGeometry, itkVoxels } from '../itk/itk-image.js'
import { quietItk } from '../itk/itk-quiet.js'
import { affineToGeometry, niftiAffine, unitScale } from './nifti-affine.js'
import { checkNiftiData, openNifti, type NiftiFile } from './nifti-file.js'
import { niftiDatatype, niftiScaling, niftiSize } from './nifti-header.js'
import { readNiftiVoxels } from './nifti-raw.js'

function niftiGeometry(f: NiftiFile) {
  const h = f.header
  const { affine, source } = niftiAffine(h)
  const g = affineToGeometry(affine, unitScale(h.xyztUnits))
  if (source === 'pixdim') g.warnings.push('no qform/sform: orientation guessed from voxel sizes (Analyze convention)')
  return g
}

/** Header-only summary from our own header parse (no voxel is read). */
export async function inspectNifti(path: string, name: string, limits: Limits): Promise<SeriesSummary> {
  const f = await openNifti(path, limits)
  const g = niftiGeometry(f)
  const dt = niftiDatatype(f.header)
  return {
    format: 'nifti',
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

/**
 * Reads NIfTI-1/2. The header is validated here (sizes against bytes present, gzip inflation
 * bounded) before itk-wasm sees the file, and the geometry comes from the header by the
 * standard's rules (see niftiAffine).
 */
export async function readNifti(path: string, name: string, limits: Limits, modality: Modality): Promise<Volume> {
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
    throw new IoError('DECODE_FAILED', `${name}: the decoder disagrees with the NIfTI header about the image size`)
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
