import type { Vec3 } from '../volume/volume.js'
import { Rng } from '../engine/index.js'

/**
 * "Simplex-like" noise for AnoDDPM-style healing: a sum of octaves of Gaussian noise drawn on coarse
 * grids and trilinearly upsampled (a cheap value-noise stand-in for simplex noise: the point is
 * spatially correlated noise, so large lesions get noised away as a whole). Octave o has cells of
 * base/2^o voxels (base = max(size)/4, so the coarsest frequency is ≈ 1/64 of a 256-voxel image
 * at o = 0) with weight 0.6^o; the sum is rescaled to unit variance per voxel, so it drops into
 * x_t = α x + σ ξ like white noise. Seeded: identical for the same seed.
 */
export function lowFrequencyNoise(size: Vec3, seed: number, octaves = 4, persistence = 0.6): Float32Array {
  const n = size[0] * size[1] * size[2]
  const out = new Float64Array(n)
  let wsum = 0
  const base = Math.max(2, Math.max(...size) / 4)
  for (let o = 0; o < octaves; o++) {
    const cell = Math.max(1, base / 2 ** o)
    const g: Vec3 = size.map((s) => Math.ceil(s / cell) + 2) as Vec3
    const rng = new Rng(seed, 900_000 + o)
    const coarse = new Float64Array(g[0] * g[1] * g[2])
    for (let i = 0; i < coarse.length; i++) coarse[i] = rng.normal()
    const w = persistence ** o
    wsum += w * w
    const at = (i: number, j: number, k: number): number => coarse[(k * g[1] + j) * g[0] + i]
    for (let k = 0; k < size[2]; k++) {
      const fk = k / cell
      const k0 = Math.floor(fk)
      const tk = fk - k0
      for (let j = 0; j < size[1]; j++) {
        const fj = j / cell
        const j0 = Math.floor(fj)
        const tj = fj - j0
        for (let i = 0; i < size[0]; i++) {
          const fi = i / cell
          const i0 = Math.floor(fi)
          const ti = fi - i0
          let v = 0
          for (let c = 0; c < 8; c++) {
            const di = c & 1
            const dj = (c >> 1) & 1
            const dk = (c >> 2) & 1
            const wt = (di ? ti : 1 - ti) * (dj ? tj : 1 - tj) * (dk ? tk : 1 - tk)
            if (wt !== 0) v += wt * at(i0 + di, j0 + dj, k0 + dk)
          }
          out[(k * size[1] + j) * size[0] + i] += w * v
        }
      }
    }
  }
  // Trilinear interpolation shrinks the variance between grid points: normalise empirically.
  let m = 0
  for (let i = 0; i < n; i++) m += out[i]
  m /= n
  let v = 0
  for (let i = 0; i < n; i++) v += (out[i] - m) ** 2
  const sd = Math.sqrt(v / n) || Math.sqrt(wsum)
  return Float32Array.from(out, (x) => (x - m) / sd)
}
