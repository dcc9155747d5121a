import type { Normalisation } from './model-card.js'

export interface IntensityRange {
  low: number
  high: number
}

/**
 * numpy.percentile(method='linear') of float32 values, bit for bit: numpy takes b − a in float32
 * and the lerp in float64, from the far end when the weight is ≥ ½. Training normalises with numpy
 * on the same float32 values, so both sides get the same range.
 */
export function percentiles(values: ArrayLike<number>, ps: number[]): number[] {
  const sorted = Float32Array.from(values).sort()
  const n = sorted.length
  if (n === 0) throw new RangeError('percentiles of an empty set')
  return ps.map((p) => {
    const idx = (n - 1) * (p / 100)
    const lo = Math.floor(idx)
    const hi = Math.min(lo + 1, n - 1)
    const t = idx - lo
    const a = sorted[lo]
    const b = sorted[hi]
    const d = Math.fround(b - a)
    return t >= 0.5 ? b - d * (1 - t) : a + d * t
  })
}

/** The real-valued range that maps to [-1, 1] for this volume (percentile ranges depend on it). */
export function normalisationRange(values: ArrayLike<number>, norm: Normalisation): IntensityRange {
  if (norm.kind === 'ct-window') return { low: norm.params.low, high: norm.params.high }
  const [low, high] = percentiles(values, [norm.params.low, norm.params.high])
  return { low, high: high > low ? high : low + 1 }
}

export function normaliseValue(v: number, r: IntensityRange): number {
  const y = (2 * (v - r.low)) / (r.high - r.low) - 1
  return y < -1 ? -1 : y > 1 ? 1 : y
}

export function denormaliseValue(y: number, r: IntensityRange): number {
  return ((y + 1) / 2) * (r.high - r.low) + r.low
}
