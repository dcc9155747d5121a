import type { Vec3 } from '../volume/geometry-types.js'

/** Voxel-wise helpers on x-fastest float arrays of a [nx, ny, nz] grid. */

export type Axes = [boolean, boolean, boolean]

/** Mean over f×f×… blocks along the chosen axes (A of the super-resolution model). */
export function averagePool(x: ArrayLike<number>, size: Vec3, f: number, axes: Axes): { data: Float32Array; size: Vec3 } {
  const fs = axes.map((a) => (a ? f : 1)) as Vec3
  const out: Vec3 = [0, 1, 2].map((d) => Math.floor(size[d] / fs[d])) as Vec3
  const data = new Float64Array(out[0] * out[1] * out[2])
  const [nx, ny] = size
  for (let k = 0; k < out[2] * fs[2]; k++) {
    const ko = Math.floor(k / fs[2])
    for (let j = 0; j < out[1] * fs[1]; j++) {
      const jo = Math.floor(j / fs[1])
      const row = (k * ny + j) * nx
      const orow = (ko * out[1] + jo) * out[0]
      for (let i = 0; i < out[0] * fs[0]; i++) data[orow + Math.floor(i / fs[0])] += x[row + i]
    }
  }
  const inv = 1 / (fs[0] * fs[1] * fs[2])
  return { data: Float32Array.from(data, (v) => v * inv), size: out }
}

/**
 * DDNM's range-space correction, in place: x ← x + A†(y − A x) with A = average-pool by f over
 * `axes` and A† = replication, so that A x = y afterwards. `size` is x's (fine) grid, y is on the
 * coarse grid A gives.
 */
export function projectOntoMeasurement(x: Float32Array | Float64Array, size: Vec3, y: ArrayLike<number>, f: number, axes: Axes): void {
  const ax = averagePool(x, size, f, axes)
  const r = ax.data
  for (let i = 0; i < r.length; i++) r[i] = y[i] - r[i]
  const back = replicateUpsample(r, ax.size, f, axes).data
  for (let i = 0; i < x.length; i++) x[i] += back[i]
}

/** Replicates each voxel f times along the chosen axes (A†: A(A† y) = y). */
export function replicateUpsample(y: Float32Array, size: Vec3, f: number, axes: Axes): { data: Float32Array; size: Vec3 } {
  const fs = axes.map((a) => (a ? f : 1)) as Vec3
  const out: Vec3 = [size[0] * fs[0], size[1] * fs[1], size[2] * fs[2]]
  const data = new Float32Array(out[0] * out[1] * out[2])
  for (let k = 0; k < out[2]; k++) {
    const ki = Math.floor(k / fs[2])
    for (let j = 0; j < out[1]; j++) {
      const row = (ki * size[1] + Math.floor(j / fs[1])) * size[0]
      const orow = (k * out[1] + j) * out[0]
      for (let i = 0; i < out[0]; i++) data[orow + i] = y[row + Math.floor(i / fs[0])]
    }
  }
  return { data, size: out }
}

/** Separable Gaussian blur (σ in voxels per axis, kernel ±3σ, edges clamped). */
export function gaussianBlur(x: Float32Array, size: Vec3, sigma: Vec3): Float32Array {
  let cur = Float32Array.from(x)
  const strides = [1, size[0], size[0] * size[1]]
  for (let d = 0; d < 3; d++) {
    if (sigma[d] <= 0 || size[d] === 1) continue
    const r = Math.max(1, Math.ceil(3 * sigma[d]))
    const w = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma[d] ** 2)))
    const ws = w.reduce((a, b) => a + b, 0)
    const kern = w.map((v) => v / ws)
    const next = new Float32Array(cur.length)
    const n = size[d]
    const st = strides[d]
    for (let idx = 0; idx < cur.length; idx++) {
      const c = Math.floor(idx / st) % n
      let acc = 0
      for (let o = -r; o <= r; o++) {
        const p = Math.min(n - 1, Math.max(0, c + o))
        acc += kern[o + r] * cur[idx + (p - c) * st]
      }
      next[idx] = acc
    }
    cur = next
  }
  return cur
}

/** On a normalised volume ([-1, 1]): 10 % of the normalisation range, above MR / CT air. */
const NORMALISED_FOREGROUND_LEVEL = -0.8

/**
 * Head/body mask: threshold, keep the largest 6-connected component, fill enclosed holes
 * (background not connected to the grid border).
 */
export function foregroundMask(x: Float32Array, size: Vec3, threshold = NORMALISED_FOREGROUND_LEVEL): Uint8Array {
  const n = x.length
  const on = new Uint8Array(n)
  for (let i = 0; i < n; i++) on[i] = x[i] > threshold ? 1 : 0
  const label = new Int32Array(n)
  const [nx, ny, nz] = size
  const stack = new Int32Array(n)
  const flood = (seed: number, lab: number, want: number, arr: Uint8Array): number => {
    let sp = 0
    let count = 0
    stack[sp++] = seed
    label[seed] = lab
    while (sp > 0) {
      const v = stack[--sp]
      count++
      const i = v % nx
      const j = Math.floor(v / nx) % ny
      const k = Math.floor(v / (nx * ny))
      const nb = [i > 0 ? v - 1 : -1, i < nx - 1 ? v + 1 : -1, j > 0 ? v - nx : -1, j < ny - 1 ? v + nx : -1, k > 0 ? v - nx * ny : -1, k < nz - 1 ? v + nx * ny : -1]
      for (const u of nb) {
        if (u >= 0 && label[u] === 0 && arr[u] === want) {
          label[u] = lab
          stack[sp++] = u
        }
      }
    }
    return count
  }
  let best = 0
  let bestLab = 0
  let lab = 0
  for (let v = 0; v < n; v++) {
    if (on[v] && label[v] === 0) {
      const c = flood(v, ++lab, 1, on)
      if (c > best) [best, bestLab] = [c, lab]
    }
  }
  const mask = new Uint8Array(n)
  for (let v = 0; v < n; v++) mask[v] = label[v] === bestLab && bestLab > 0 ? 1 : 0
  // Holes: background voxels not reachable from the border through background.
  label.fill(0)
  const bg = new Uint8Array(n)
  for (let v = 0; v < n; v++) bg[v] = mask[v] ? 0 : 1
  for (let v = 0; v < n; v++) {
    if (!bg[v] || label[v] !== 0) continue
    const i = v % nx
    const j = Math.floor(v / nx) % ny
    const k = Math.floor(v / (nx * ny))
    if (i === 0 || j === 0 || k === 0 || i === nx - 1 || j === ny - 1 || k === nz - 1) flood(v, 1, 1, bg)
  }
  for (let v = 0; v < n; v++) if (bg[v] && label[v] === 0) mask[v] = 1
  return mask
}

/** Linear-interpolated percentile (numpy default) of the values where mask is set (all when absent). */
export function percentileOf(x: Float32Array, p: number, mask?: Uint8Array): number {
  const vals = mask ? x.filter((_, i) => mask[i] === 1) : Float32Array.from(x)
  if (vals.length === 0) return NaN
  vals.sort()
  const idx = ((vals.length - 1) * p) / 100
  const lo = Math.floor(idx)
  const hi = Math.min(lo + 1, vals.length - 1)
  return vals[lo] + (vals[hi] - vals[lo]) * (idx - lo)
}

/** Source indices and weights of one output sample along an axis of N input samples at `pos`. */
type Taps = (pos: number, N: number) => { at: number[]; w: number[] }

/**
 * Separable cell-centred upsampling by f along the chosen axes: new index n sits at old coordinate
 * (n + ½)/f − ½; `taps` says which input samples it blends and how.
 */
function separableUpsample(y: Float32Array, size: Vec3, f: number, axes: Axes, taps: Taps): { data: Float32Array; size: Vec3 } {
  let cur = y
  let cs: Vec3 = [...size] as Vec3
  for (let d = 0; d < 3; d++) {
    if (!axes[d]) continue
    const ns: Vec3 = [...cs] as Vec3
    ns[d] = cs[d] * f
    // f phases repeat along the axis, but edges clamp differently: one tap set per output index
    const table = Array.from({ length: ns[d] }, (_, n) => taps((n + 0.5) / f - 0.5, cs[d]))
    const out = new Float32Array(ns[0] * ns[1] * ns[2])
    const sIn = [1, cs[0], cs[0] * cs[1]]
    for (let idx = 0; idx < out.length; idx++) {
      const c = [idx % ns[0], Math.floor(idx / ns[0]) % ns[1], Math.floor(idx / (ns[0] * ns[1]))]
      const tp = table[c[d]]
      c[d] = 0
      const base = c[0] * sIn[0] + c[1] * sIn[1] + c[2] * sIn[2]
      let v = 0
      for (let q = 0; q < tp.at.length; q++) v += tp.w[q] * cur[base + tp.at[q] * sIn[d]]
      out[idx] = v
    }
    cur = out
    cs = ns
  }
  return { data: cur, size: cs }
}

/** Cell-centred linear interpolation by f along the chosen axes (positions clamped at the edges). */
export function linearUpsample(y: Float32Array, size: Vec3, f: number, axes: Axes): { data: Float32Array; size: Vec3 } {
  return separableUpsample(y, size, f, axes, (pos, N) => {
    const p = Math.min(N - 1, Math.max(0, pos))
    const p0 = Math.floor(p)
    const w = p - p0
    return { at: [p0, Math.min(N - 1, p0 + 1)], w: [1 - w, w] }
  })
}

/** Keys (1981) cubic convolution kernel, a = −0.5 (Catmull-Rom): interpolating, C¹. */
function keys(x: number): number {
  const t = Math.abs(x)
  if (t < 1) return 1.5 * t * t * t - 2.5 * t * t + 1
  if (t < 2) return -0.5 * t * t * t + 2.5 * t * t - 4 * t + 2
  return 0
}

/**
 * Cell-centred cubic interpolation by f along the chosen axes (same sample positions as
 * linearUpsample, edge samples replicated): the super-resolution start, since a sharper start leaves
 * the prior less to invent.
 */
export function cubicUpsample(y: Float32Array, size: Vec3, f: number, axes: Axes): { data: Float32Array; size: Vec3 } {
  return separableUpsample(y, size, f, axes, (pos, N) => {
    const p0 = Math.floor(pos)
    const at: number[] = []
    const w: number[] = []
    for (let q = p0 - 1; q <= p0 + 2; q++) {
      at.push(Math.min(N - 1, Math.max(0, q)))
      w.push(keys(pos - q))
    }
    return { at, w }
  })
}

/** Voxel box [lo, hi) per axis. */
export interface Box {
  lo: Vec3
  hi: Vec3
}

/** Bounding box of the non-zero voxels grown by `margin` (per axis, or one for all; clamped); undefined when the mask is empty. */
export function maskBox(mask: Uint8Array, size: Vec3, margin: number | Vec3): Box | undefined {
  const [nx, ny] = size
  const lo: Vec3 = [Infinity, Infinity, Infinity]
  const hi: Vec3 = [-1, -1, -1]
  for (let o = 0; o < mask.length; o++) {
    if (!mask[o]) continue
    const c = [o % nx, Math.floor(o / nx) % ny, Math.floor(o / (nx * ny))]
    for (let d = 0; d < 3; d++) {
      if (c[d] < lo[d]) lo[d] = c[d]
      if (c[d] > hi[d]) hi[d] = c[d]
    }
  }
  if (hi[0] < 0) return undefined
  const m = typeof margin === 'number' ? [margin, margin, margin] : margin
  return { lo: lo.map((v, d) => Math.max(0, v - m[d])) as Vec3, hi: hi.map((v, d) => Math.min(size[d], v + 1 + m[d])) as Vec3 }
}

export function boxSize(b: Box): Vec3 {
  return [b.hi[0] - b.lo[0], b.hi[1] - b.lo[1], b.hi[2] - b.lo[2]]
}

export function cropBox(x: Float32Array, size: Vec3, b: Box): Float32Array {
  const [bx, by, bz] = boxSize(b)
  const out = new Float32Array(bx * by * bz)
  for (let k = 0; k < bz; k++)
    for (let j = 0; j < by; j++) {
      const src = ((b.lo[2] + k) * size[1] + b.lo[1] + j) * size[0] + b.lo[0]
      out.set(x.subarray(src, src + bx), (k * by + j) * bx)
    }
  return out
}

/** Writes a cropped block back into a full-size array in place. */
export function pasteBox(into: Float32Array, size: Vec3, b: Box, block: Float32Array): void {
  const [bx, by, bz] = boxSize(b)
  for (let k = 0; k < bz; k++)
    for (let j = 0; j < by; j++) into.set(block.subarray((k * by + j) * bx, (k * by + j + 1) * bx), ((b.lo[2] + k) * size[1] + b.lo[1] + j) * size[0] + b.lo[0])
}
