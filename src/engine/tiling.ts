/**
 * Overlapping tiles for slices larger than the model's tile size, blended with cosine weights
 * (normalised by their sum, so a constant field stays constant and seams vanish).
 */
export interface Tile {
  y: number
  x: number
  h: number
  w: number
}

/** Fewest tiles with at least `overlap` shared pixels, spread evenly so every seam overlaps alike. */
function starts(n: number, tile: number, overlap: number): number[] {
  if (n <= tile) return [0]
  const k = Math.ceil((n - overlap) / Math.max(1, tile - overlap))
  return Array.from({ length: k }, (_, i) => Math.round((i * (n - tile)) / (k - 1)))
}

/** Tiles covering H×W: sides min(tile, side), the first and last flush with the edges. */
export function planTiles(H: number, W: number, tile: number, overlap: number): Tile[] {
  const th = Math.min(tile, H)
  const tw = Math.min(tile, W)
  const out: Tile[] = []
  for (const y of starts(H, th, overlap)) for (const x of starts(W, tw, overlap)) out.push({ y, x, h: th, w: tw })
  return out
}

function ramp(n: number, overlap: number): Float32Array {
  const w = new Float32Array(n)
  const o = Math.max(1, Math.min(overlap, Math.floor(n / 2)))
  for (let i = 0; i < n; i++) {
    const d = Math.min(i, n - 1 - i)
    w[i] = d >= o ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * (d + 0.5)) / o)
  }
  return w
}

/** Separable weight of a tile: > 0 everywhere, tapering over `overlap` pixels at each side. */
export function tileWeights(h: number, w: number, overlap: number): Float32Array {
  const wy = ramp(h, overlap)
  const wx = ramp(w, overlap)
  const out = new Float32Array(h * w)
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = wy[y] * wx[x]
  return out
}

/** Copies tile `t` of each of `n` planes (H×W each) into a [n, h, w] buffer. */
export function cropTiles(src: Float32Array, n: number, H: number, W: number, t: Tile, out: Float32Array): Float32Array {
  for (let p = 0; p < n; p++) {
    for (let y = 0; y < t.h; y++) {
      const s = p * H * W + (t.y + y) * W + t.x
      out.set(src.subarray(s, s + t.w), (p * t.h + y) * t.w)
    }
  }
  return out
}

/** acc += weight·tile, wsum += weight (per plane). */
export function accumulateTiles(acc: Float32Array, wsum: Float32Array, n: number, H: number, W: number, t: Tile, tiles: Float32Array, weight: Float32Array): void {
  for (let p = 0; p < n; p++) {
    for (let y = 0; y < t.h; y++) {
      const d = p * H * W + (t.y + y) * W + t.x
      const s = (p * t.h + y) * t.w
      for (let x = 0; x < t.w; x++) {
        const wv = weight[y * t.w + x]
        acc[d + x] += wv * tiles[s + x]
        wsum[d + x] += wv
      }
    }
  }
}
