import { readImageNode } from '@itk-wasm/image-io'
import type { Image } from 'itk-wasm'
import { IoError } from '../errors.js'
import type { Limits } from '../limits.js'
import type { SeriesSummary } from '../summary.js'
import { createVolume, type Modality, type Volume } from '../../volume/volume.js'
import { itkGeometry, itkVoxels, itkVoxelType } from './itk-image.js'
import { quietItk } from './itk-quiet.js'

/** NRRD, MetaImage and MGH through itk-wasm, whose header read is checked against our limits first. */
async function itkInfo(path: string, name: string, limits: Limits): Promise<Image> {
  const img = await quietItk(() => readImageNode(path, { informationOnly: true }), 'INVALID_HEADER', `${name}: the image header could not be read`, name)
  const voxels = img.size.reduce((a, b) => a * b, 1) * img.imageType.components
  if (!(voxels >= 1)) throw new IoError('DIMENSIONS_INVALID', `${name}: the image has no voxels`, { source: name })
  if (voxels > limits.maxVoxels) {
    throw new IoError('TOO_LARGE', `${name}: ${voxels} voxels, above the cap of ${limits.maxVoxels}`, { source: name })
  }
  return img
}

/** Header-only summary of an NRRD, MetaImage or MGH file. */
export async function inspectItkImage(path: string, name: string, format: string, limits: Limits): Promise<SeriesSummary> {
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

/** Reads an NRRD, MetaImage or MGH file; the header is checked before any voxel is decoded. */
export async function readItkImage(path: string, name: string, limits: Limits, modality: Modality): Promise<Volume> {
  await itkInfo(path, name, limits)
  const img = await quietItk(() => readImageNode(path), 'DECODE_FAILED', `${name}: the image could not be decoded`, name)
  return createVolume({ data: itkVoxels(img), ...itkGeometry(img), components: img.imageType.components, modality })
}
