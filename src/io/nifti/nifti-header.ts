import { IoError } from '../errors.js'
import type { Limits } from '../limits.js'
import type { VoxelType } from '../../volume/voxel-array.js'

/** The NIfTI-1/2 header fields raddiff uses, whatever the version and byte order on disk. */
export interface NiftiHeader {
  version: 1 | 2
  littleEndian: boolean
  /** Bytes of the fixed header: 348 or 540. */
  headerSize: number
  /** true for 'n+1'/'n+2' (data in the same file); false for 'ni1'/'ni2' pairs and Analyze. */
  singleFile: boolean
  /** false for an Analyze 7.5 header (no NIfTI magic): only pixdim geometry applies. */
  hasMagic: boolean
  datatype: number
  bitpix: number
  /** dim[0..7] */
  dim: number[]
  /** pixdim[0..7]; pixdim[0] is qfac. */
  pixdim: number[]
  voxOffset: number
  sclSlope: number
  sclInter: number
  calMin: number
  calMax: number
  descrip: string
  qformCode: number
  sformCode: number
  quatern: [number, number, number]
  qoffset: [number, number, number]
  srow: [number[], number[], number[]]
  xyztUnits: number
}

/** Stored type and components of each NIfTI datatype code raddiff can hold in a Volume. */
const DATATYPES: Record<number, { type: VoxelType; bytes: number; components: number }> = {
  2: { type: 'uint8', bytes: 1, components: 1 },
  4: { type: 'int16', bytes: 2, components: 1 },
  8: { type: 'int32', bytes: 4, components: 1 },
  16: { type: 'float32', bytes: 4, components: 1 },
  64: { type: 'float64', bytes: 8, components: 1 },
  128: { type: 'uint8', bytes: 3, components: 3 },
  256: { type: 'int8', bytes: 1, components: 1 },
  512: { type: 'uint16', bytes: 2, components: 1 },
  768: { type: 'uint32', bytes: 4, components: 1 },
}

export function niftiDatatype(h: NiftiHeader): { type: VoxelType; bytes: number; components: number } {
  const t = DATATYPES[h.datatype]
  if (!t) {
    throw new IoError(
      'UNSUPPORTED_PIXEL_FORMAT',
      `NIfTI datatype code ${h.datatype} is not supported (use uint8/int8/int16/uint16/int32/uint32/float32/float64/RGB24)`,
    )
  }
  return t
}

/** Bytes that must be read to know the version and byte order. */
export const NIFTI_PROBE_BYTES = 540

/** 348 or 540 in either byte order, or undefined: the first check on any NIfTI/Analyze file. */
export function sniffNifti(bytes: Uint8Array): { version: 1 | 2; littleEndian: boolean } | undefined {
  if (bytes.length < 4) return undefined
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (const le of [true, false]) {
    const n = dv.getInt32(0, le)
    if (n === 348) return { version: 1, littleEndian: le }
    if (n === 540) return { version: 2, littleEndian: le }
  }
  return undefined
}

function text(bytes: Uint8Array, at: number, len: number): string {
  const s = bytes.subarray(at, at + len)
  const end = s.indexOf(0)
  return Buffer.from(end < 0 ? s : s.subarray(0, end)).toString('latin1')
}

/**
 * Parses and validates the fixed header. Throws NOT_AN_IMAGE when the bytes are not a
 * NIfTI/Analyze header at all, TRUNCATED when fewer bytes than the header are present,
 * DIMENSIONS_INVALID / INVALID_HEADER / NONFINITE_SCALING / TOO_LARGE for impossible fields.
 */
export function parseNiftiHeader(bytes: Uint8Array, limits: Pick<Limits, 'maxVoxels'>): NiftiHeader {
  const sniff = sniffNifti(bytes)
  if (!sniff) throw new IoError('NOT_AN_IMAGE', 'not a NIfTI file: sizeof_hdr is neither 348 nor 540')
  const headerSize = sniff.version === 1 ? 348 : 540
  if (bytes.length < headerSize) {
    throw new IoError('TRUNCATED', `the file ends inside its ${headerSize}-byte NIfTI header`)
  }
  const le = sniff.littleEndian
  const dv = new DataView(bytes.buffer, bytes.byteOffset, headerSize)
  const h = sniff.version === 1 ? readV1(dv, bytes, le) : readV2(dv, bytes, le)
  validate(h, limits)
  return h
}

function readV1(dv: DataView, bytes: Uint8Array, le: boolean): NiftiHeader {
  const f32 = (o: number) => dv.getFloat32(o, le)
  const i16 = (o: number) => dv.getInt16(o, le)
  const magic = text(bytes, 344, 4)
  return {
    version: 1,
    littleEndian: le,
    headerSize: 348,
    singleFile: magic === 'n+1',
    hasMagic: magic === 'n+1' || magic === 'ni1',
    datatype: i16(70),
    bitpix: i16(72),
    dim: Array.from({ length: 8 }, (_, i) => i16(40 + 2 * i)),
    pixdim: Array.from({ length: 8 }, (_, i) => f32(76 + 4 * i)),
    voxOffset: f32(108),
    sclSlope: f32(112),
    sclInter: f32(116),
    calMax: f32(124),
    calMin: f32(128),
    descrip: text(bytes, 148, 80),
    qformCode: i16(252),
    sformCode: i16(254),
    quatern: [f32(256), f32(260), f32(264)],
    qoffset: [f32(268), f32(272), f32(276)],
    srow: [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => f32(280 + 16 * r + 4 * c))) as NiftiHeader['srow'],
    xyztUnits: bytes[123],
  }
}

function readV2(dv: DataView, bytes: Uint8Array, le: boolean): NiftiHeader {
  const f64 = (o: number) => dv.getFloat64(o, le)
  // int64 fields: Number() is exact up to 2^53, far beyond any voxel cap checked below.
  const i64 = (o: number) => Number(dv.getBigInt64(o, le))
  const i32 = (o: number) => dv.getInt32(o, le)
  const magic = text(bytes, 4, 8)
  return {
    version: 2,
    littleEndian: le,
    headerSize: 540,
    singleFile: magic.startsWith('n+2'),
    hasMagic: magic.startsWith('n+2') || magic.startsWith('ni2'),
    datatype: dv.getInt16(12, le),
    bitpix: dv.getInt16(14, le),
    dim: Array.from({ length: 8 }, (_, i) => i64(16 + 8 * i)),
    pixdim: Array.from({ length: 8 }, (_, i) => f64(104 + 8 * i)),
    voxOffset: i64(168),
    sclSlope: f64(176),
    sclInter: f64(184),
    calMax: f64(192),
    calMin: f64(200),
    descrip: text(bytes, 240, 80),
    qformCode: i32(344),
    sformCode: i32(348),
    quatern: [f64(352), f64(360), f64(368)],
    qoffset: [f64(376), f64(384), f64(392)],
    srow: [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => f64(400 + 32 * r + 8 * c))) as NiftiHeader['srow'],
    xyztUnits: i32(500),
  }
}

function validate(h: NiftiHeader, limits: Pick<Limits, 'maxVoxels'>): void {
  const nd = h.dim[0]
  if (!(nd >= 1 && nd <= 7)) {
    throw new IoError('DIMENSIONS_INVALID', `NIfTI dim[0] is ${nd}; it must be between 1 and 7`)
  }
  let voxels = 1
  for (let i = 1; i <= nd; i++) {
    if (!(h.dim[i] >= 1)) {
      throw new IoError('DIMENSIONS_INVALID', `NIfTI dim[${i}] is ${h.dim[i]}; every used dimension must be at least 1`)
    }
    voxels *= h.dim[i]
  }
  for (let i = 4; i <= nd; i++) {
    if (h.dim[i] !== 1) {
      throw new IoError(
        'DIMENSIONS_INVALID',
        `NIfTI image has ${nd} dimensions with dim[${i}] = ${h.dim[i]}; raddiff reads single 3-D volumes (split 4-D series first)`,
      )
    }
  }
  const dt = niftiDatatype(h)
  if (voxels * dt.components > limits.maxVoxels) {
    throw new IoError('TOO_LARGE', `NIfTI header declares ${voxels} voxels, above the cap of ${limits.maxVoxels}`)
  }
  if (!Number.isFinite(h.sclSlope) || !Number.isFinite(h.sclInter)) {
    throw new IoError('NONFINITE_SCALING', 'NIfTI scl_slope or scl_inter is NaN or infinite')
  }
  if (!Number.isFinite(h.voxOffset) || (h.singleFile && h.voxOffset < h.headerSize) || h.voxOffset < 0) {
    throw new IoError('INVALID_HEADER', `NIfTI vox_offset ${h.voxOffset} is not a finite offset past the header`)
  }
}

/** Stored bytes of the voxel data the header declares. */
export function niftiDataBytes(h: NiftiHeader): number {
  let n = niftiDatatype(h).bytes
  for (let i = 1; i <= h.dim[0]; i++) n *= h.dim[i]
  return n
}

/** Size [x, y, z] of the 3-D volume (missing dimensions are 1). */
export function niftiSize(h: NiftiHeader): [number, number, number] {
  return [1, 2, 3].map((i) => (i <= h.dim[0] ? h.dim[i] : 1)) as [number, number, number]
}

/** Scaling as the standard reads it: slope 0 means none. */
export function niftiScaling(h: NiftiHeader): { slope: number; inter: number } | undefined {
  if (h.sclSlope === 0) return undefined
  if (h.sclSlope === 1 && h.sclInter === 0) return undefined
  return { slope: h.sclSlope, inter: h.sclInter }
}
