import { NoiseScheduler, type StepOptions } from './scheduler.js'

/**
 * DDPM ancestral sampling (Ho et al. 2020, eq. 6–7) in the posterior-mean form, valid for skipped
 * timesteps: β = 1 − ᾱ_t/ᾱ_{t'}, mean = √ᾱ_{t'}β/(1−ᾱ_t)·x̂₀ + √(1−β)(1−ᾱ_{t'})/(1−ᾱ_t)·x_t,
 * variance β̃ = β(1−ᾱ_{t'})/(1−ᾱ_t). No noise on the final step.
 */
export class DDPMScheduler extends NoiseScheduler {
  override get stochastic(): boolean {
    return true
  }

  step(out: Float32Array, t: number, x: Float32Array, opts: StepOptions = {}): Float32Array {
    this.checkLengths(out, x, opts.noise)
    const tp = this.prevTimestep(t)
    const ab = this.abar(t)
    const abp = this.abar(tp)
    const x0 = new Float64Array(x.length)
    const eps = new Float64Array(x.length)
    this.predictX0Eps(out, x, Math.sqrt(ab), Math.sqrt(1 - ab), x0, eps, opts.correctX0)
    const beta = 1 - ab / abp
    const c0 = (Math.sqrt(abp) * beta) / (1 - ab)
    const cx = (Math.sqrt(1 - beta) * (1 - abp)) / (1 - ab)
    const sd = tp < 0 ? 0 : Math.sqrt(Math.max((beta * (1 - abp)) / (1 - ab), 1e-20))
    if (sd > 0 && !opts.noise) throw new RangeError('DDPM steps need noise draws')
    const res = new Float32Array(x.length)
    const z = opts.noise
    for (let i = 0; i < x.length; i++) res[i] = c0 * x0[i] + cx * x[i] + (sd > 0 ? sd * z![i] : 0)
    return res
  }
}
