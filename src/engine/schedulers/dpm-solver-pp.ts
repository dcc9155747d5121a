import { NoiseScheduler, type StepOptions } from './scheduler.js'

/**
 * DPM-Solver++(2M) (Lu et al. 2022, Alg. 2) in λ = log(α/σ): x_{t'} = (σ'/σ) x_t − α'(e^{−h} − 1) D,
 * D = (1 + 1/2r) x̂₀ − (1/2r) x̂₀_prev, r = h_prev/h. First-order on the first step, and on the
 * final step to ᾱ = 1 (σ' = 0, where it lands exactly on x̂₀). Keeps one step of history: one
 * instance per trajectory; setTimesteps() resets it.
 */
export class DPMSolverPP2MScheduler extends NoiseScheduler {
  private prevX0: Float64Array | null = null
  private prevH = 0

  protected override reset(): void {
    this.prevX0 = null
    this.prevH = 0
  }

  step(out: Float32Array, t: number, x: Float32Array, opts: StepOptions = {}): Float32Array {
    this.checkLengths(out, x)
    const tp = this.prevTimestep(t)
    const ab = this.abar(t)
    const abp = this.abar(tp)
    const a = Math.sqrt(ab)
    const s = Math.sqrt(1 - ab)
    const x0 = new Float64Array(x.length)
    const eps = new Float64Array(x.length)
    this.predictX0Eps(out, x, a, s, x0, eps, opts.correctX0)
    const res = new Float32Array(x.length)
    if (tp < 0) {
      for (let i = 0; i < x.length; i++) res[i] = x0[i]
      this.prevX0 = null
      return res
    }
    const ap = Math.sqrt(abp)
    const sp = Math.sqrt(1 - abp)
    const h = Math.log(ap / sp) - Math.log(a / s)
    const cx = sp / s
    const cd = -ap * (Math.exp(-h) - 1)
    const prev = this.prevX0
    if (prev === null || prev.length !== x.length) {
      for (let i = 0; i < x.length; i++) res[i] = cx * x[i] + cd * x0[i]
    } else {
      const r = this.prevH / h
      const c1 = 1 + 1 / (2 * r)
      const c2 = 1 / (2 * r)
      for (let i = 0; i < x.length; i++) res[i] = cx * x[i] + cd * (c1 * x0[i] - c2 * prev[i])
    }
    this.prevX0 = x0
    this.prevH = h
    return res
  }
}
