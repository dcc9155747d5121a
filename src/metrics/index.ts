/**
 * Image-quality and detection metrics for the evaluation harness. Arrays are x-fastest volumes of
 * size [nx, ny, nz]; SSIM follows scikit-image's structural_similarity(gaussian_weights=True,
 * sigma=1.5, use_sample_covariance=False, data_range=R) so numbers compare with the literature.
 */
export type Size3 = [number, number, number]

function selected(mask?: ArrayLike<number>): (i: number) => boolean {
  return mask ? (i) => mask[i] !== 0 : () => true
}

/** Mean of f(ref − x) over the (masked) voxels. */
function meanOf(ref: ArrayLike<number>, x: ArrayLike<number>, mask: ArrayLike<number> | undefined, f: (d: number) => number): number {
  const on = selected(mask)
  let s = 0
  let n = 0
  for (let i = 0; i < ref.length; i++) {
    if (!on(i)) continue
    s += f(ref[i] - x[i])
    n++
  }
  return s / n
}

export function mse(ref: ArrayLike<number>, x: ArrayLike<number>, mask?: ArrayLike<number>): number {
  return meanOf(ref, x, mask, (d) => d * d)
}

/** 10·log10(R² / MSE), as skimage.metrics.peak_signal_noise_ratio. */
export function psnr(ref: ArrayLike<number>, x: ArrayLike<number>, dataRange: number, mask?: ArrayLike<number>): number {
  return 10 * Math.log10((dataRange * dataRange) / mse(ref, x, mask))
}

export function mae(ref: ArrayLike<number>, x: ArrayLike<number>, mask?: ArrayLike<number>): number {
  return meanOf(ref, x, mask, Math.abs)
}

/** scipy's kernel radius for truncate=3.5; skimage crops the same width from the SSIM map. */
const radiusOf = (sigma: number): number => Math.floor(3.5 * sigma + 0.5)

/** scipy.ndimage.gaussian_filter(sigma, truncate=3.5, mode='reflect') along every axis longer than 1. */
function gaussianFilter(x: Float64Array, size: Size3, sigma: number): Float64Array {
  const r = radiusOf(sigma)
  const w = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp((-0.5 * (i - r) ** 2) / (sigma * sigma)))
  const ws = w.reduce((a, b) => a + b, 0)
  const k = w.map((v) => v / ws)
  let cur = x
  const strides = [1, size[0], size[0] * size[1]]
  for (let d = 0; d < 3; d++) {
    const n = size[d]
    if (n === 1) continue
    const st = strides[d]
    const next = new Float64Array(cur.length)
    const refl = (p: number): number => {
      // half-sample symmetric: d c b a | a b c d | d c b a
      const period = 2 * n
      let m = ((p % period) + period) % period
      return m >= n ? period - 1 - m : m
    }
    for (let idx = 0; idx < cur.length; idx++) {
      const c = Math.floor(idx / st) % n
      let acc = 0
      for (let o = -r; o <= r; o++) acc += k[o + r] * cur[idx + (refl(c + o) - c) * st]
      next[idx] = acc
    }
    cur = next
  }
  return cur
}

/**
 * Mean SSIM (skimage-compatible; see the module note). Axes of length 1 are ignored (2D images).
 * With a mask, the SSIM map is averaged over the masked voxels of the same border-cropped region.
 */
export function ssim(ref: ArrayLike<number>, x: ArrayLike<number>, size: Size3, dataRange: number, opts: { K1?: number; K2?: number; sigma?: number; mask?: ArrayLike<number> } = {}): number {
  const sigma = opts.sigma ?? 1.5
  const C1 = ((opts.K1 ?? 0.01) * dataRange) ** 2
  const C2 = ((opts.K2 ?? 0.03) * dataRange) ** 2
  const X = Float64Array.from(ref)
  const Y = Float64Array.from(x)
  const f = (a: Float64Array): Float64Array => gaussianFilter(a, size, sigma)
  const ux = f(X)
  const uy = f(Y)
  const uxx = f(X.map((v) => v * v))
  const uyy = f(Y.map((v) => v * v))
  const uxy = f(X.map((v, i) => v * Y[i]))
  const pad = radiusOf(sigma)
  const lo = size.map((s) => (s === 1 ? 0 : pad))
  const hi = size.map((s) => (s === 1 ? 1 : s - pad))
  let sum = 0
  let cnt = 0
  for (let kk = lo[2]; kk < hi[2]; kk++)
    for (let j = lo[1]; j < hi[1]; j++)
      for (let i = lo[0]; i < hi[0]; i++) {
        const q = (kk * size[1] + j) * size[0] + i
        if (opts.mask && !opts.mask[q]) continue
        const vx = uxx[q] - ux[q] * ux[q]
        const vy = uyy[q] - uy[q] * uy[q]
        const vxy = uxy[q] - ux[q] * uy[q]
        sum += ((2 * ux[q] * uy[q] + C1) * (2 * vxy + C2)) / ((ux[q] * ux[q] + uy[q] * uy[q] + C1) * (vx + vy + C2))
        cnt++
      }
  return sum / cnt
}

export function dice(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let inter = 0
  let sa = 0
  let sb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ? 1 : 0
    const y = b[i] ? 1 : 0
    inter += x & y
    sa += x
    sb += y
  }
  return sa + sb === 0 ? 1 : (2 * inter) / (sa + sb)
}

/** Scores sorted descending with tied scores grouped: (tp, fp) after each distinct threshold. */
function curve(scores: ArrayLike<number>, labels: ArrayLike<number>, mask?: ArrayLike<number>): { tp: number[]; fp: number[]; thr: number[]; P: number; N: number } {
  const idx: number[] = []
  for (let i = 0; i < scores.length; i++) if (!mask || mask[i]) idx.push(i)
  idx.sort((a, b) => scores[b] - scores[a])
  const tp: number[] = []
  const fp: number[] = []
  const thr: number[] = []
  let t = 0
  let f = 0
  for (let q = 0; q < idx.length; q++) {
    if (labels[idx[q]]) t++
    else f++
    if (q === idx.length - 1 || scores[idx[q + 1]] !== scores[idx[q]]) {
      tp.push(t)
      fp.push(f)
      thr.push(scores[idx[q]])
    }
  }
  return { tp, fp, thr, P: t, N: f }
}

/** Area under the ROC curve (trapezoids over distinct thresholds: ties count ½, as sklearn). */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>, mask?: ArrayLike<number>): number {
  const { tp, fp, P, N } = curve(scores, labels, mask)
  if (P === 0 || N === 0) return NaN
  let area = 0
  let pt = 0
  let pf = 0
  for (let i = 0; i < tp.length; i++) {
    area += ((fp[i] - pf) * (tp[i] + pt)) / 2
    pt = tp[i]
    pf = fp[i]
  }
  return area / (P * N)
}

/** Average precision Σ (R_n − R_{n−1}) P_n over distinct thresholds (sklearn's definition). */
export function auprc(scores: ArrayLike<number>, labels: ArrayLike<number>, mask?: ArrayLike<number>): number {
  const { tp, fp, P } = curve(scores, labels, mask)
  if (P === 0) return NaN
  let ap = 0
  let pr = 0
  for (let i = 0; i < tp.length; i++) {
    const r = tp[i] / P
    ap += (r - pr) * (tp[i] / (tp[i] + fp[i]))
    pr = r
  }
  return ap
}

/** The best Dice over all thresholds (optimistic: the threshold is chosen on the answer). */
export function bestDice(scores: ArrayLike<number>, labels: ArrayLike<number>, mask?: ArrayLike<number>): { dice: number; threshold: number } {
  const { tp, fp, thr, P } = curve(scores, labels, mask)
  let best = { dice: 0, threshold: Infinity }
  for (let i = 0; i < tp.length; i++) {
    const d = (2 * tp[i]) / (tp[i] + fp[i] + P)
    if (d > best.dice) best = { dice: d, threshold: thr[i] }
  }
  return best
}

/**
 * Mean |x[s+1] − x[s]| between neighbouring slices along voxel axis `axis` (0, 1 or 2), over the pairs
 * whose two voxels are both in the mask. Relative to the clean volume's it tells a 2D model's stripes
 * (above 1: slices that disagree) from smoothing across slices (below 1).
 */
export function sliceStep(x: ArrayLike<number>, size: Size3, axis: 0 | 1 | 2, mask?: ArrayLike<number>): number {
  const [nx, ny, nz] = size
  const stride = axis === 0 ? 1 : axis === 1 ? nx : nx * ny
  const on = selected(mask)
  let sum = 0
  let n = 0
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        if ((axis === 0 ? i : axis === 1 ? j : k) + 1 >= size[axis]) continue
        const p = (k * ny + j) * nx + i
        if (!on(p) || !on(p + stride)) continue
        sum += Math.abs(x[p + stride] - x[p])
        n++
      }
  return n === 0 ? NaN : sum / n
}
