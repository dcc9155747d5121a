import { NoiseScheduler, type SchedulerOptions, type StepOptions } from './scheduler.js'
import type { ScheduleSpec } from './schedule.js'

/**
 * DDIM (Song et al. 2021, eq. 12): x_{t'} = α' x̂₀ + √(σ'² − s²) ε̂ + s z with
 * s = η √((σ'²/σ²)(1 − ᾱ_t/ᾱ_{t'})); η = 0 is deterministic.
 */
export class DDIMScheduler extends NoiseScheduler {
  readonly eta: number

  constructor(schedule: ScheduleSpec, opts: SchedulerOptions & { eta?: number } = {}) {
    super(schedule, opts)
    this.eta = opts.eta ?? 0
  }

  override get stochastic(): boolean {
    return this.eta > 0
  }

  step(out: Float32Array, t: number, x: Float32Array, opts: StepOptions = {}): Float32Array {
    this.checkLengths(out, x, opts.noise)
    const tp = this.prevTimestep(t)
    const ab = this.abar(t)
    const abp = this.abar(tp)
    const a = Math.sqrt(ab)
    const s = Math.sqrt(1 - ab)
    const ap = Math.sqrt(abp)
    const sp2 = 1 - abp
    const x0 = new Float64Array(x.length)
    const eps = new Float64Array(x.length)
    this.predictX0Eps(out, x, a, s, x0, eps, opts.correctX0)
    const sig = this.eta * Math.sqrt((sp2 / (s * s)) * (1 - ab / abp))
    const ce = Math.sqrt(Math.max(sp2 - sig * sig, 0))
    if (sig > 0 && !opts.noise) throw new RangeError('DDIM with eta > 0 needs noise draws')
    const z = opts.noise
    const res = new Float32Array(x.length)
    for (let i = 0; i < x.length; i++) res[i] = ap * x0[i] + ce * eps[i] + (sig > 0 ? sig * z![i] : 0)
    return res
  }
}
