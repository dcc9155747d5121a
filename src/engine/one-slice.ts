import type { Vec3 } from '../volume/geometry-types.js'
import type { ModelCard } from './model-card.js'
import { tiledModelFn, type ModelFn } from './model-fn.js'
import type { NoiseScheduler } from './schedulers/scheduler.js'
import { paddingFor, padIndex, readSlice, sliceLayout, writeSlice, type Padding, type SliceLayout, type SliceSource } from './slicing.js'

// Browser-safe on purpose (type imports and pure modules only): the viewer's in-browser preview
// imports this file, so the preview and the service prepare a slice with the same code.

const identity = (v: number): number => v

/** Plain values already in model units (no rescale), as readSlice reads them. */
export const unscaled = (data: Float32Array): SliceSource => ({ data, meta: { rescaleSlope: 1, rescaleIntercept: 0 } })

/**
 * The model's x for slice s: the slice and its k neighbours on each side as 2k+1 channels,
 * reflected (no edge repeat) at the volume's ends as in training, each padded to `pad`.
 */
export function readContextSlices(src: SliceSource, layout: SliceLayout, s: number, k: number, pad: Padding, out: Float32Array, offset = 0): void {
  const plen = pad.H * pad.W
  for (let c = 0; c <= 2 * k; c++) readSlice(src, layout, padIndex(s + c - k, layout.count, 'reflect'), pad, 'reflect', identity, out, offset + c * plen)
}

/** The one-step estimate's state x_t = √ᾱ_t y (no added noise: the noise already in y plays that part). */
export function scaledState(sch: Pick<NoiseScheduler, 'abar'>, y: Float32Array, t: number): Float32Array {
  const a = Math.sqrt(sch.abar(t))
  return Float32Array.from(y, (v) => a * v)
}

/** Clips x̂₀ to the normalised range [-1, 1] in place. */
export function clipUnit(x: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = x[i] < -1 ? -1 : x[i] > 1 ? 1 : x[i]
  return x
}

/** The network tiled as the card says (tile_size; overlap a quarter tile, at least size_multiple). */
export function cardTiled(fn: ModelFn, card: Pick<ModelCard, 'tile_size' | 'size_multiple' | 'cond_channels'>, tileOverlap?: number): ModelFn {
  if (!card.tile_size) return fn
  return tiledModelFn(fn, card.tile_size, tileOverlap ?? Math.max(card.size_multiple, Math.floor(card.tile_size / 4)), card.cond_channels)
}

export type OneSliceCard = Pick<ModelCard, 'plane' | 'size_multiple' | 'channels' | 'cond_channels' | 'context_slices'>

/** The slice geometry of a volume for a card: the layout, its padding and the channels of x. */
export function sliceGeometry(card: OneSliceCard, size: Vec3): { layout: SliceLayout; pad: Padding; k: number; C: number } {
  const layout = sliceLayout(size, card.plane)
  const k = card.context_slices ?? 0
  return { layout, pad: paddingFor(layout.H, layout.W, card.size_multiple), k, C: 2 * k + 1 }
}

/**
 * The volume sampler's oneStepX0 for slice s alone (x̂₀ at t from x_t = √ᾱ_t y, clipped to
 * [-1, 1], before any correction), from that slice and its 2.5D neighbours: what the viewer's
 * in-browser preview runs. `fn` is the network, already tiled as the card says (cardTiled).
 * Returns the slice's H×W values, rows of its layout (sliceLayout), in normalised units.
 */
export async function oneStepX0Slice(fn: ModelFn, card: OneSliceCard, sch: Pick<NoiseScheduler, 'abar' | 'x0FromOutput'>, y: Float32Array, size: Vec3, s: number, t: number): Promise<Float32Array> {
  if (card.channels !== 1 || card.cond_channels > 0) throw new RangeError('one-slice evaluation supports single-channel unconditional models')
  const { layout, pad, k, C } = sliceGeometry(card, size)
  if (!(Number.isInteger(s) && s >= 0 && s < layout.count)) throw new RangeError(`slice ${s} is outside 0…${layout.count - 1}`)
  const plen = pad.H * pad.W
  const x = new Float32Array(C * plen)
  readContextSlices(unscaled(y), layout, s, k, pad, x)
  // √ᾱ y rounded to float32 per voxel, as scaledState does for the whole volume
  const a = Math.sqrt(sch.abar(t))
  for (let i = 0; i < x.length; i++) x[i] = a * x[i]
  const out = await fn(x, [1, C, pad.H, pad.W], t)
  const x0 = clipUnit(sch.x0FromOutput(out, x.subarray(k * plen, (k + 1) * plen), t))
  const res = new Float32Array(layout.H * layout.W)
  writeSlice(res, { count: 1, H: layout.H, W: layout.W, sliceStride: 0, rowStride: layout.W, colStride: 1 }, 0, pad, x0, 0, identity)
  return res
}

/** Slice s of a volume-shaped array, rows of its layout: the same H×W order oneStepX0Slice returns. */
export function sliceOf(v: ArrayLike<number>, layout: SliceLayout, s: number): Float32Array {
  const res = new Float32Array(layout.H * layout.W)
  for (let y = 0; y < layout.H; y++) for (let x = 0; x < layout.W; x++) res[y * layout.W + x] = v[s * layout.sliceStride + y * layout.rowStride + x * layout.colStride]
  return res
}
