import type { RawVolume } from './api.js'
import { indexToWorld, type Vec3 } from './geometry.js'
import { autoWindow } from './window-level.js'

/** The voxel axis most parallel to a view normal. */
export function normalAxis(v: Pick<RawVolume, 'direction'>, n: ArrayLike<number>): number {
  const cols = [0, 1, 2].map((j) => Math.abs(v.direction[j] * n[0] + v.direction[3 + j] * n[1] + v.direction[6 + j] * n[2]))
  return cols.indexOf(Math.max(...cols))
}

/** Voxel-index centroid of the foreground (as autoWindow defines it). */
export function foregroundCentroid(v: RawVolume): number[] {
  const [lo, hi] = autoWindow(v)
  const cut = lo + 0.1 * (hi - lo)
  const [nx, ny] = v.size
  const c = [0, 0, 0]
  let n = 0
  for (let i = 0; i < v.data.length; i++) {
    if (!(v.data[i] > cut)) continue
    c[0] += i % nx
    c[1] += Math.floor(i / nx) % ny
    c[2] += Math.floor(i / (nx * ny))
    n++
  }
  return n ? c.map((x) => x / n) : v.size.map((k) => (k - 1) / 2)
}

/** The centre of the slice (across the view normal) holding the most heat at or above the threshold. */
export function heatPeak(h: RawVolume, n: ArrayLike<number>, threshold: number): Vec3 {
  const ax = normalAxis(h, n)
  const sums = new Float64Array(h.size[ax])
  const [nx, ny] = h.size
  for (let i = 0; i < h.data.length; i++) {
    const x = h.data[i]
    if (x >= threshold) sums[ax === 0 ? i % nx : ax === 1 ? Math.floor(i / nx) % ny : Math.floor(i / (nx * ny))] += x
  }
  const best = sums.indexOf(Math.max(...sums))
  const ijk = h.size.map((s) => (s - 1) / 2)
  ijk[ax] = best
  return indexToWorld(h, ijk)
}
