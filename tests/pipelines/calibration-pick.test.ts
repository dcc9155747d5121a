import { describe, expect, it } from 'vitest'
import { best, leastSmoothing, means } from '../../scripts/calibration-pick.js'

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
