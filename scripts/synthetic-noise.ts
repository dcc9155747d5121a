import { Rng } from '../src/engine/index.js'

/** Rician magnitude |x + σ(n₁ + i n₂)|, seeded: the MRI noise of the evaluation and of the calibration. */
export function rician(x: Float32Array, sigma: number, seed: number): Float32Array {
  const r = new Rng(seed)
  return Float32Array.from(x, (v) => Math.hypot(v + sigma * r.normal(), sigma * r.normal()))
}
