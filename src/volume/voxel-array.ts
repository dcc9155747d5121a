/** Typed arrays a Volume may hold; the stored type of the source file is kept. */
export type VoxelArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array

export type VoxelType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64'

const constructors = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
} as const

export function voxelTypeOf(a: VoxelArray): VoxelType {
  if (a instanceof Int8Array) return 'int8'
  if (a instanceof Uint8Array) return 'uint8'
  if (a instanceof Int16Array) return 'int16'
  if (a instanceof Uint16Array) return 'uint16'
  if (a instanceof Int32Array) return 'int32'
  if (a instanceof Uint32Array) return 'uint32'
  if (a instanceof Float32Array) return 'float32'
  return 'float64'
}

export function allocateVoxels(type: VoxelType, length: number): VoxelArray {
  return new constructors[type](length)
}

export function bytesPerVoxel(type: VoxelType): number {
  return constructors[type].BYTES_PER_ELEMENT
}

/** The smallest integer type holding [min, max], or float32 when none does. */
export function integerTypeFor(min: number, max: number): VoxelType {
  if (min >= 0 && max <= 255) return 'uint8'
  if (min >= -128 && max <= 127) return 'int8'
  if (min >= -32768 && max <= 32767) return 'int16'
  if (min >= 0 && max <= 65535) return 'uint16'
  if (min >= -2147483648 && max <= 2147483647) return 'int32'
  return 'float32'
}
