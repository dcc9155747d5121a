import os from 'node:os'
import { createVolume, toFloat32, type Vec3, type Volume } from '../volume/index.js'
import { reorient, toCanonical } from './canonical.js'
import { throwIfAborted } from './errors.js'
import type { ModelCard, Normalisation } from './model-card.js'
import { loadModel } from './model-registry.js'
import { denormaliseValue, normalisationRange, normaliseValue, type IntensityRange } from './normalise.js'
import { Rng } from './rng.js'
import { batchPlan, onnxModelFn, runLanes, type ModelFn } from './model-fn.js'
import { createScheduler, type SamplerKind } from './schedulers/index.js'
import type { NoiseScheduler } from './schedulers/scheduler.js'
import type { Device, ResolvedDevice } from './session.js'
import { cardTiled, clipUnit, readContextSlices, scaledState, sliceGeometry, unscaled } from './one-slice.js'
import { padIndex, readSlice, writeSlice } from './slicing.js'
import { flippedModelFn, viewWeights, type View } from './views.js'

/**
 * A model ready for whole-volume evaluation: its card's geometry and diffusion fields, the network
 * (tiled when slices exceed the card's tile_size) and the batch plan of its device.
 */
export interface VolumeModel {
  card: Pick<ModelCard, 'plane' | 'size_multiple' | 'tile_size' | 'channels' | 'cond_channels' | 'context_slices' | 'schedule' | 'prediction' | 'clip_sample' | 'normalisation'>
  fn: ModelFn
  /** Slices per model call and calls in flight (batchPlan for the device). */
  plan: { batch: number; inFlight: number }
  /**
   * A self-ensemble (views.ts): evalVolume averages the model's outputs over these views, each
   * plane's slices with their own neighbours. Absent or empty: the card's plane alone.
   */
  views?: readonly View[]
}

/** A VolumeModel loaded from a card: the full card, its path and the device that really runs it. */
export interface PreparedModel extends VolumeModel {
  card: ModelCard
  cardPath: string
  device: ResolvedDevice
}

/** Wraps a network as a VolumeModel (tiling per the card). Tests and benches pass their own ModelFn. */
export function volumeModel(fn: ModelFn, card: VolumeModel['card'], plan: VolumeModel['plan'] = { batch: 8, inFlight: 1 }, tileOverlap?: number): VolumeModel {
  return { card, fn: cardTiled(fn, card, tileOverlap), plan }
}

export async function prepareModel(cardPath: string, device: Device = 'auto', threads?: number): Promise<PreparedModel> {
  const m = await loadModel(cardPath, { device, threads: threads ?? os.availableParallelism() })
  const vm = volumeModel(onnxModelFn(m), m.card, batchPlan(m))
  return { ...vm, card: m.card, cardPath, device: m.device }
}

/**
 * The model on every slice (the card's plane) of a normalised volume-shaped state at timestep t.
 * A 2.5D model (card context_slices = k) gets each slice with its k neighbours on each side as
 * channels, reflected (no edge repeat) at the volume's ends as in training; cond is a normalised
 * volume on the same grid (Cc = 2r+1 neighbour slices, reflected at the ends). Batches per the plan.
 */
export async function evalVolume(vm: VolumeModel, x: Float32Array, size: Vec3, t: number, cond?: Float32Array, signal?: AbortSignal): Promise<Float32Array> {
  if (vm.views && vm.views.length > 0) {
    const inView = (v: View): Promise<Float32Array> => evalVolume({ ...vm, views: undefined, card: { ...vm.card, plane: v.plane }, fn: flippedModelFn(vm.fn, v.flipRows, v.flipCols) }, x, size, t, cond, signal)
    if (vm.views.length === 1) return inView(vm.views[0])
    // x̂₀ is affine in the output for every prediction kind at a fixed (x, t): averaging outputs averages the estimates
    const sum = new Float32Array(x.length)
    const weights = viewWeights(vm.views)
    for (const [vi, v] of vm.views.entries()) {
      const one = await inView(v)
      const w = weights[vi]
      for (let i = 0; i < sum.length; i++) sum[i] += w * one[i]
    }
    return sum
  }
  const { batch, inFlight } = vm.plan
  const { card } = vm
  const { layout, pad, k, C } = sliceGeometry(card, size)
  const plen = pad.H * pad.W
  const Cc = card.cond_channels
  const xv = unscaled(x)
  const cv = cond ? unscaled(cond) : undefined
  if (Cc > 0 && !cv) throw new RangeError('this model needs a conditioning volume')
  const out = new Float32Array(x.length)
  const id = (v: number): number => v
  const runBatch = async (s0: number): Promise<void> => {
    throwIfAborted(signal)
    const n = Math.min(batch, layout.count - s0)
    const xb = new Float32Array(n * C * plen)
    for (let j = 0; j < n; j++) {
      readContextSlices(xv, layout, s0 + j, k, pad, xb, j * C * plen)
    }
    let cb: Float32Array | undefined
    if (Cc > 0) {
      cb = new Float32Array(n * Cc * plen)
      const r = (Cc - 1) >> 1
      // neighbours reflected at the volume's ends like x's context slices (and training's)
      for (let j = 0; j < n; j++) for (let c = 0; c < Cc; c++) readSlice(cv!, layout, padIndex(s0 + j + c - r, layout.count, 'reflect'), pad, 'reflect', id, cb, (j * Cc + c) * plen)
    }
    const res = await vm.fn(xb, [n, C, pad.H, pad.W], t, cb)
    throwIfAborted(signal)
    for (let j = 0; j < n; j++) writeSlice(out, layout, s0 + j, pad, res, j * plen, id)
  }
  await runLanes(Math.ceil(layout.count / batch), inFlight, (b) => runBatch(b * batch))
  return out
}

/** Standard normal field, one Rng stream per voxel k-slice (the same draws whatever the batch size or plane). */
export function gaussianField(size: Vec3, seed: number, stream0 = 0): Float32Array {
  const plane = size[0] * size[1]
  const z = new Float32Array(plane * size[2])
  for (let k = 0; k < size[2]; k++) new Rng(seed, stream0 + k).fillNormal(z, k * plane, plane)
  return z
}

export interface VolumeStateOptions {
  /** ddim (default), dpmpp (DPM-Solver++ 2M) or ddpm. */
  sampler?: SamplerKind
  /** DDIM η: 0 deterministic; 1 ancestral-like. */
  eta?: number
  steps: number
  seed: number
  /**
   * Partial diffusion (img2img): start at startT from √ᾱ y + √(1−ᾱ) ξ, ξ = startNoise ('none': no
   * noise added — the noise already in y plays its part; default: a Gaussian field from the seed).
   * Without y: pure noise at T−1.
   */
  y?: Float32Array
  startT?: number
  startNoise?: Float32Array | 'none'
  /** An explicit start state (overrides y / startT noise; startT still sets the first timestep). */
  x?: Float32Array
  /** Noise draws for stochastic step i (default: Gaussian fields from the seed). */
  noiseFor?: (step: number) => Float32Array
  cond?: Float32Array
  /** x̂₀ correction before each update (data consistency, DDNM projection): the scheduler's StepOptions.correctX0. */
  correctX0?: (x0: Float64Array) => void
  signal?: AbortSignal
  onStep?: (step: number, total: number) => void
}

/** The card's scheduler of the given kind. */
export function schedulerFor(card: VolumeModel['card'], kind: SamplerKind = 'ddim', eta = 0): NoiseScheduler {
  return createScheduler(kind, card.schedule, { prediction: card.prediction, clipSample: card.clip_sample ?? true, eta })
}

/**
 * The one volume sampler every task runs: each step evaluates every slice, then steps the whole
 * volume at once, so an x̂₀ correction can use through-plane operators and a 2.5D model sees its
 * neighbours at the current noise level. Works on a normalised state on the grid it is given (the
 * pipelines pass the canonical grid). Returns the final x̂₀ (the last step goes to ᾱ = 1).
 */
export async function sampleVolumeState(vm: VolumeModel, size: Vec3, o: VolumeStateOptions): Promise<Float32Array> {
  const sch = schedulerFor(vm.card, o.sampler, o.eta)
  const T = vm.card.schedule.T
  const start = o.startT !== undefined && (o.y || o.x) ? Math.max(0, Math.min(T - 1, Math.round(o.startT))) : T - 1
  const ts = sch.setTimesteps(Math.max(1, Math.min(o.steps, start + 1)), { startT: start })
  let x: Float32Array
  if (o.x) x = o.x
  else if (!o.y) x = gaussianField(size, o.seed)
  else x = sch.addNoise(o.y, o.startNoise === 'none' ? new Float32Array(o.y.length) : o.startNoise ?? gaussianField(size, o.seed), ts[0])
  for (let step = 0; step < ts.length; step++) {
    throwIfAborted(o.signal)
    const out = await evalVolume(vm, x, size, ts[step], o.cond, o.signal)
    const noise = sch.stochastic && step + 1 < ts.length ? (o.noiseFor?.(step) ?? gaussianField(size, o.seed, 100_000 * (step + 1))) : undefined
    x = sch.step(out, ts[step], x, { noise, correctX0: o.correctX0 })
    o.onStep?.(step + 1, ts.length)
  }
  return x
}

/**
 * The one-step posterior-mean estimate x̂₀ at a (possibly fractional) t from y: x_t = √ᾱ_t y, no
 * added noise (the noise already in y plays that part), one model call per slice, clipped to the
 * normalised range, then `correct`ed.
 */
export async function oneStepX0(vm: VolumeModel, size: Vec3, y: Float32Array, t: number, correct?: (x0: Float32Array) => void, signal?: AbortSignal, onStep?: () => void, cond?: Float32Array): Promise<Float32Array> {
  const sch = schedulerFor(vm.card)
  const x = scaledState(sch, y, t)
  const out = await evalVolume(vm, x, size, t, cond, signal)
  const x0 = clipUnit(sch.x0FromOutput(out, x, t))
  correct?.(x0)
  onStep?.()
  return x0
}


export interface Progress {
  step: number
  totalSteps: number
  fraction: number
}

export interface SampleVolumeOptions extends Omit<VolumeStateOptions, 'y' | 'x' | 'cond' | 'startNoise' | 'onStep'> {
  /** Partial diffusion from the input at startT; addNoise false: x_{t*} = √ᾱ y (its own noise plays that part). */
  addNoise?: boolean
  /** Conditioning volume on the input grid (e.g. MRI for MRI→CT). */
  cond?: Volume
  condNormalisation?: Normalisation
  /** Range of the output intensities; default: the input's normalisation range. */
  outputRange?: IntensityRange
  onProgress?: (p: Progress) => void
}

/**
 * Volume in, Volume out: the input reordered to canonical LPS (the card's plane is anatomical),
 * normalised as the card says, sampled by sampleVolumeState, mapped back to real units, the input's
 * voxel order and geometry.
 */
export async function sampleVolume(input: Volume, vm: VolumeModel, o: SampleVolumeOptions): Promise<Volume> {
  const { card } = vm
  if (card.channels !== 1) throw new RangeError('the volume sampler supports single-channel models (C = 1)')
  if (input.components !== 1) throw new RangeError('the volume sampler needs a single-component volume')
  if (card.cond_channels > 0 && !o.cond) throw new RangeError('this model needs a conditioning volume')
  if (o.cond && o.cond.size.some((n, i) => n !== input.size[i])) throw new RangeError('the conditioning volume must be on the input grid')
  const canon = toCanonical(input)
  const v = canon.volume
  const real = toFloat32(v)
  const range = normalisationRange(card.normalisation.kind === 'percentile' ? real : [], card.normalisation)
  const y = Float32Array.from(real, (r) => normaliseValue(r, range))
  let cond: Float32Array | undefined
  if (o.cond) {
    const c = toFloat32(reorient(o.cond, canon.reorientation))
    const cn = o.condNormalisation ?? card.normalisation
    const cr = normalisationRange(cn.kind === 'percentile' ? c : [], cn)
    cond = Float32Array.from(c, (r) => normaliseValue(r, cr))
  }
  const partial = o.startT !== undefined
  const state = await sampleVolumeState(vm, v.size, {
    ...o,
    y: partial ? y : undefined,
    startNoise: o.addNoise ? undefined : 'none',
    cond,
    onStep: (step, total) => o.onProgress?.({ step, totalSteps: total, fraction: step / total }),
  })
  const outRange = o.outputRange ?? range
  const out = createVolume({
    data: Float32Array.from(state, (s) => denormaliseValue(s, outRange)),
    size: v.size,
    spacing: v.spacing,
    origin: v.origin,
    direction: v.direction,
    modality: v.modality,
    meta: v.meta.clone({ rescaleSlope: 1, rescaleIntercept: 0 }),
  })
  return canon.undo(out)
}

export interface DiffuseOptions extends SampleVolumeOptions {
  device?: Device
  /** CPU threads in all (default: the machine's); split between the inference threads. */
  threads?: number
  /** Slices per model call / calls in flight, overriding the device's batchPlan. */
  batchSize?: number
  concurrency?: number
}

/**
 * Load (or reuse) the model behind a card and sample a volume with it: what the bench times and
 * what a script needs. Returns the device really used, for a report.
 */
export async function diffuseVolume(input: Volume, cardPath: string, o: DiffuseOptions): Promise<{ volume: Volume; device: ResolvedDevice; card: ModelCard }> {
  const pm = await prepareModel(cardPath, o.device ?? 'auto', o.threads)
  const plan = { batch: o.batchSize ?? pm.plan.batch, inFlight: o.concurrency ?? pm.plan.inFlight }
  const volume = await sampleVolume(input, { ...pm, plan }, o)
  return { volume, device: pm.device, card: pm.card }
}
