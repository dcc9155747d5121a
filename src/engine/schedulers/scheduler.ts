import { alphasCumprod, betasFor, trailingTimesteps, type ScheduleSpec } from './schedule.js'

export type Prediction = 'epsilon' | 'v' | 'x0'

export interface SchedulerOptions {
  prediction?: Prediction
  /** Clip x̂₀ to clipRange (the normalised range); ε̂ is then recomputed from the clipped x̂₀. */
  clipSample?: boolean
  clipRange?: [number, number]
}

export interface StepOptions {
  /** Standard normal draws of the sample's length, for stochastic steps (DDPM, DDIM η > 0). */
  noise?: Float32Array
  /**
   * Changes x̂₀ in place before the update (data consistency, DDNM range–null-space projection);
   * ε̂ is recomputed from the corrected x̂₀ so the trajectory stays coherent.
   */
  correctX0?: (x0: Float64Array) => void
}

/**
 * Shared maths of the samplers: ᾱ lookups, prediction-type conversion (algorithms.md), the
 * timestep list and forward noising. Subclasses implement one `step()`.
 */
export abstract class NoiseScheduler {
  readonly alphasCumprod: Float64Array
  readonly prediction: Prediction
  readonly clipSample: boolean
  readonly clipRange: [number, number]
  timesteps: number[] = []

  constructor(readonly schedule: ScheduleSpec, opts: SchedulerOptions = {}) {
    this.alphasCumprod = alphasCumprod(betasFor(schedule))
    this.prediction = opts.prediction ?? 'epsilon'
    this.clipSample = opts.clipSample ?? false
    this.clipRange = opts.clipRange ?? [-1, 1]
  }

  /** Trailing spacing from startT (default T−1, or t* for partial diffusion) down to 0. Resets state. */
  setTimesteps(n: number, opts: { startT?: number } = {}): number[] {
    const start = opts.startT ?? this.schedule.T - 1
    if (start > this.schedule.T - 1) throw new RangeError(`startT ${start} exceeds T-1 = ${this.schedule.T - 1}`)
    this.timesteps = trailingTimesteps(n, start)
    this.reset()
    return this.timesteps
  }

  protected reset(): void {}

  /** Whether step() consumes noise draws (the runner only draws them then). */
  get stochastic(): boolean {
    return false
  }

  /**
   * ᾱ_t; between integer steps linear in t (the contract x0-models exported with a continuous
   * timestep use, training/raddiff_train/edm.py), so a noise level can be matched exactly.
   */
  abar(t: number): number {
    if (t < 0) return 1
    if (Number.isInteger(t)) return this.alphasCumprod[t]
    const T = this.alphasCumprod.length
    const i = Math.min(Math.floor(t), T - 2)
    const f = Math.min(t, T - 1) - i
    return this.alphasCumprod[i] * (1 - f) + this.alphasCumprod[i + 1] * f
  }

  /** 1 − ᾱ_t, interpolated like abar() but from float64 1 − ᾱ (near t = 0 it is ~1e-4). */
  oneMinusAbar(t: number): number {
    if (t < 0) return 0
    const T = this.alphasCumprod.length
    const i = Math.min(Math.floor(t), T - 2)
    const f = Math.min(t, T - 1) - i
    return (1 - this.alphasCumprod[i]) * (1 - f) + (1 - this.alphasCumprod[i + 1]) * f
  }

  /**
   * The continuous t whose noise-to-signal ratio σ_t/α_t equals `s` (a noise sd in normalised
   * units): ᾱ_t = 1/(1 + s²), solved exactly on the piecewise-linear ᾱ. 0 below the first level,
   * T−1 above the last.
   */
  timestepForNoise(s: number): number {
    const target = 1 / (1 + s * s)
    const ab = this.alphasCumprod
    if (target >= ab[0]) return 0
    for (let k = 1; k < ab.length; k++) {
      if (ab[k] <= target) return k - 1 + (ab[k - 1] - target) / (ab[k - 1] - ab[k])
    }
    return ab.length - 1
  }

  /** x̂₀ of one model output at t (no clipping, no correction): the one-step Tweedie estimate. */
  x0FromOutput(out: Float32Array, x: Float32Array, t: number): Float32Array {
    const a = Math.sqrt(this.abar(t))
    const s = Math.sqrt(this.oneMinusAbar(t))
    const res = new Float32Array(x.length)
    for (let i = 0; i < x.length; i++) {
      res[i] = this.prediction === 'x0' ? out[i] : this.prediction === 'v' ? a * x[i] - s * out[i] : (x[i] - s * out[i]) / a
    }
    return res
  }

  /** The timestep after t in the current list (−1 after the last). */
  prevTimestep(t: number): number {
    const i = this.timesteps.indexOf(t)
    if (i < 0) throw new RangeError(`timestep ${t} is not in the scheduler's list; call setTimesteps first`)
    return i + 1 < this.timesteps.length ? this.timesteps[i + 1] : -1
  }

  /** x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε. */
  addNoise(x0: Float32Array, noise: Float32Array, t: number): Float32Array {
    const ab = this.abar(t)
    const a = Math.sqrt(ab)
    const s = Math.sqrt(1 - ab)
    const out = new Float32Array(x0.length)
    for (let i = 0; i < x0.length; i++) out[i] = a * x0[i] + s * noise[i]
    return out
  }

  /**
   * Writes x̂₀ and ε̂ for model output `out` at a state with α = √ᾱ_t, σ = √(1−ᾱ_t).
   * Linear in (x, out): x̂₀ = cx·x + co·out, ε̂ = ex·x + eo·out.
   */
  protected predictX0Eps(out: Float32Array, x: Float32Array, a: number, s: number, x0: Float64Array, eps: Float64Array, correct?: (x0: Float64Array) => void): void {
    let cx: number, co: number, ex: number, eo: number
    if (this.prediction === 'epsilon') [cx, co, ex, eo] = [1 / a, -s / a, 0, 1]
    else if (this.prediction === 'v') [cx, co, ex, eo] = [a, -s, s, a]
    else [cx, co, ex, eo] = [0, 1, 1 / s, -a / s]
    const [lo, hi] = this.clipRange
    const clip = this.clipSample
    for (let i = 0; i < x.length; i++) {
      let v = cx * x[i] + co * out[i]
      if (clip && (v < lo || v > hi)) {
        v = v < lo ? lo : hi
        eps[i] = (x[i] - a * v) / s
      } else eps[i] = ex * x[i] + eo * out[i]
      x0[i] = v
    }
    if (correct) {
      correct(x0)
      for (let i = 0; i < x.length; i++) eps[i] = (x[i] - a * x0[i]) / s
    }
  }

  protected checkLengths(out: Float32Array, sample: Float32Array, noise?: Float32Array): void {
    if (out.length !== sample.length) throw new RangeError('model output and sample differ in length')
    if (noise && noise.length !== sample.length) throw new RangeError('noise and sample differ in length')
  }

  abstract step(modelOutput: Float32Array, t: number, sample: Float32Array, opts?: StepOptions): Float32Array
}
