import type { Image } from 'itk-wasm'
import { IoError } from '../errors.js'
import type { Mat3, Vec3 } from '../../volume/volume.js'
import type { VoxelArray, VoxelType } from '../../volume/voxel-array.js'

const VOXEL_TYPES: VoxelType[] = ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'float32', 'float64']

export function itkVoxelType(componentType: string): VoxelType {
  if ((VOXEL_TYPES as string[]).includes(componentType)) return componentType as VoxelType
  throw new IoError('UNSUPPORTED_PIXEL_FORMAT', `voxel component type ${componentType} is not supported (64-bit integers, complex)`)
}

/** itk-wasm image geometry as 3-D (a 2-D image becomes one slice; a 4-D one must have one frame). */
export function itkGeometry(img: Image): { size: Vec3; spacing: Vec3; origin: Vec3; direction: Mat3 } {
  const n = img.imageType.dimension
  if (n < 2 || n > 4 || (n === 4 && img.size[3] !== 1)) {
    throw new IoError('DIMENSIONS_INVALID', `the image has ${n} dimensions; raddiff reads single 2-D or 3-D images`)
  }
  const d = Array.from(img.direction as ArrayLike<number>)
  const m = Math.min(n, 3)
  const direction = [1, 0, 0, 0, 1, 0, 0, 0, 1] as Mat3
  for (let r = 0; r < m; r++) for (let c = 0; c < m; c++) direction[r * 3 + c] = d[r * n + c]
  const pick = (a: number[], fill: number) => [0, 1, 2].map((i) => (i < m ? a[i] : fill)) as Vec3
  return { size: pick(img.size, 1), spacing: pick(img.spacing, 1), origin: pick(img.origin, 0), direction }
}

/** The voxel array of an itk-wasm image, copied out of any larger WASM buffer it views. */
export function itkVoxels(img: Image): VoxelArray {
  itkVoxelType(img.imageType.componentType)
  const data = img.data as VoxelArray | null
  if (!data) throw new IoError('DECODE_FAILED', 'the image reader returned no voxels')
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : (data.slice() as VoxelArray)
}
