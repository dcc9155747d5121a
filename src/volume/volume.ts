import type { VoxelArray, VoxelType } from './voxel-array.js'
import { voxelTypeOf } from './voxel-array.js'
import { VolumeMetadata } from './metadata.js'

import type { Mat3, Vec3 } from './geometry-types.js'
export type { Mat3, Vec3 } from './geometry-types.js'
/** Row-major 3×3 direction cosines, as ITK: column j is the LPS direction of voxel axis j. */

export type Modality = 'CT' | 'MR' | 'PT' | 'CR' | 'DX' | 'US' | 'OT' | string

/**
 * The one image type of raddiff. Voxels are stored x-fastest (i, then j, then k), components
 * interleaved, in the type the file stored them in. Geometry is in DICOM/ITK LPS patient
 * coordinates: physical(i,j,k) = origin + direction · (spacing ⊙ [i,j,k]).
 */
export interface Volume {
  data: VoxelArray
  size: Vec3
  spacing: Vec3
  origin: Vec3
  direction: Mat3
  /** 1 for grayscale, 3 for RGB. */
  components: number
  modality: Modality
  meta: VolumeMetadata
}

export interface VolumeInit {
  data: VoxelArray
  size: Vec3
  spacing?: Vec3
  origin?: Vec3
  direction?: Mat3
  components?: number
  modality?: Modality
  meta?: VolumeMetadata
}

export const IDENTITY: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1]

export function createVolume(init: VolumeInit): Volume {
  const components = init.components ?? 1
  const n = init.size[0] * init.size[1] * init.size[2] * components
  if (init.data.length !== n) {
    throw new RangeError(`voxel array holds ${init.data.length} values, size needs ${n}`)
  }
  return {
    data: init.data,
    size: [...init.size],
    spacing: init.spacing ? [...init.spacing] : [1, 1, 1],
    origin: init.origin ? [...init.origin] : [0, 0, 0],
    direction: init.direction ? [...init.direction] : [...IDENTITY],
    components,
    modality: init.modality ?? 'OT',
    meta: init.meta ?? new VolumeMetadata(),
  }
}

export function voxelCount(v: Pick<Volume, 'size'>): number {
  return v.size[0] * v.size[1] * v.size[2]
}

export function voxelType(v: Volume): VoxelType {
  return voxelTypeOf(v.data)
}

/** Real-world values (rescale applied) as float32: what pipelines compute on. */
export function toFloat32(v: Volume): Float32Array {
  const { rescaleSlope: m, rescaleIntercept: b } = v.meta
  if (v.data instanceof Float32Array && m === 1 && b === 0) return v.data
  const out = new Float32Array(v.data.length)
  const src = v.data
  for (let i = 0; i < src.length; i++) out[i] = src[i] * m + b
  return out
}

/** A float32 volume of real values with the same geometry; rescale folded in. */
export function withFloatData(v: Volume, data: Float32Array = toFloat32(v)): Volume {
  return {
    ...v,
    data,
    size: [...v.size],
    spacing: [...v.spacing],
    origin: [...v.origin],
    direction: [...v.direction],
    meta: v.meta.clone({ rescaleSlope: 1, rescaleIntercept: 0 }),
  }
}

/** 4×4 index→LPS matrix, row-major. */
export function indexToLps(v: Pick<Volume, 'spacing' | 'origin' | 'direction'>): number[] {
  const d = v.direction
  const s = v.spacing
  return [
    d[0] * s[0], d[1] * s[1], d[2] * s[2], v.origin[0],
    d[3] * s[0], d[4] * s[1], d[5] * s[2], v.origin[1],
    d[6] * s[0], d[7] * s[1], d[8] * s[2], v.origin[2],
    0, 0, 0, 1,
  ]
}

/** 4×4 index→RAS matrix (the NIfTI / nibabel affine), row-major. */
export function indexToRas(v: Pick<Volume, 'spacing' | 'origin' | 'direction'>): number[] {
  const m = indexToLps(v)
  for (let c = 0; c < 4; c++) {
    m[c] = -m[c]
    m[4 + c] = -m[4 + c]
  }
  return m
}

/** LPS position of a voxel index (fractional indices allowed). */
export function indexToPoint(v: Pick<Volume, 'spacing' | 'origin' | 'direction'>, ijk: Vec3): Vec3 {
  const m = indexToLps(v)
  return [0, 1, 2].map((r) => m[r * 4] * ijk[0] + m[r * 4 + 1] * ijk[1] + m[r * 4 + 2] * ijk[2] + m[r * 4 + 3]) as Vec3
}

/** Compact, patient-free description for logs and `inspect`. */
export function describeVolume(v: Volume): Record<string, unknown> {
  return {
    size: v.size,
    spacing: v.spacing,
    origin: v.origin,
    direction: v.direction,
    components: v.components,
    modality: v.modality,
    type: voxelType(v),
    meta: v.meta.toJSON(),
  }
}
