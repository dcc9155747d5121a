import type { RawVolume } from './api.js'

export type Vec3 = [number, number, number]

/** Cornerstone3D's `direction` lists the LPS direction of voxel axis i, j, k one after another: the transpose of ours. */
export function cornerstoneDirection(d: number[]): number[] {
  return [d[0], d[3], d[6], d[1], d[4], d[7], d[2], d[5], d[8]]
}

/** Voxel index (fractional allowed) → world (LPS, mm): origin + D·(spacing⊙ijk), D row-major. */
export function indexToWorld(v: Pick<RawVolume, 'origin' | 'spacing' | 'direction'>, ijk: ArrayLike<number>): Vec3 {
  const d = v.direction
  return [0, 1, 2].map((r) => v.origin[r] + d[3 * r] * v.spacing[0] * ijk[0] + d[3 * r + 1] * v.spacing[1] * ijk[1] + d[3 * r + 2] * v.spacing[2] * ijk[2]) as Vec3
}

/** World (LPS, mm) → continuous voxel index, for orthonormal directions: diag(1/spacing) · Dᵀ · (p − origin). */
export function worldToIndex(v: Pick<RawVolume, 'origin' | 'spacing' | 'direction'>, p: ArrayLike<number>): Vec3 {
  const q = [p[0] - v.origin[0], p[1] - v.origin[1], p[2] - v.origin[2]]
  const d = v.direction
  return [0, 1, 2].map((j) => (d[j] * q[0] + d[3 + j] * q[1] + d[6 + j] * q[2]) / v.spacing[j]) as Vec3
}

/** Nearest-voxel value at a world point; undefined outside the volume. */
export function valueAt(v: RawVolume, p: ArrayLike<number>): number | undefined {
  const ijk = worldToIndex(v, p).map(Math.round)
  if (ijk.some((x, a) => x < 0 || x >= v.size[a])) return undefined
  return v.data[ijk[0] + v.size[0] * (ijk[1] + v.size[1] * ijk[2])]
}

/** Trilinear value at a world point (voxel centres at integer indices); undefined outside. */
export function sampleLinear(v: RawVolume, p: ArrayLike<number>): number | undefined {
  const [fi, fj, fk] = worldToIndex(v, p)
  const [nx, ny, nz] = v.size
  if (fi < -0.5 || fj < -0.5 || fk < -0.5 || fi > nx - 0.5 || fj > ny - 0.5 || fk > nz - 0.5) return undefined
  const c = (x: number, n: number) => Math.min(n - 1, Math.max(0, x))
  const i0 = c(Math.floor(fi), nx), j0 = c(Math.floor(fj), ny), k0 = c(Math.floor(fk), nz)
  const i1 = c(i0 + 1, nx), j1 = c(j0 + 1, ny), k1 = c(k0 + 1, nz)
  const ti = Math.min(1, Math.max(0, fi - i0)), tj = Math.min(1, Math.max(0, fj - j0)), tk = Math.min(1, Math.max(0, fk - k0))
  const d = v.data
  const at = (i: number, j: number, k: number) => d[i + nx * (j + ny * k)]
  const x00 = at(i0, j0, k0) + ti * (at(i1, j0, k0) - at(i0, j0, k0))
  const x10 = at(i0, j1, k0) + ti * (at(i1, j1, k0) - at(i0, j1, k0))
  const x01 = at(i0, j0, k1) + ti * (at(i1, j0, k1) - at(i0, j0, k1))
  const x11 = at(i0, j1, k1) + ti * (at(i1, j1, k1) - at(i0, j1, k1))
  const y0 = x00 + tj * (x10 - x00)
  const y1 = x01 + tj * (x11 - x01)
  return y0 + tk * (y1 - y0)
}

const LETTERS: [string, string][] = [['L', 'R'], ['P', 'A'], ['S', 'I']]

/** Patient-direction letters (LPS) for a world vector: the dominant axis first, a second one when oblique. */
export function orientationLabel(v: ArrayLike<number>): string {
  const n = Math.hypot(v[0], v[1], v[2]) || 1
  return [0, 1, 2]
    .map((a) => ({ a, c: v[a] / n }))
    .filter((x) => Math.abs(x.c) > 0.3)
    .sort((x, y) => Math.abs(y.c) - Math.abs(x.c))
    .slice(0, 2)
    .map((x) => LETTERS[x.a][x.c > 0 ? 0 : 1])
    .join('')
}
