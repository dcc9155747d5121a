import { describe, expect, it } from 'vitest'
import { Rng } from '../../src/engine/index.js'
import { estimateNoise, immerkaer, waveletMad } from '../../src/pipelines/noise-estimate.js'
import { finishDenoised } from '../../src/pipelines/denoise-level.js'
import { normaliseValue } from '../../src/engine/normalise.js'
import { lowFrequencyNoise } from '../../src/pipelines/low-frequency-noise.js'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { averagePool, boxSize, cropBox, cubicUpsample, foregroundMask, linearUpsample, maskBox, pasteBox, replicateUpsample } from '../../src/pipelines/volume-ops.js'
import { repoRoot } from './helpers.js'
import type { Vec3 } from '../../src/volume/index.js'

// Ground truths here are the generating parameters (known σ, constructed shapes), not our output.
describe('noise estimators recover a known σ', () => {
  const size: Vec3 = [64, 64, 8]
  const n = size[0] * size[1] * size[2]
  it('Immerkær on a smooth ramp + Gaussian noise σ = 5', () => {
    const rng = new Rng(3)
    const x = new Float32Array(n)
    for (let i = 0; i < n; i++) x[i] = 100 + (i % 64) + 5 * rng.normal()
    expect(immerkaer(x, size)).toBeCloseTo(5, 0)
  })
  it('Rayleigh background of a Rician magnitude image, σ = 8', () => {
    const rng = new Rng(4)
    const x = new Float32Array(n)
    for (let i = 0; i < n; i++) {
      const col = i % 64
      const signal = col >= 16 && col < 48 ? 400 : 0 // half object, half air
      x[i] = Math.hypot(signal + 8 * rng.normal(), 8 * rng.normal())
    }
    const e = estimateNoise(x, size, 'MR')
    expect(e.method).toBe('rayleigh-background')
    expect(Math.abs(e.sigma - 8) / 8).toBeLessThan(0.05)
  })
  it('Rayleigh background with 15 % of it ghosting (uniform 2–4 σ): the truncated fit holds, a mean would not', () => {
    const rng = new Rng(5)
    const big: Vec3 = [128, 128, 8]
    const m = big[0] * big[1] * big[2]
    const x = new Float32Array(m)
    let bgSum = 0
    let bgN = 0
    for (let i = 0; i < m; i++) {
      const col = i % 128
      const signal = col >= 64 ? 400 : 0
      x[i] = Math.hypot(signal + 8 * rng.normal(), 8 * rng.normal())
      if (signal === 0 && rng.uniform() < 0.15) x[i] = 16 + 16 * rng.uniform()
      if (signal === 0) (bgSum += x[i]), bgN++
    }
    const e = estimateNoise(x, big, 'MR')
    expect(Math.abs(e.sigma - 8) / 8).toBeLessThan(0.05)
    // the contamination is real: the Rayleigh-mean estimate of the same background is off by > 5 %
    expect(bgSum / bgN / Math.sqrt(Math.PI / 2) / 8 - 1).toBeGreaterThan(0.05)
  })
})

describe('non-MR noise: the wavelet MAD', () => {
  it('holds on a structured image with padding where Immerkær rises with the edges', () => {
    const rng = new Rng(6)
    const size: Vec3 = [96, 96, 8]
    const x = new Float32Array(96 * 96 * 8)
    for (let k = 0; k < 8; k++)
      for (let j = 0; j < 96; j++)
        for (let i = 0; i < 96; i++) {
          const p = (k * 96 + j) * 96 + i
          if (i < 16) x[p] = -2048 // outside the field of view: constant, no noise
          else x[p] = 100 * (((i >> 3) + (j >> 3)) % 4) + 5 * rng.normal() // 8-voxel tiles, 100 HU steps
        }
    expect(Math.abs(waveletMad(x, size) - 5) / 5).toBeLessThan(0.05)
    expect(immerkaer(x, size) / 5).toBeGreaterThan(1.15)
    const e = estimateNoise(x, size, 'CT')
    expect(e.method).toBe('wavelet-mad')
    expect(Math.abs(e.sigma - 5) / 5).toBeLessThan(0.05)
  })
})

describe('operators', () => {
  it('A A† = I for average-pool / replicate-upsample', () => {
    const size: Vec3 = [5, 4, 3]
    const y = Float32Array.from({ length: 60 }, (_, i) => Math.sin(i))
    for (const axes of [[true, true, false], [false, false, true], [true, true, true]] as [boolean, boolean, boolean][]) {
      const up = replicateUpsample(y, size, 4, axes)
      const back = averagePool(up.data, up.size, 4, axes)
      expect(back.size).toEqual(size)
      back.data.forEach((v, i) => expect(v).toBeCloseTo(y[i], 6))
    }
  })

  it('linear upsampling matches skimage resize(order=1, mode=edge)', () => {
    const ref = JSON.parse(readFileSync(path.join(repoRoot, 'tests/reference/pipelines-refs.json'), 'utf8')).linear_upsample
    const up = linearUpsample(Float32Array.from(ref.input), ref.size, ref.factor, ref.axes)
    expect(up.size).toEqual(ref.output_size)
    up.data.forEach((v, i) => expect(v).toBeCloseTo(ref.output[i], 5))
  })

  it('low-frequency noise: seeded, unit variance, spatially correlated', () => {
    const size: Vec3 = [48, 48, 8]
    const a = lowFrequencyNoise(size, 1)
    expect(lowFrequencyNoise(size, 1)).toEqual(a)
    expect(lowFrequencyNoise(size, 2)).not.toEqual(a)
    let s2 = 0
    let c = 0
    for (let i = 0; i < a.length; i++) {
      s2 += a[i] * a[i]
      if (i % 48 < 47) c += a[i] * a[i + 1]
    }
    expect(s2 / a.length).toBeCloseTo(1, 2)
    expect(c / s2).toBeGreaterThan(0.5) // white noise would give ≈ 0
  })

  it('foreground mask keeps the largest component and fills enclosed holes', () => {
    const size: Vec3 = [20, 20, 20]
    const x = new Float32Array(8000).fill(-1)
    const at = (i: number, j: number, k: number) => (k * 20 + j) * 20 + i
    for (let k = 3; k < 17; k++) for (let j = 3; j < 17; j++) for (let i = 3; i < 17; i++) x[at(i, j, k)] = 1 // big cube
    for (let k = 8; k < 12; k++) for (let j = 8; j < 12; j++) for (let i = 8; i < 12; i++) x[at(i, j, k)] = -1 // hole
    x[at(0, 0, 0)] = 1 // speck
    const m = foregroundMask(x, size, 0)
    expect(m[at(10, 10, 10)]).toBe(1)
    expect(m[at(0, 0, 0)]).toBe(0)
    expect(m.reduce((s, v) => s + v, 0)).toBe(14 ** 3)
  })
})

describe('mask bounding box crop / paste', () => {
  it('finds the grown, clamped box and pastes a crop back where it came from', () => {
    const size: [number, number, number] = [7, 5, 4]
    const m = new Uint8Array(7 * 5 * 4)
    m[(2 * 5 + 1) * 7 + 3] = 1 // (3,1,2)
    m[(1 * 5 + 3) * 7 + 5] = 1 // (5,3,1)
    const b = maskBox(m, size, 1)!
    expect(b).toEqual({ lo: [2, 0, 0], hi: [7, 5, 4] })
    expect(maskBox(new Uint8Array(m.length), size, 1)).toBeUndefined()
    const tight = maskBox(m, size, 0)!
    expect(boxSize(tight)).toEqual([3, 3, 2])
    const x = Float32Array.from({ length: m.length }, (_, i) => i)
    const c = cropBox(x, size, tight)
    expect(c[0]).toBe((1 * 5 + 1) * 7 + 3) // lo corner (3,1,1)
    const y = new Float32Array(m.length)
    pasteBox(y, size, tight, c)
    for (let k = 0; k < 4; k++)
      for (let j = 0; j < 5; j++)
        for (let i = 0; i < 7; i++) {
          const o = (k * 5 + j) * 7 + i
          const inside = i >= 3 && i < 6 && j >= 1 && j < 4 && k >= 1 && k < 3
          expect(y[o]).toBe(inside ? x[o] : 0)
        }
  })
})

describe('cubic (Keys) upsampling', () => {
  it('reproduces a quadratic exactly away from the edges (Keys a = −0.5 is third-order accurate) and a constant everywhere', () => {
    const size: Vec3 = [12, 3, 2]
    const q = (u: number): number => 0.3 * u * u - 2 * u + 5
    const y = Float32Array.from({ length: 12 * 3 * 2 }, (_, o) => q(o % 12))
    const up = cubicUpsample(y, size, 2, [true, false, false])
    expect(up.size).toEqual([24, 3, 2])
    for (let n = 4; n < 20; n++) expect(up.data[n]).toBeCloseTo(q((n + 0.5) / 2 - 0.5), 4)
    const c = cubicUpsample(new Float32Array(12 * 3 * 2).fill(7), size, 4, [true, true, false])
    for (const v of c.data) expect(v).toBeCloseTo(7, 5)
  })
})

describe('Rician bias of a denoised (mean) magnitude', () => {
  it('the exact mean of Rician magnitudes, corrected, gives back the signal (2σ² would undershoot by σ²/2A)', () => {
    // E[M] for signal A, noise σ per channel, by simulation: what a perfect posterior-mean denoiser returns
    const rng = new Rng(11)
    const sigma = 10
    const range = { low: 0, high: 400 }
    for (const A of [60, 100, 200]) {
      let sum = 0
      const N = 400_000
      for (let i = 0; i < N; i++) sum += Math.hypot(A + sigma * rng.normal(), sigma * rng.normal())
      const mean = sum / N
      const x0 = [normaliseValue(mean, range)]
      const out = finishDenoised(x0, { range, est: { sigma, method: 'rayleigh-background' }, rician: true } as Parameters<typeof finishDenoised>[1], [mean])[0]
      expect(Math.abs(out - A), `A = ${A}`).toBeLessThan(0.1)
      expect(Math.abs(Math.sqrt(mean * mean - 2 * sigma * sigma) - A)).toBeGreaterThan(0.2) // the E[M²] correction is biased here
    }
  })
})

describe('the one-call estimate keeps input_blend of the input', () => {
  it('out = input + (1 − blend)·(x̂₀ − input), the consistency bound applied before the blend', () => {
    const range = { low: 0, high: 200 }
    const real = [100, 100, 50]
    const est = [110, 70, 50] // the last is the input itself
    const x0 = est.map((v) => normaliseValue(v, range))
    const level = { range, est: { sigma: 5, method: 'wavelet-mad' }, rician: false } as Parameters<typeof finishDenoised>[1]
    const plain = finishDenoised(x0, level, real)
    expect(plain[0]).toBeCloseTo(110, 4)
    expect(plain[1]).toBeCloseTo(85, 4) // 30 below the input, bounded to 3σ = 15
    const kept = finishDenoised(x0, { ...level, blend: 0.2 }, real)
    expect(kept[0]).toBeCloseTo(108, 4)
    expect(kept[1]).toBeCloseTo(88, 4)
    expect(kept[2]).toBeCloseTo(50, 4)
  })
})
