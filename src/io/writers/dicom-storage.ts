import type { Volume } from '../../volume/index.js'
import { toFloat32, voxelType } from '../../volume/index.js'
import { IoError } from '../errors.js'

export type StorageChoice = 'auto' | 'int16' | 'uint16'

/** Voxels as DICOM will store them: real value = stored * slope + intercept. */
export interface StoredPixels {
  data: Int16Array | Uint16Array
  signed: boolean
  slope: number
  intercept: number
  /** Range of the real values written, for a default window. */
  min: number
  max: number
}

const RANGE = { int16: [-32768, 32767], uint16: [0, 65535] } as const

/**
 * DS holds at most 16 characters. Returns the closest DS-representable number, so the
 * quantisation below is computed with exactly the slope / intercept a reader will see.
 */
export function toDecimalString(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x)
  for (let p = 15; p >= 1; p--) {
    const s = x.toPrecision(p)
    const t = String(Number(s))
    if (t.length <= 16) return t
    const e = Number(s).toExponential(Math.max(0, p - 1)).replace('e+', 'e')
    if (e.length <= 16) return e
  }
  throw new IoError('WRITE_FAILED', 'a rescale value cannot be written as a DICOM decimal string')
}

const ds = (x: number): number => Number(toDecimalString(x))

function range(values: ArrayLike<number>): { min: number; max: number; integral: boolean } {
  let min = Infinity
  let max = -Infinity
  let integral = true
  for (let i = 0; i < values.length; i++) {
    const x = values[i]
    if (!Number.isFinite(x)) {
      throw new IoError('WRITE_FAILED', 'the volume holds NaN or infinite values; DICOM cannot store them')
    }
    if (x < min) min = x
    if (x > max) max = x
    if (integral && !Number.isInteger(x)) integral = false
  }
  if (values.length === 0) return { min: 0, max: 0, integral }
  return { min, max, integral }
}

/**
 * Picks the 16-bit representation. Integer stored data that already fits keeps its own values
 * and the volume's rescale (bit-exact); integer real values that fit are stored with slope 1,
 * intercept 0 (CT in HU stays HU); anything else is scaled linearly to span the type's range.
 */
export function chooseStorage(v: Volume, choice: StorageChoice = 'auto'): StoredPixels {
  const { rescaleSlope: m, rescaleIntercept: b } = v.meta
  if (!Number.isFinite(m) || !Number.isFinite(b) || m === 0) {
    throw new IoError('WRITE_FAILED', 'the volume has a non-finite or zero rescale slope / intercept')
  }
  const type = voxelType(v)
  if (type !== 'float32' && type !== 'float64' && ds(m) === m && ds(b) === b) {
    const raw = range(v.data)
    const fits = (t: 'int16' | 'uint16'): boolean => raw.min >= RANGE[t][0] && raw.max <= RANGE[t][1]
    const target = choice === 'auto' ? (fits('int16') ? 'int16' : fits('uint16') ? 'uint16' : undefined) : choice
    if (target && fits(target)) {
      const data = target === 'int16' ? Int16Array.from(v.data) : Uint16Array.from(v.data)
      const lo = raw.min * m + b
      const hi = raw.max * m + b
      return { data, signed: target === 'int16', slope: m, intercept: b, min: Math.min(lo, hi), max: Math.max(lo, hi) }
    }
  }
  const real = toFloat32(v)
  const r = range(real)
  const inRange = (t: 'int16' | 'uint16'): boolean => r.integral && r.min >= RANGE[t][0] && r.max <= RANGE[t][1]
  let target: 'int16' | 'uint16'
  if (choice !== 'auto') target = choice
  else if (inRange('int16')) target = 'int16'
  else if (inRange('uint16')) target = 'uint16'
  else target = r.min < 0 ? 'int16' : 'uint16'
  const [lo, hi] = RANGE[target]
  let slope = 1
  let intercept = 0
  if (!inRange(target)) {
    // Slope rounded up so the rounded-down DS value can never push the maximum out of range.
    slope = r.max > r.min ? ds(((r.max - r.min) / (hi - lo)) * (1 + 1e-9)) : 1
    intercept = ds(r.min - lo * slope)
  }
  const data = target === 'int16' ? new Int16Array(real.length) : new Uint16Array(real.length)
  for (let i = 0; i < real.length; i++) {
    const q = Math.round((real[i] - intercept) / slope)
    data[i] = q < lo ? lo : q > hi ? hi : q
  }
  return { data, signed: target === 'int16', slope, intercept, min: r.min, max: r.max }
}
