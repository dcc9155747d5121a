import { describe, expect, it } from 'vitest'
import { Rng } from '../../src/engine/rng.js'
import { readReference } from './helpers.js'

// Independent Python port of the same spec: training/raddiff_train/make_goldens.py.
const ref = readReference('engine-rng.json')

describe('seeded RNG', () => {
  for (const c of ref.cases) {
    it(`seed ${c.seed} stream ${c.stream} matches the Python port`, () => {
      let g = new Rng(c.seed, c.stream)
      expect(Array.from({ length: c.u32.length }, () => g.nextU32())).toEqual(c.u32)
      g = new Rng(c.seed, c.stream)
      for (const u of c.uniform) expect(g.uniform()).toBe(u)
      g = new Rng(c.seed, c.stream)
      for (const z of c.normal) expect(Math.abs(g.normal() - z)).toBeLessThan(1e-12)
    })
  }
  it('is standard normal and reproducible', () => {
    const a = new Rng(7).fillNormal(new Float32Array(100000))
    const b = new Rng(7).fillNormal(new Float32Array(100000))
    expect(a).toEqual(b)
    let m = 0
    let v = 0
    for (const x of a) m += x
    m /= a.length
    for (const x of a) v += (x - m) ** 2
    expect(m).toBeCloseTo(ref.moments_seed7_100k.mean, 5)
    expect(Math.sqrt(v / a.length)).toBeCloseTo(ref.moments_seed7_100k.std, 5)
    expect(Math.abs(m)).toBeLessThan(0.01)
    expect(Math.abs(Math.sqrt(v / a.length) - 1)).toBeLessThan(0.01)
  })
})
