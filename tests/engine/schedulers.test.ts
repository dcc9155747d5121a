import { describe, expect, it } from 'vitest'
import { alphasCumprod, betasFor, createScheduler, trailingTimesteps, type ScheduleSpec } from '../../src/engine/schedulers/index.js'
import { maxAbsDiff, readReference } from './helpers.js'

// Goldens: training/raddiff_train/make_goldens.py (PyTorch, float64, written from the papers).
const schedules = readReference('engine-schedules.json')
const samplers = readReference('engine-samplers.json')

describe('noise schedules vs PyTorch', () => {
  for (const s of schedules.schedules) {
    it(`${s.schedule.type} T=${s.schedule.T}`, () => {
      const b = betasFor(s.schedule as ScheduleSpec)
      const ac = alphasCumprod(b)
      expect(b.length).toBe(s.schedule.T)
      s.indices.forEach((i: number, k: number) => {
        expect(b[i]).toBeCloseTo(s.betas[k], 14)
        expect(Math.abs(ac[i] - s.alphas_cumprod[k])).toBeLessThan(1e-13)
      })
    })
  }
  it('trailing timesteps', () => {
    for (const c of schedules.timesteps) expect(trailingTimesteps(c.n, c.start)).toEqual(c.timesteps)
    expect(() => trailingTimesteps(5, 2)).toThrow(RangeError)
  })
})

describe('samplers vs PyTorch reference trajectories', () => {
  for (const c of samplers.cases) {
    const name = `${c.sampler} eta=${c.eta} ${c.prediction} clip=${c.clip} ${c.schedule.type} n=${c.steps} start=${c.start}`
    it(name, () => {
      const sch = createScheduler(c.sampler, c.schedule, { prediction: c.prediction, clipSample: c.clip, eta: c.eta })
      expect(sch.setTimesteps(c.steps, { startT: c.start })).toEqual(c.timesteps)
      let x: Float32Array = Float32Array.from(c.x_T)
      const T = c.schedule.T
      sch.timesteps.forEach((t, i) => {
        const out = x.map((v) => 0.1 * v + (0.01 * t) / T)
        x = sch.step(out, t, x, { noise: Float32Array.from(c.noise[i]) })
        const ref = c.trajectory[i] as number[]
        const scale = Math.max(1, ...ref.map(Math.abs))
        expect(maxAbsDiff(x, ref) / scale).toBeLessThan(2e-6)
      })
    })
  }

  it('addNoise follows x_t = √ᾱ x0 + √(1−ᾱ) ε', () => {
    const sch = createScheduler('ddim', { type: 'linear', T: 1000, beta_start: 1e-4, beta_end: 0.02 })
    const ab = schedules.schedules[0].alphas_cumprod[5] // t = 250
    const x = sch.addNoise(Float32Array.of(0.5), Float32Array.of(-1), 250)
    expect(x[0]).toBeCloseTo(0.5 * Math.sqrt(ab) - Math.sqrt(1 - ab), 6)
  })

  it('stochastic steps without noise and unknown timesteps are errors', () => {
    const sch = createScheduler('ddpm', { type: 'linear', T: 1000, beta_start: 1e-4, beta_end: 0.02 })
    sch.setTimesteps(4)
    expect(() => sch.step(new Float32Array(2), 999, new Float32Array(2))).toThrow(/noise/)
    expect(() => sch.step(new Float32Array(2), 500, new Float32Array(2))).toThrow(/not in the scheduler/)
  })
})
