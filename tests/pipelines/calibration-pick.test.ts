import { describe, expect, it } from 'vitest'
import { best, bestWithTexture, leastSmoothing, means } from '../../scripts/calibration-pick.js'

// PSNRs as calibrate-restoration collects them: candidate -> one value per subject x level
const scores = (rows: [number, number[]][]) => new Map(rows)

describe('calibration pick (calibrate-restoration --tie)', () => {
  // brain-t1 0.3.3's own calibration means (dB): 0.65 28.756, 0.75 29.025, 0.85 29.047
  const m = scores([[0.85, [29.1, 28.994]], [0.65, [28.8, 28.712]], [0.75, [29.0, 29.05]]])

  it('means and best: the highest mean PSNR wins whatever the order the candidates came in', () => {
    expect(Object.fromEntries(means(m))).toEqual({ 0.85: expect.closeTo(29.047, 9), 0.65: expect.closeTo(28.756, 9), 0.75: expect.closeTo(29.025, 9) })
    expect(best(m)[0]).toBe(0.85)
  })

  it('a scale within the tie of the best wins when it is smaller; beyond the tie the best stays', () => {
    expect(leastSmoothing(m, 0.01)[0]).toBe(0.85) // 0.75 is 0.022 dB short
    expect(leastSmoothing(m, 0.05)[0]).toBe(0.75)
    expect(leastSmoothing(m, 0.5)[0]).toBe(0.65)
    expect(leastSmoothing(m, 0)[0]).toBe(0.85)
  })

  it('a negative or non-numeric tie, and no candidates, are errors', () => {
    expect(() => leastSmoothing(m, -0.01)).toThrow(/--tie -0.01/)
    expect(() => leastSmoothing(m, Number('abc'))).toThrow(/--tie NaN/)
    expect(() => best(new Map())).toThrow(/no candidates/)
  })
})

describe('calibration pick with the texture band (calibrate-restoration --texture)', () => {
  // brain-t1 0.3.3 on training subject IXI212 at 10 % Rician (PSNR dB, slice-step ratio to the clean volume)
  const c = (scale: number, blend: number, psnr: number, ratio: number) => ({ scale, blend, psnr, ratio })
  const cands = [c(0.85, 0, 25.798, 0.819), c(0.85, 0.05, 25.81, 0.845), c(0.85, 0.15, 25.638, 0.915), c(0.75, 0, 25.697, 0.898), c(0.75, 0.05, 25.591, 0.929), c(0.65, 0, 25.204, 1.005), c(0.65, 0.2, 24.348, 1.148)]

  it('the best PSNR among the settings within the band wins, not the best PSNR overall', () => {
    expect(bestWithTexture(cands, 0.92, 0.01)).toMatchObject({ scale: 0.75, blend: 0.05, inBand: true })
    expect(bestWithTexture(cands, 0.9, 0.01)).toMatchObject({ scale: 0.85, blend: 0.15 })
    expect(bestWithTexture(cands, 0.8, 0.01)).toMatchObject({ scale: 0.85, blend: 0.05 })
  })

  it('above the band counts as far as below it (a striped output), and within the tie the ratio nearest 1 wins', () => {
    expect(bestWithTexture([c(0.5, 0.3, 26, 1.2), c(0.65, 0, 25.2, 1.005)], 0.92, 0.01)).toMatchObject({ scale: 0.65 })
    expect(bestWithTexture([c(0.8, 0, 25.7, 0.93), c(0.7, 0, 25.695, 0.99)], 0.92, 0.01)).toMatchObject({ scale: 0.7 })
    expect(bestWithTexture([c(0.8, 0, 25.7, 0.93), c(0.7, 0, 25.68, 0.99)], 0.92, 0.01)).toMatchObject({ scale: 0.8 })
  })

  it('with none in the band, the one nearest it, flagged', () => {
    expect(bestWithTexture(cands.slice(0, 2), 0.92, 0.01)).toMatchObject({ scale: 0.85, blend: 0.05, inBand: false })
  })

  it('a band outside (0, 1] and no candidates are errors', () => {
    expect(() => bestWithTexture(cands, 0, 0.01)).toThrow(/--texture 0/)
    expect(() => bestWithTexture(cands, 1.2, 0.01)).toThrow(/--texture 1.2/)
    expect(() => bestWithTexture([], 0.92, 0.01)).toThrow(/no candidates/)
  })
})
