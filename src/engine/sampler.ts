import { createVolume, type Volume } from '../volume/index.js'
import { reorient, toCanonical } from './canonical.js'
import { throwIfAborted } from './errors.js'
import type { ModelCard, Normalisation, SlicePlane } from './model-card.js'
import type { LoadedModel } from './model-registry.js'
import type { TensorData } from './session-options.js'
import { denormaliseValue, normalisationRange, normaliseValue, type IntensityRange } from './normalise.js'
import { Rng } from './rng.js'
import type { NoiseScheduler } from './schedulers/scheduler.js'
import { paddingFor, readSlice, sliceLayout, writeSlice, type PadMode } from './slicing.js'
import { accumulateTiles, cropTiles, planTiles, tileWeights } from './tiling.js'

/** One network evaluation: x [B,C,H,W], cond [B,Cc,H,W] → out [B,Co,H,W] (Co < C for a 2.5D model, whose x holds neighbour slices). */
export type ModelFn = (x: Float32Array, dims: [number, number, number, number], t: number, cond?: Float32Array) => Promise<Float32Array>

/** Wraps a loaded ONNX model as a ModelFn (t as float32 or int64, as its card says). */
export function onnxModelFn(m: Pick<LoadedModel, 'session' | 'card'>): ModelFn {
  const { session, card } = m
  return async (x, dims, t, cond) => {
    const [B, , H, W] = dims
    const feeds: Record<string, TensorData> = {
      x: { type: 'float32', data: x, dims },
      t: card.timestep_input === 'int64' ? { type: 'int64', data: new BigInt64Array(B).fill(BigInt(t)), dims: [B] } : { type: 'float32', data: new Float32Array(B).fill(t), dims: [B] },
    }
    if (card.cond_channels > 0) {
      if (!cond) throw new RangeError('this model needs a conditioning image')
      feeds.cond = { type: 'float32', data: cond, dims: [B, card.cond_channels, H, W] }
    }
    const r = await session.run(feeds)
    return r.out.data as Float32Array
  }
}

/**
 * Evaluates the model on [B,C,H,W], in overlapping tiles when H or W exceeds `tile`
 * (each tile position runs once for the whole batch).
 */
export function tiledModelFn(model: ModelFn, tile: number | null, overlap: number, cond: number): ModelFn {
  const weights = new Map<string, Float32Array>()
  const weightFor = (h: number, w: number): Float32Array => {
    let wt = weights.get(`${h}x${w}`)
    if (!wt) weights.set(`${h}x${w}`, (wt = tileWeights(h, w, overlap)))
    return wt
  }
  return async (x, dims, t, c) => {
    const [B, C, H, W] = dims
    if (tile === null || (H <= tile && W <= tile)) return model(x, dims, t, c)
    let acc: Float32Array | undefined
    let wsum: Float32Array | undefined
    for (const tl of planTiles(H, W, tile, overlap)) {
      const xt = cropTiles(x, B * C, H, W, tl, new Float32Array(B * C * tl.h * tl.w))
      const ct = c && cond > 0 ? cropTiles(c, B * cond, H, W, tl, new Float32Array(B * cond * tl.h * tl.w)) : undefined
      const out = await model(xt, [B, C, tl.h, tl.w], t, ct)
      const Co = out.length / (B * tl.h * tl.w)
      acc ??= new Float32Array(B * Co * H * W)
      wsum ??= new Float32Array(B * Co * H * W)
      accumulateTiles(acc, wsum, B * Co, H, W, tl, out, weightFor(tl.h, tl.w))
    }
    if (!acc || !wsum) throw new RangeError('no tiles')
    for (let i = 0; i < acc.length; i++) acc[i] /= wsum[i]
    return acc
  }
}

/**
 * Runs the scheduler's timesteps on one batch from state x. `noiseFor(i)` gives the draws for step
 * i of a stochastic scheduler. setTimesteps() must have been called (it also resets history).
 */
export async function sampleBatch(args: {
  model: ModelFn
  scheduler: NoiseScheduler
  x: Float32Array
  dims: [number, number, number, number]
  cond?: Float32Array
  noiseFor?: (step: number) => Float32Array
  signal?: AbortSignal
  onStep?: (step: number) => void
}): Promise<Float32Array> {
  const { model, scheduler, dims, cond, noiseFor, signal, onStep } = args
  let x = args.x
  const ts = scheduler.timesteps
  for (let i = 0; i < ts.length; i++) {
    throwIfAborted(signal)
    const out = await model(x, dims, ts[i], cond)
    throwIfAborted(signal)
    x = scheduler.step(out, ts[i], x, { noise: scheduler.stochastic ? noiseFor?.(i) : undefined })
    onStep?.(i)
  }
  return x
}

export interface Progress {
  step: number
  totalSteps: number
  batch: number
  totalBatches: number
  fraction: number
}

/**
 * Runs task(0) … task(count − 1) with up to `lanes` of them in flight, in order of start. After
 * the first failure no further task starts (the ones in flight finish) and it is rethrown.
 */
export async function runLanes(count: number, lanes: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  let failed = false
  const lane = async (): Promise<void> => {
    while (!failed && next < count) {
      try {
        await task(next++)
      } catch (e) {
        failed = true
        throw e
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(Math.floor(lanes), count)) }, lane))
}

/**
 * Slices per run(), and runs in flight at once. On CPU (threaded-session.ts) a batch is split
 * across the inference threads, one slice each, and a second batch in flight keeps them busy while
 * this thread reads slices and steps the scheduler. One slice per thread rather than several: the
 * same at 128² (10-step pass over 120×120×90: batch 2 × 2 in flight 19.2 s, batch 8 × 2 19.0-19.1 s)
 * and 9 % faster at 240² (superres ×2 of a 90×240×240 IXI T1: 74.3-75.0 s against 82.0-82.1 s),
 * where a 4-slice part's activations no longer fit the cache. A GPU session takes batches of 8.
 */
export const DEFAULT_BATCH_SIZE = 8
export const CPU_BATCHES_IN_FLIGHT = 2

/** Batch size and batches in flight for a loaded model on its device. */
export function batchPlan(m: Pick<LoadedModel, 'session' | 'device'>): { batch: number; inFlight: number } {
  return m.device === 'cpu' ? { batch: m.session.parallelism, inFlight: CPU_BATCHES_IN_FLIGHT } : { batch: DEFAULT_BATCH_SIZE, inFlight: 1 }
}

export interface VolumeSamplingOptions {
  model: ModelFn
  /** The card's geometry and normalisation fields. */
  card: Pick<ModelCard, 'plane' | 'size_multiple' | 'tile_size' | 'channels' | 'cond_channels' | 'normalisation'>
  /** A fresh scheduler per batch keeps DPM-Solver history per trajectory. */
  createScheduler: () => NoiseScheduler
  steps: number
  seed: number
  /**
   * Partial diffusion from the input volume y at t* = startT: x_{t*} = √ᾱ y (addNoise false: the
   * noise already in y plays the role of the diffusion noise) or √ᾱ y + √(1−ᾱ) ε. Without startT
   * sampling starts from pure noise at T−1 and the input only gives geometry (and the range).
   */
  startT?: number
  addNoise?: boolean
  /** Conditioning volume on the same grid (e.g. MRI for MRI→CT); Cc = 2r+1 neighbour slices. */
  cond?: Volume
  condNormalisation?: Normalisation
  batchSize?: number
  /**
   * Batches in flight at once (each its own run() on the same session; see batchPlan).
   * Results do not depend on it (noise is seeded per slice). Default 1.
   */
  concurrency?: number
  padMode?: PadMode
  tileOverlap?: number
  /** Range of the output intensities; default: the input's normalisation range. */
  outputRange?: IntensityRange
  onProgress?: (p: Progress) => void
  signal?: AbortSignal
}

function realValues(v: Volume): Float32Array {
  const { rescaleSlope: m, rescaleIntercept: b } = v.meta
  if (v.data instanceof Float32Array && m === 1 && b === 0) return v.data
  return Float32Array.from(v.data as ArrayLike<number>, (x) => x * m + b)
}

/**
 * Volume → canonical LPS voxel order (canonical.ts; the card's plane is anatomical) → normalised
 * slices in the card's plane → padded batches → sampler → reassembled Volume in the input's voxel
 * order and geometry. Memory: one float32 output volume, a transient sorted float32 copy for
 * percentile normalisation, and O(batch × slice) working buffers (never a whole-volume tensor); a
 * volume not stored in canonical order adds one reordered copy of the input (and of cond) and one
 * of the output. Each slice draws its noise from Rng(seed, canonical slice index), so results do not
 * depend on the batch size.
 */
export async function sampleVolume(input: Volume, o: VolumeSamplingOptions): Promise<Volume> {
  const { card } = o
  if (card.channels !== 1) throw new RangeError('the volume sampler supports single-channel models (C = 1)')
  if (input.components !== 1) throw new RangeError('the volume sampler needs a single-component volume')
  if (card.cond_channels > 0 && o.cond && o.cond.size.some((n, i) => n !== input.size[i])) throw new RangeError('the conditioning volume must be on the input grid')
  // card planes are anatomical: slice the closest canonical LPS voxel order, hand back the input's
  const canon = toCanonical(input)
  const out = await sampleCanonical(canon.volume, { ...o, cond: o.cond && reorient(o.cond, canon.reorientation) })
  return canon.undo(out)
}

async function sampleCanonical(input: Volume, o: VolumeSamplingOptions): Promise<Volume> {
  const { card } = o
  const plane: SlicePlane = card.plane
  const layout = sliceLayout(input.size, plane)
  const pad = paddingFor(layout.H, layout.W, card.size_multiple)
  const padMode = o.padMode ?? 'reflect'
  const range = normalisationRange(card.normalisation.kind === 'percentile' ? realValues(input) : [], card.normalisation)
  const outRange = o.outputRange ?? range
  const Cc = card.cond_channels
  let condRange: IntensityRange | undefined
  if (Cc > 0) {
    if (!o.cond) throw new RangeError('this model needs a conditioning volume')
    if (o.cond.size.some((n, i) => n !== input.size[i])) throw new RangeError('the conditioning volume must be on the input grid')
    const cn = o.condNormalisation ?? card.normalisation
    condRange = normalisationRange(cn.kind === 'percentile' ? realValues(o.cond) : [], cn)
  }
  const B = Math.max(1, o.batchSize ?? DEFAULT_BATCH_SIZE)
  const plen = pad.H * pad.W
  const totalBatches = Math.ceil(layout.count / B)
  const totalSteps = o.steps
  const model = card.tile_size ? tiledModelFn(o.model, card.tile_size, o.tileOverlap ?? Math.max(card.size_multiple, Math.floor(card.tile_size / 4)), Cc) : o.model
  const out = new Float32Array(layout.count * layout.H * layout.W)
  const norm = (v: number): number => normaliseValue(v, range)
  const denorm = (y: number): number => denormaliseValue(y, outRange)

  let stepsDone = 0
  const runBatch = async (b: number): Promise<void> => {
    throwIfAborted(o.signal)
    const s0 = b * B
    const n = Math.min(B, layout.count - s0)
    const scheduler = o.createScheduler()
    scheduler.setTimesteps(o.steps, o.startT !== undefined ? { startT: o.startT } : {})
    const t0 = scheduler.timesteps[0]
    const rngs = Array.from({ length: n }, (_, k) => new Rng(o.seed, s0 + k))
    const x = new Float32Array(n * plen)
    if (o.startT === undefined) {
      for (let k = 0; k < n; k++) rngs[k].fillNormal(x, k * plen, plen)
    } else {
      const a = Math.sqrt(scheduler.abar(t0))
      const sd = Math.sqrt(1 - scheduler.abar(t0))
      const z = new Float32Array(plen)
      for (let k = 0; k < n; k++) {
        readSlice(input, layout, s0 + k, pad, padMode, norm, x, k * plen)
        if (o.addNoise) rngs[k].fillNormal(z)
        for (let i = 0; i < plen; i++) x[k * plen + i] = a * x[k * plen + i] + (o.addNoise ? sd * z[i] : 0)
      }
    }
    let cond: Float32Array | undefined
    if (Cc > 0 && o.cond && condRange) {
      cond = new Float32Array(n * Cc * plen)
      const r = (Cc - 1) >> 1
      const cmap = (v: number): number => normaliseValue(v, condRange!)
      const condLayout = sliceLayout(o.cond.size, plane)
      for (let k = 0; k < n; k++) for (let c = 0; c < Cc; c++) readSlice(o.cond, condLayout, s0 + k + c - r, pad, padMode, cmap, cond, (k * Cc + c) * plen)
    }
    const noise = new Float32Array(n * plen)
    const res = await sampleBatch({
      model,
      scheduler,
      x,
      dims: [n, 1, pad.H, pad.W],
      cond,
      signal: o.signal,
      noiseFor: () => {
        for (let k = 0; k < n; k++) rngs[k].fillNormal(noise, k * plen, plen)
        return noise
      },
      onStep: (i) => o.onProgress?.({ step: i + 1, totalSteps, batch: b + 1, totalBatches, fraction: ++stepsDone / (totalBatches * totalSteps) }),
    })
    for (let k = 0; k < n; k++) writeSlice(out, layout, s0 + k, pad, res, k * plen, denorm)
  }
  await runLanes(totalBatches, o.concurrency ?? 1, runBatch)
  return createVolume({
    data: out,
    size: input.size,
    spacing: input.spacing,
    origin: input.origin,
    direction: input.direction,
    modality: input.modality,
    meta: input.meta.clone({ rescaleSlope: 1, rescaleIntercept: 0 }),
  })
}

