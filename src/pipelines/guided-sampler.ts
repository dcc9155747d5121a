import {
  batchPlan,
  createScheduler,
  loadModel,
  onnxModelFn,
  paddingFor,
  padIndex,
  readSlice,
  runLanes,
  sliceLayout,
  throwIfAborted,
  tiledModelFn,
  writeSlice,
  Rng,
  type Device,
  type ModelCard,
  type ModelFn,
  type NoiseScheduler,
  type ResolvedDevice,
} from '../engine/index.js'
import { createVolume, type Vec3 } from '../volume/volume.js'
import { lowFrequencyNoise } from './low-frequency-noise.js'

/** A loaded model ready for whole-volume evaluation. */
export interface PreparedModel {
  card: ModelCard
  cardPath: string
  fn: ModelFn
  device: ResolvedDevice
  /** Slices per model call and calls in flight (the engine's batchPlan for this device). */
  plan: { batch: number; inFlight: number }
}

export async function prepareModel(cardPath: string, device: Device = 'auto'): Promise<PreparedModel> {
  const m = await loadModel(cardPath, { device })
  const { card } = m
  const raw = onnxModelFn(m)
  const fn = card.tile_size ? tiledModelFn(raw, card.tile_size, Math.max(card.size_multiple, Math.floor(card.tile_size / 4)), card.cond_channels) : raw
  return { card, cardPath, fn, device: m.device, plan: batchPlan(m) }
}

/**
 * Evaluates the model on every slice (the card's plane) of a normalised volume-shaped state at
 * timestep t; cond is a normalised volume on the same grid (2r+1 neighbour slices as channels).
 * Batches as the engine's volume pass has them (batchPlan).
 */
export async function evalVolume(pm: PreparedModel, x: Float32Array, size: Vec3, t: number, cond?: Float32Array, signal?: AbortSignal): Promise<Float32Array> {
  const { batch, inFlight } = pm.plan
  const { card } = pm
  const layout = sliceLayout(size, card.plane)
  const pad = paddingFor(layout.H, layout.W, card.size_multiple)
  const plen = pad.H * pad.W
  const Cc = card.cond_channels
  // 2.5D: k neighbours on each side as channels, reflected (no edge repeat) at the volume's ends as in training
  const k = card.context_slices ?? 0
  const C = 2 * k + 1
  const xv = createVolume({ data: x, size })
  const cv = cond ? createVolume({ data: cond, size }) : undefined
  const out = new Float32Array(x.length)
  const id = (v: number): number => v
  const runBatch = async (s0: number): Promise<void> => {
    throwIfAborted(signal)
    const n = Math.min(batch, layout.count - s0)
    const xb = new Float32Array(n * C * plen)
    for (let j = 0; j < n; j++) {
      for (let c = 0; c < C; c++) readSlice(xv, layout, padIndex(s0 + j + c - k, layout.count, 'reflect'), pad, 'reflect', id, xb, (j * C + c) * plen)
    }
    let cb: Float32Array | undefined
    if (Cc > 0) {
      if (!cv) throw new RangeError('this model needs a conditioning volume')
      cb = new Float32Array(n * Cc * plen)
      const r = (Cc - 1) >> 1
      for (let k = 0; k < n; k++) for (let c = 0; c < Cc; c++) readSlice(cv, layout, s0 + k + c - r, pad, 'reflect', id, cb, (k * Cc + c) * plen)
    }
    const res = await pm.fn(xb, [n, C, pad.H, pad.W], t, cb)
    throwIfAborted(signal)
    for (let k = 0; k < n; k++) writeSlice(out, layout, s0 + k, pad, res, k * plen, id)
  }
  await runLanes(Math.ceil(layout.count / batch), inFlight, (b) => runBatch(b * batch))
  return out
}

export type StartNoise = 'none' | 'gaussian' | 'simplex'

/** Standard normal field, one Rng stream per k-slice (same draws whatever the batch size). */
export function gaussianField(size: Vec3, seed: number, stream0 = 0): Float32Array {
  const plane = size[0] * size[1]
  const z = new Float32Array(plane * size[2])
  for (let k = 0; k < size[2]; k++) new Rng(seed, stream0 + k).fillNormal(z, k * plane, plane)
  return z
}

export interface GuidedOptions {
  steps: number
  seed: number
  /** Start state: α_t y (+ σ_t ξ) at startT; without y, pure noise at T−1. */
  y?: Float32Array
  startT?: number
  noise?: StartNoise
  /** DDIM η: 0 deterministic; 1 ancestral-like (posterior samples for denoising). */
  eta?: number
  cond?: Float32Array
  /** x̂₀ correction before each update (the scheduler's StepOptions.correctX0). */
  correctX0?: (x0: Float64Array) => void
  signal?: AbortSignal
  onStep?: (step: number, total: number) => void
}

/**
 * The engine's DDIM scheduler on a whole normalised volume: each step evaluates every slice, then
 * steps the whole volume at once so an x̂₀ correction can use through-plane operators. Noise is
 * drawn per k-slice (gaussianField), so results do not depend on the batch size. Returns the final
 * x̂₀ (the last step goes to ᾱ = 1), in normalised units.
 */
export async function guidedSample(pm: PreparedModel, size: Vec3, o: GuidedOptions): Promise<Float32Array> {
  const { card } = pm
  const sch = createScheduler('ddim', card.schedule, { prediction: card.prediction, clipSample: card.clip_sample ?? true, eta: o.eta ?? 0 })
  const T = card.schedule.T
  const start = o.y && o.startT !== undefined ? Math.max(0, Math.min(T - 1, Math.round(o.startT))) : T - 1
  const ts = sch.setTimesteps(Math.max(1, Math.min(o.steps, start + 1)), { startT: start })
  let x: Float32Array
  if (!o.y) {
    x = gaussianField(size, o.seed)
  } else {
    const kind = o.noise ?? 'gaussian'
    const xi = kind === 'none' ? new Float32Array(o.y.length) : kind === 'simplex' ? lowFrequencyNoise(size, o.seed) : gaussianField(size, o.seed)
    x = sch.addNoise(o.y, xi, ts[0])
  }
  for (let step = 0; step < ts.length; step++) {
    const out = await evalVolume(pm, x, size, ts[step], o.cond, o.signal)
    const noise = sch.stochastic && step + 1 < ts.length ? gaussianField(size, o.seed, 100_000 * (step + 1)) : undefined
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
export async function oneStepX0(pm: PreparedModel, size: Vec3, y: Float32Array, t: number, correct?: (x0: Float32Array) => void, signal?: AbortSignal, onStep?: () => void): Promise<Float32Array> {
  const { card } = pm
  const sch = createScheduler('ddim', card.schedule, { prediction: card.prediction })
  const a = Math.sqrt(sch.abar(t))
  const x = Float32Array.from(y, (v) => a * v)
  const out = await evalVolume(pm, x, size, t, undefined, signal)
  const x0 = sch.x0FromOutput(out, x, t)
  for (let i = 0; i < x0.length; i++) x0[i] = x0[i] < -1 ? -1 : x0[i] > 1 ? 1 : x0[i]
  correct?.(x0)
  onStep?.()
  return x0
}

/** Largest t with ᾱ_t ≥ target (0 when even ᾱ_0 is below it). */
export function timestepForAbar(sch: Pick<NoiseScheduler, 'abar' | 'schedule'>, target: number): number {
  let t = 0
  for (let k = 0; k < sch.schedule.T; k++) if (sch.abar(k) >= target) t = k
  return t
}
