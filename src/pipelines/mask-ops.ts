import type { Vec3 } from '../volume/volume.js'

/**
 * Binary and rank operations on x-fastest volumes for anomaly post-processing. Written by hand:
 * the pipelines run in Node without a native image library, and each is a few lines whose result
 * tests compare with scipy.ndimage (binary_erosion, median_filter, label).
 */

/**
 * Erosion by an axis-aligned diamond of radius r_d = round(mm / spacing_d) voxels per axis: the
 * 6-connected cross applied max(r) times, an axis taking part only while its radius lasts. With
 * equal radii this is scipy.ndimage.binary_erosion(m, iterations=r) (border_value 0: voxels at the
 * volume edge erode too).
 */
export function erodeMask(m: Uint8Array, size: Vec3, spacing: Vec3, mm: number): Uint8Array {
  return diamondMorphology(m, size, spacing, mm, false)
}

/**
 * Cubic median filter of odd width w, computed only at voxels where `where` is set (elsewhere the
 * output is 0); the window reads x everywhere, edges mirrored as scipy.ndimage.median_filter's
 * default mode 'reflect' (d c b a | a b c d).
 */
export function medianFilter(x: Float32Array, size: Vec3, w: number, where?: Uint8Array): Float32Array {
  const out = new Float32Array(x.length)
  if (w <= 1) {
    for (let i = 0; i < x.length; i++) out[i] = !where || where[i] ? x[i] : 0
    return out
  }
  const h = (w - 1) >> 1
  const [nx, ny, nz] = size
  const refl = (p: number, n: number): number => {
    const period = 2 * n
    const m = ((p % period) + period) % period
    return m >= n ? period - 1 - m : m
  }
  const win = new Float64Array(w * w * w)
  const mid = (win.length - 1) >> 1
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const o = (k * ny + j) * nx + i
        if (where && !where[o]) continue
        let q = 0
        for (let dk = -h; dk <= h; dk++) {
          const kk = refl(k + dk, nz) * ny
          for (let dj = -h; dj <= h; dj++) {
            const row = (kk + refl(j + dj, ny)) * nx
            for (let di = -h; di <= h; di++) win[q++] = x[row + refl(i + di, nx)]
          }
        }
        out[o] = select(win, mid)
      }
  return out
}

/** The k-th smallest of a (reordered in place): Hoare's quickselect. */
function select(a: Float64Array, k: number): number {
  let lo = 0
  let hi = a.length - 1
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]
    let i = lo
    let j = hi
    while (i <= j) {
      while (a[i] < pivot) i++
      while (a[j] > pivot) j--
      if (i <= j) {
        const t = a[i]
        a[i] = a[j]
        a[j] = t
        i++
        j--
      }
    }
    if (k <= j) hi = j
    else if (k >= i) lo = i
    else return a[k]
  }
  return a[k]
}

/**
 * 26-connected components of a binary mask (scipy.ndimage.label with a 3×3×3 structure): labels
 * 1..n in order of each component's first voxel, and each component's voxel count (index 0 unused).
 */
export function labelComponents(m: Uint8Array, size: Vec3): { labels: Int32Array; counts: number[] } {
  const [nx, ny, nz] = size
  const labels = new Int32Array(m.length)
  const counts = [0]
  const stack = new Int32Array(m.length)
  for (let s = 0; s < m.length; s++) {
    if (!m[s] || labels[s]) continue
    const id = counts.length
    let top = 0
    let n = 0
    stack[top++] = s
    labels[s] = id
    while (top > 0) {
      const o = stack[--top]
      n++
      const i = o % nx
      const j = Math.floor(o / nx) % ny
      const k = Math.floor(o / (nx * ny))
      for (let dk = -1; dk <= 1; dk++) {
        const kk = k + dk
        if (kk < 0 || kk >= nz) continue
        for (let dj = -1; dj <= 1; dj++) {
          const jj = j + dj
          if (jj < 0 || jj >= ny) continue
          for (let di = -1; di <= 1; di++) {
            const ii = i + di
            if (ii < 0 || ii >= nx) continue
            const q = (kk * ny + jj) * nx + ii
            if (m[q] && !labels[q]) {
              labels[q] = id
              stack[top++] = q
            }
          }
        }
      }
    }
    counts.push(n)
  }
  return { labels, counts }
}

/** The mask without its 26-connected components of fewer than minVoxels voxels; also how many were dropped. */
export function dropSmallComponents(m: Uint8Array, size: Vec3, minVoxels: number): { mask: Uint8Array; dropped: number; kept: number } {
  if (minVoxels <= 1) {
    const { counts } = labelComponents(m, size)
    return { mask: Uint8Array.from(m, (v) => (v ? 1 : 0)), dropped: 0, kept: counts.length - 1 }
  }
  const { labels, counts } = labelComponents(m, size)
  const keep = counts.map((c) => c >= minVoxels)
  const mask = new Uint8Array(m.length)
  for (let i = 0; i < m.length; i++) if (labels[i] && keep[labels[i]]) mask[i] = 1
  const kept = keep.slice(1).filter(Boolean).length
  return { mask, dropped: counts.length - 1 - kept, kept }
}

/**
 * Dilation by the same axis-aligned diamond erodeMask uses (radius round(mm / spacing) voxels per
 * axis): scipy.ndimage.binary_dilation(m, iterations=r) with equal radii (border_value 0).
 */
export function dilateMask(m: Uint8Array, size: Vec3, spacing: Vec3, mm: number): Uint8Array {
  return diamondMorphology(m, size, spacing, mm, true)
}

/**
 * One pass per iteration of the 6-connected cross, an axis taking part while its radius lasts:
 * erosion clears a set voxel with an unset (or outside) neighbour, dilation sets an unset voxel with
 * a set neighbour inside the volume (border_value 0 both ways, as scipy).
 */
function diamondMorphology(m: Uint8Array, size: Vec3, spacing: Vec3, mm: number, grow: boolean): Uint8Array {
  const r = spacing.map((s) => Math.round(mm / s))
  const it = Math.max(...r)
  const [nx, ny, nz] = size
  const strides = [1, nx, nx * ny]
  let cur = Uint8Array.from(m, (v) => (v ? 1 : 0))
  const flips = grow ? 0 : 1 // the voxels a pass may change hold this value
  for (let n = 0; n < it; n++) {
    const next = Uint8Array.from(cur)
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++) {
          const o = (k * ny + j) * nx + i
          if (cur[o] !== flips) continue
          const c = [i, j, k]
          for (let d = 0; d < 3; d++) {
            if (n >= r[d]) continue
            const lo = c[d] > 0 && cur[o - strides[d]]
            const hi = c[d] < size[d] - 1 && cur[o + strides[d]]
            if (grow ? lo || hi : !lo || !hi) {
              next[o] = 1 - flips
              break
            }
          }
        }
    cur = next
  }
  return cur
}

/**
 * The mask with its holes filled: background voxels not 6-connected to the volume's border become
 * foreground (scipy.ndimage.binary_fill_holes in 3D).
 */
export function fillHoles(m: Uint8Array, size: Vec3): Uint8Array {
  const [nx, ny, nz] = size
  const outside = new Uint8Array(m.length)
  const stack = new Int32Array(m.length)
  let top = 0
  const push = (o: number): void => {
    if (m[o] || outside[o]) return
    outside[o] = 1
    stack[top++] = o
  }
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++)
        if (i === 0 || j === 0 || k === 0 || i === nx - 1 || j === ny - 1 || k === nz - 1) push((k * ny + j) * nx + i)
  while (top > 0) {
    const o = stack[--top]
    const i = o % nx
    const j = Math.floor(o / nx) % ny
    const k = Math.floor(o / (nx * ny))
    if (i > 0) push(o - 1)
    if (i < nx - 1) push(o + 1)
    if (j > 0) push(o - nx)
    if (j < ny - 1) push(o + nx)
    if (k > 0) push(o - nx * ny)
    if (k < nz - 1) push(o + nx * ny)
  }
  return Uint8Array.from(outside, (v) => (v ? 0 : 1))
}
