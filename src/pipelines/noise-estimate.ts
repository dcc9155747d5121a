import type { Vec3 } from '../volume/geometry-types.js'
import { percentileOf } from './volume-ops.js'

export interface NoiseEstimate {
  /** Noise standard deviation in the volume's real units. */
  sigma: number
  method: 'rayleigh-background' | 'immerkaer'
}

/**
 * Immerkær (1996): σ = √(π/2) / (6(W−2)(H−2)) Σ|I ∗ N| over each k-slice's interior, averaged
 * over slices. Edges add to the sum, so this slightly overestimates on very structured images.
 */
export function immerkaer(x: Float32Array, size: Vec3): number {
  const [nx, ny, nz] = size
  if (nx < 3 || ny < 3) return 0
  let acc = 0
  for (let k = 0; k < nz; k++) {
    const b = k * nx * ny
    for (let j = 1; j < ny - 1; j++) {
      for (let i = 1; i < nx - 1; i++) {
        const c = b + j * nx + i
        const v =
          x[c - nx - 1] - 2 * x[c - nx] + x[c - nx + 1] - 2 * x[c - 1] + 4 * x[c] - 2 * x[c + 1] + x[c + nx - 1] - 2 * x[c + nx] + x[c + nx + 1]
        acc += Math.abs(v)
      }
    }
  }
  return (Math.sqrt(Math.PI / 2) * acc) / (6 * (nx - 2) * (ny - 2) * nz)
}

/**
 * MRI magnitude: background air is Rayleigh, mean = σ√(π/2). Background = non-zero voxels below a
 * cutoff that starts at 10% of the 99.5th percentile and is refined to 4σ (Rayleigh mass above 4σ
 * is e^−8), three times. Exact zeros are left out: they are masking or padding, not noise. Falls
 * back to Immerkær when under 2% of the voxels are background (skull-stripped or cropped scans).
 */
export function estimateNoise(x: Float32Array, size: Vec3, modality: string): NoiseEstimate {
  if (modality.toUpperCase() === 'MR') {
    const hi = percentileOf(x, 99.5)
    let cut = 0.1 * hi
    let sigma = 0
    let count = 0
    for (let it = 0; it < 4; it++) {
      let sum = 0
      count = 0
      for (let i = 0; i < x.length; i++) {
        const v = x[i]
        if (v > 0 && v < cut) {
          sum += v
          count++
        }
      }
      if (count === 0) break
      sigma = sum / count / Math.sqrt(Math.PI / 2)
      cut = Math.min(4 * sigma, 0.3 * hi)
    }
    if (count >= 0.02 * x.length && sigma > 0) return { sigma, method: 'rayleigh-background' }
  }
  return { sigma: immerkaer(x, size), method: 'immerkaer' }
}
