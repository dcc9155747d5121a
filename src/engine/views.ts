import type { SlicePlane } from './model-card.js'
import type { ModelFn } from './model-fn.js'

/**
 * One way of showing a volume to a slice model: the anatomical plane it is cut in and whether each
 * slice is mirrored (rows: top–bottom, cols: left–right) before the call and back after it.
 * Averaging a model's outputs over several views (a self-ensemble) averages away part of its own
 * error, which is not the same in every view, while the signal is: the views a card allows are
 * the ones its model was trained to treat alike (its flip augmentation; planes only where the
 * voxels are near-isotropic, so that every plane's slices look like the ones it was trained on).
 */
export interface View {
  plane: SlicePlane
  flipRows: boolean
  flipCols: boolean
  /** Its share of the average (the shares of a view list sum to 1); absent: all views weigh the same. */
  weight?: number
}

export const FLIP_AXES = ['rows', 'cols'] as const
export type FlipAxis = (typeof FLIP_AXES)[number]

/** Each view's share of the average: its weight, or an equal share where the list carries none (the one rule evalVolume and calibration use). */
export function viewWeights(views: readonly View[]): number[] {
  return views.map((v) => v.weight ?? 1 / views.length)
}

/** 'sagittal', 'sagittal+rows', 'coronal+rows+cols', 'sagittal x0.5' (weighted): what reports and provenance name a view by. */
export function viewLabel(v: View): string {
  const name = [v.plane, ...(v.flipRows ? ['rows'] : []), ...(v.flipCols ? ['cols'] : [])].join('+')
  return v.weight === undefined ? name : `${name} x${+v.weight.toFixed(4)}`
}

/** Every combination of the given flips (the identity first) in each of the given planes, the first plane first. */
export function viewsOf(planes: readonly SlicePlane[], flips: readonly FlipAxis[]): View[] {
  const rows = flips.includes('rows') ? [false, true] : [false]
  const cols = flips.includes('cols') ? [false, true] : [false]
  const out: View[] = []
  for (const plane of new Set(planes)) for (const flipRows of rows) for (const flipCols of cols) out.push({ plane, flipRows, flipCols })
  return out
}

/** Mirrors each of the n planes of an [n, H, W] array (a copy). */
export function flipPlanes(a: Float32Array, n: number, H: number, W: number, rows: boolean, cols: boolean): Float32Array {
  const out = new Float32Array(a.length)
  for (let p = 0; p < n; p++) {
    const o = p * H * W
    for (let y = 0; y < H; y++) {
      const src = o + (rows ? H - 1 - y : y) * W
      const dst = o + y * W
      if (cols) for (let x = 0; x < W; x++) out[dst + x] = a[src + W - 1 - x]
      else out.set(a.subarray(src, src + W), dst)
    }
  }
  return out
}

/** The network seen through mirrored slices: x and cond mirrored before the call, the output mirrored back. */
export function flippedModelFn(fn: ModelFn, rows: boolean, cols: boolean): ModelFn {
  if (!rows && !cols) return fn
  return async (x, dims, t, cond) => {
    const [B, C, H, W] = dims
    const c = cond ? flipPlanes(cond, cond.length / (H * W), H, W, rows, cols) : undefined
    const out = await fn(flipPlanes(x, B * C, H, W, rows, cols), dims, t, c)
    return flipPlanes(out, out.length / (H * W), H, W, rows, cols)
  }
}
