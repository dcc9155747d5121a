import type { RawVolume } from './api.js'
import { colorAt, COLORMAPS, type Stops } from './colormaps.js'
import { indexToWorld, sampleLinear, type Vec3 } from './geometry.js'

/** The displayed plane as an affine map canvas (x, y) → world (CSS pixels). */
export interface CanvasFrame {
  p0: Vec3
  dx: Vec3
  dy: Vec3
}

export interface HeatStyle {
  heat?: RawVolume
  range: [number, number]
  threshold: number
  opacity: number
  stops: Stops
  mask: 'none' | 'outline' | 'label'
  std?: RawVolume
}

/** A sampling grid in the displayed plane, anchored to the volume (not to pan or zoom). */
interface Grid {
  g0: Vec3
  ex: Vec3
  ey: Vec3
  step: number
  nx: number
  ny: number
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
const MAX_CELLS = 320
const lutCache = new WeakMap<Stops, Uint8ClampedArray>()

function lut(stops: Stops): Uint8ClampedArray {
  let l = lutCache.get(stops)
  if (!l) {
    l = new Uint8ClampedArray(256 * 3)
    for (let i = 0; i < 256; i++) l.set(colorAt(stops, i / 255).map((c) => c * 255), i * 3)
    lutCache.set(stops, l)
  }
  return l
}

/**
 * The heat overlay of one viewport. Sampling the volume at every canvas pixel on every render
 * cost more than the WebGL pass itself; instead the plane is sampled once per slice at about the
 * volume's own resolution (twice it for coarse volumes) into a small image that the canvas scales
 * on drawing, and the mask outline is a marching-squares contour stroked at screen resolution.
 * Pan and zoom reuse the cached slice; a new slice or plane re-samples it, a new style repaints it.
 */
export class HeatLayer {
  private planeKey = ''
  private styleKey = ''
  private grid?: Grid
  private readonly heatCanvas = document.createElement('canvas')
  private readonly stdCanvas = document.createElement('canvas')
  private readonly labelCanvas = document.createElement('canvas')
  private values = new Float32Array(0)
  private contour: number[] = []
  private lastHeat?: RawVolume
  private lastStd?: RawVolume
  private lastStops?: Stops

  draw(g: CanvasRenderingContext2D, f: CanvasFrame, s: HeatStyle): void {
    const vol = s.heat ?? s.std
    if (!vol) return
    const ps = Math.hypot(...f.dx)
    const ex = f.dx.map((x) => x / ps) as Vec3
    const ey = f.dy.map((x) => x / ps) as Vec3
    const n: Vec3 = [ex[1] * ey[2] - ex[2] * ey[1], ex[2] * ey[0] - ex[0] * ey[2], ex[0] * ey[1] - ex[1] * ey[0]]
    const depth = dot(f.p0, n)
    // Sampling the volumes depends on the plane only; threshold, opacity, mask and colour map only
    // repaint the samples (slider drags must not re-sample up to 320² points each event).
    // Volumes and colour maps are compared by identity: both are fixed objects, never edited in place.
    const planeKey = [...ex, ...ey].map((x) => x.toFixed(4)).join() + `|${depth.toFixed(3)}`
    const resampled = planeKey !== this.planeKey || s.heat !== this.lastHeat || s.std !== this.lastStd
    if (resampled) {
      this.planeKey = planeKey
      this.lastHeat = s.heat
      this.lastStd = s.std
      this.grid = makeGrid(vol, f.p0, ex, ey, n)
      this.sample(s)
    }
    const styleKey = `${s.range}|${s.threshold}|${s.opacity}|${s.mask}`
    if (resampled || styleKey !== this.styleKey || s.stops !== this.lastStops) {
      this.styleKey = styleKey
      this.lastStops = s.stops
      this.paintHeat(s)
    }
    const gr = this.grid!
    const o = [f.p0[0] - gr.g0[0], f.p0[1] - gr.g0[1], f.p0[2] - gr.g0[2]]
    // Canvas position of the grid's corner and the size of one grid cell, in CSS pixels.
    const tx = -dot(o, ex) / ps
    const ty = -dot(o, ey) / ps
    const k = gr.step / ps
    g.save()
    g.imageSmoothingEnabled = true
    g.imageSmoothingQuality = 'high'
    g.setTransform(k, 0, 0, k, tx, ty)
    if (s.heat) g.drawImage(this.heatCanvas, 0, 0)
    if (s.std) g.drawImage(this.stdCanvas, 0, 0)
    if (s.heat && s.mask === 'label') g.drawImage(this.labelCanvas, 0, 0)
    g.restore()
    if (s.heat && s.mask === 'outline' && this.contour.length) {
      // Cyan: distinct from every overlay colour map's high end.
      g.strokeStyle = 'rgb(0, 230, 255)'
      g.lineWidth = 1.5
      g.beginPath()
      const c = this.contour
      // Contour points are in cell units with cell centres at integers.
      for (let i = 0; i < c.length; i += 4) {
        g.moveTo(tx + (c[i] + 0.5) * k, ty + (c[i + 1] + 0.5) * k)
        g.lineTo(tx + (c[i + 2] + 0.5) * k, ty + (c[i + 3] + 0.5) * k)
      }
      g.stroke()
    }
  }

  /** The volumes' values on the plane's grid; the std layer's fixed style is painted here too. */
  private sample(s: HeatStyle): void {
    const gr = this.grid!
    const { nx, ny } = gr
    if (this.values.length !== nx * ny) this.values = new Float32Array(nx * ny)
    if (s.heat) fillValues(this.values, s.heat, gr)
    if (s.std) {
      const v = new Float32Array(nx * ny)
      fillValues(v, s.std, gr)
      paint(this.stdCanvas, v, gr, [0, s.std.range[1] || 1], 0, 0.5, lut(COLORMAPS.viridis))
    }
  }

  /** Colours, threshold, opacity and mask of the heat samples. */
  private paintHeat(s: HeatStyle): void {
    const gr = this.grid!
    this.contour = []
    if (!s.heat) return
    paint(this.heatCanvas, this.values, gr, s.range, s.threshold, s.opacity, lut(s.stops))
    if (s.mask === 'label') paintLabel(this.labelCanvas, this.values, gr, s.threshold)
    if (s.mask === 'outline') this.contour = marchingSquares(this.values, gr.nx, gr.ny, s.threshold)
  }
}

function makeGrid(vol: RawVolume, p0: Vec3, ex: Vec3, ey: Vec3, n: Vec3): Grid {
  // The volume's origin projected onto the plane: an anchor that pan and zoom do not move.
  const h = dot([vol.origin[0] - p0[0], vol.origin[1] - p0[1], vol.origin[2] - p0[2]], n)
  const a: Vec3 = [vol.origin[0] - h * n[0], vol.origin[1] - h * n[1], vol.origin[2] - h * n[2]]
  let umin = Infinity, umax = -Infinity, vmin = Infinity, vmax = -Infinity
  for (let c = 0; c < 8; c++) {
    const ijk = [c & 1 ? vol.size[0] - 0.5 : -0.5, c & 2 ? vol.size[1] - 0.5 : -0.5, c & 4 ? vol.size[2] - 0.5 : -0.5]
    const w = indexToWorld(vol, ijk)
    const q = [w[0] - a[0], w[1] - a[1], w[2] - a[2]]
    const u = dot(q, ex)
    const v = dot(q, ey)
    umin = Math.min(umin, u); umax = Math.max(umax, u); vmin = Math.min(vmin, v); vmax = Math.max(vmax, v)
  }
  const native = Math.min(...vol.spacing)
  const extent = Math.max(umax - umin, vmax - vmin)
  // Twice the volume's resolution (a smoother threshold edge), capped for large fields of view.
  const step = Math.max(native / 2, extent / MAX_CELLS)
  const u0 = Math.floor(umin / step) * step
  const v0 = Math.floor(vmin / step) * step
  return {
    g0: [a[0] + u0 * ex[0] + v0 * ey[0], a[1] + u0 * ex[1] + v0 * ey[1], a[2] + u0 * ex[2] + v0 * ey[2]],
    ex,
    ey,
    step,
    nx: Math.max(1, Math.ceil((umax - u0) / step)),
    ny: Math.max(1, Math.ceil((vmax - v0) / step)),
  }
}

/** Trilinear samples at the cell centres; NaN outside the volume. */
function fillValues(out: Float32Array, vol: RawVolume, gr: Grid): void {
  const p: Vec3 = [0, 0, 0]
  for (let y = 0; y < gr.ny; y++) {
    for (let x = 0; x < gr.nx; x++) {
      const u = (x + 0.5) * gr.step
      const v = (y + 0.5) * gr.step
      p[0] = gr.g0[0] + u * gr.ex[0] + v * gr.ey[0]
      p[1] = gr.g0[1] + u * gr.ex[1] + v * gr.ey[1]
      p[2] = gr.g0[2] + u * gr.ex[2] + v * gr.ey[2]
      out[y * gr.nx + x] = sampleLinear(vol, p) ?? NaN
    }
  }
}

/** The canvas sized to the grid, its 2D context and a blank image of that size. */
function gridImage(canvas: HTMLCanvasElement, gr: Grid): { ctx: CanvasRenderingContext2D; img: ImageData } {
  if (canvas.width !== gr.nx || canvas.height !== gr.ny) {
    canvas.width = gr.nx
    canvas.height = gr.ny
  }
  const ctx = canvas.getContext('2d')!
  return { ctx, img: ctx.createImageData(gr.nx, gr.ny) }
}

function paint(canvas: HTMLCanvasElement, values: Float32Array, gr: Grid, range: [number, number], thr: number, opacity: number, l: Uint8ClampedArray): void {
  const { ctx, img } = gridImage(canvas, gr)
  const px = img.data
  const a = Math.round(opacity * 255)
  const span = range[1] - range[0] || 1
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    // NaN (outside) fails this test too.
    if (!(v >= thr)) continue
    const k = Math.max(0, Math.min(255, Math.round(((v - range[0]) / span) * 255))) * 3
    px[4 * i] = l[k]
    px[4 * i + 1] = l[k + 1]
    px[4 * i + 2] = l[k + 2]
    px[4 * i + 3] = a
  }
  ctx.putImageData(img, 0, 0)
}

function paintLabel(canvas: HTMLCanvasElement, values: Float32Array, gr: Grid, thr: number): void {
  const { ctx, img } = gridImage(canvas, gr)
  for (let i = 0; i < values.length; i++) {
    if (!(values[i] >= thr)) continue
    img.data.set([0, 220, 255, 90], 4 * i)
  }
  ctx.putImageData(img, 0, 0)
}

/**
 * Iso-line `thr` through the grid of cell-centre values, as segments [x0, y0, x1, y1, …] in cell
 * units; outside the grid (and NaN) counts as below, so contours close at the edges.
 */
export function marchingSquares(v: Float32Array, nx: number, ny: number, thr: number): number[] {
  const at = (x: number, y: number) => (x < 0 || y < 0 || x >= nx || y >= ny ? NaN : v[y * nx + x])
  const above = (x: number) => x >= thr
  const out: number[] = []
  const t = (a: number, b: number) => {
    // Where between two nodes the value crosses thr; a NaN side puts it half-way.
    if (Number.isNaN(a) || Number.isNaN(b) || a === b) return 0.5
    return Math.min(1, Math.max(0, (thr - a) / (b - a)))
  }
  for (let y = -1; y < ny; y++) {
    for (let x = -1; x < nx; x++) {
      const tl = at(x, y), tr = at(x + 1, y), br = at(x + 1, y + 1), bl = at(x, y + 1)
      const c = (above(tl) ? 8 : 0) | (above(tr) ? 4 : 0) | (above(br) ? 2 : 0) | (above(bl) ? 1 : 0)
      if (c === 0 || c === 15) continue
      const T = [x + t(tl, tr), y]
      const R = [x + 1, y + t(tr, br)]
      const B = [x + t(bl, br), y + 1]
      const L = [x, y + t(tl, bl)]
      const seg = (p: number[], q: number[]) => out.push(p[0], p[1], q[0], q[1])
      switch (c) {
        case 1: case 14: seg(L, B); break
        case 2: case 13: seg(B, R); break
        case 3: case 12: seg(L, R); break
        case 4: case 11: seg(T, R); break
        case 6: case 9: seg(T, B); break
        case 7: case 8: seg(L, T); break
        case 5: seg(L, T); seg(B, R); break
        case 10: seg(T, R); seg(L, B); break
      }
    }
  }
  return out
}
