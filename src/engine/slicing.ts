import type { SlicePlane } from './model-card.js'

/**
 * What readSlice reads: a Volume, or plain voxels with a rescale (the browser preview has no
 * Volume class: its metadata module needs node:util).
 */
export interface SliceSource {
  data: ArrayLike<number>
  meta: { rescaleSlope: number; rescaleIntercept: number }
}

/**
 * Slice geometry relative to the voxel axes (i fastest, then j, then k):
 *   axial    = slices along k, each W = i, H = j
 *   coronal  = slices along j, each W = i, H = k
 *   sagittal = slices along i, each W = j, H = k
 * These are anatomical planes only on a canonical grid (canonical.ts: i → L, j → P, k → S), which
 * sampleVolume reorients to first; called on a raw volume they name voxel planes.
 */
export interface SliceLayout {
  count: number
  H: number
  W: number
  /** Voxel offsets: voxel(slice s, row y, col x) = s*sliceStride + y*rowStride + x*colStride. */
  sliceStride: number
  rowStride: number
  colStride: number
}

/** The voxel axis a plane's slices run along on the canonical grid (sliceLayout's `count` axis). */
export function sliceAxis(plane: SlicePlane): 0 | 1 | 2 {
  return plane === 'axial' ? 2 : plane === 'coronal' ? 1 : 0
}

export function sliceLayout(size: [number, number, number], plane: SlicePlane): SliceLayout {
  const [nx, ny, nz] = size
  if (plane === 'axial') return { count: nz, H: ny, W: nx, sliceStride: nx * ny, rowStride: nx, colStride: 1 }
  if (plane === 'coronal') return { count: ny, H: nz, W: nx, sliceStride: nx, rowStride: nx * ny, colStride: 1 }
  return { count: nx, H: nz, W: ny, sliceStride: 1, rowStride: nx * ny, colStride: nx }
}

export type PadMode = 'reflect' | 'edge'

/** Mirror index without repeating the edge (numpy 'reflect'), periodic for pads longer than n. */
export function padIndex(i: number, n: number, mode: PadMode): number {
  if (i >= 0 && i < n) return i
  if (mode === 'edge' || n === 1) return i < 0 ? 0 : n - 1
  const period = 2 * (n - 1)
  let m = ((i % period) + period) % period
  if (m >= n) m = period - m
  return m
}

export interface Padding {
  H: number
  W: number
  top: number
  left: number
}

/** Padded size: the next multiple, with the extra split evenly (top/left get the smaller half). */
export function paddingFor(H: number, W: number, multiple: number): Padding {
  const PH = Math.ceil(H / multiple) * multiple
  const PW = Math.ceil(W / multiple) * multiple
  return { H: PH, W: PW, top: Math.floor((PH - H) / 2), left: Math.floor((PW - W) / 2) }
}

/**
 * Reads slice `s` (clamped to the volume, for 2.5D neighbours) into `out` at its padded size,
 * mapping each real value (stored·slope + intercept) through `map`.
 */
export function readSlice(v: SliceSource, layout: SliceLayout, s: number, pad: Padding, mode: PadMode, map: (real: number) => number, out: Float32Array, offset = 0): void {
  const sc = Math.min(Math.max(s, 0), layout.count - 1)
  const { rescaleSlope: m, rescaleIntercept: b } = v.meta
  const data = v.data
  const base = sc * layout.sliceStride
  const cols = new Int32Array(pad.W)
  for (let x = 0; x < pad.W; x++) cols[x] = padIndex(x - pad.left, layout.W, mode) * layout.colStride
  for (let y = 0; y < pad.H; y++) {
    const row = base + padIndex(y - pad.top, layout.H, mode) * layout.rowStride
    const o = offset + y * pad.W
    for (let x = 0; x < pad.W; x++) out[o + x] = map(data[row + cols[x]] * m + b)
  }
}

/** Writes the unpadded centre of a padded slice back into a volume-shaped array. */
export function writeSlice(dst: Float32Array, layout: SliceLayout, s: number, pad: Padding, src: Float32Array, offset: number, map: (y: number) => number): void {
  const base = s * layout.sliceStride
  for (let y = 0; y < layout.H; y++) {
    const row = base + y * layout.rowStride
    const o = offset + (y + pad.top) * pad.W + pad.left
    for (let x = 0; x < layout.W; x++) dst[row + x * layout.colStride] = map(src[o + x])
  }
}
