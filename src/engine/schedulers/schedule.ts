/** Noise schedules as diffusers defines them, in float64 (training/raddiff_train/schedules.py). */
export type ScheduleType = 'linear' | 'scaled-linear' | 'cosine'

export interface ScheduleSpec {
  type: ScheduleType
  T: number
  beta_start: number
  beta_end: number
}

function linspace(a: number, b: number, n: number): Float64Array {
  const out = new Float64Array(n)
  // torch.linspace: first half from the start, second half from the end, like PyTorch's kernel
  const step = n > 1 ? (b - a) / (n - 1) : 0
  const half = Math.floor(n / 2)
  for (let i = 0; i < n; i++) out[i] = i < half ? a + step * i : b - step * (n - 1 - i)
  return out
}

export function betasFor(spec: ScheduleSpec): Float64Array {
  const { type, T, beta_start, beta_end } = spec
  if (type === 'linear') return linspace(beta_start, beta_end, T)
  if (type === 'scaled-linear') return linspace(Math.sqrt(beta_start), Math.sqrt(beta_end), T).map((v) => v * v)
  if (type === 'cosine') {
    const abar = (u: number): number => Math.cos(((u + 0.008) / 1.008) * (Math.PI / 2)) ** 2
    const out = new Float64Array(T)
    for (let i = 0; i < T; i++) out[i] = Math.min(1 - abar((i + 1) / T) / abar(i / T), 0.999)
    return out
  }
  throw new RangeError(`unknown schedule type ${String(type)}`)
}

export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length)
  let p = 1
  for (let i = 0; i < betas.length; i++) out[i] = p *= 1 - betas[i]
  return out
}

/**
 * n timesteps evenly spaced from `start` (default T-1) down towards 0: t_i = ⌊(start+1)(n−i)/n + ½⌋ − 1.
 * The last step of a sampler goes from t_{n−1} to t = −1, where ᾱ = 1 (the clean image).
 */
export function trailingTimesteps(n: number, start: number): number[] {
  if (!Number.isInteger(n) || !Number.isInteger(start) || n < 1 || n > start + 1) {
    throw new RangeError(`need an integer step count 1 ≤ n ≤ start+1 (n=${n}, start=${start})`)
  }
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push(Math.floor(((start + 1) * (n - i)) / n + 0.5) - 1)
  return out
}
