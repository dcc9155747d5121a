import { cache, Enums, getRenderingEngine, init as csInit, RenderingEngine, utilities, volumeLoader, type Types } from '@cornerstonejs/core'
import * as cst from '@cornerstonejs/tools'
import vtkPiecewiseFunction from '@kitware/vtk.js/Common/DataModel/PiecewiseFunction'
import type { RawVolume } from './api.js'
import { COLORMAPS, colorAt, drawColorbar, type Stops } from './colormaps.js'
import { cornerstoneDirection, orientationLabel, sampleLinear, valueAt, worldToIndex, type Vec3 } from './geometry.js'

export type Plane = 'axial' | 'coronal' | 'sagittal'
export type VpName = 'original' | 'enhanced' | 'overlay'
export type MaskMode = 'none' | 'outline' | 'label'

/** Window presets (width / level) as radiologists name them; 'auto' = 1st–99.5th percentile (MRI). */
export const PRESETS: Record<string, { width: number; center: number } | null> = {
  auto: null,
  brain: { width: 80, center: 40 },
  subdural: { width: 200, center: 80 },
  bone: { width: 2000, center: 600 },
  lung: { width: 1500, center: -600 },
  soft: { width: 400, center: 40 },
}

export interface ViewerVolumes {
  original: RawVolume
  enhanced?: RawVolume
  heatmap?: RawVolume
  std?: RawVolume
  /** What the third viewport's overlay is: a model heatmap, or |enhanced − original| when there is none. */
  heatmapKind: 'heatmap' | 'difference'
  labels: Record<VpName, string>
}

export interface OverlayState {
  colormap: string
  opacity: number
  /** Fraction of the fixed range [0, 1]. */
  threshold: number
  mask: MaskMode
  showStd: boolean
}

const ENGINE = 'raddiff'
const TOOLGROUP = 'raddiff-tools'
const ORIENT: Record<Plane, Enums.OrientationAxis> = {
  axial: Enums.OrientationAxis.AXIAL,
  coronal: Enums.OrientationAxis.CORONAL,
  sagittal: Enums.OrientationAxis.SAGITTAL,
}

let initialised = false
async function initCornerstone(): Promise<void> {
  if (initialised) return
  // Tiled: one WebGL context for all viewports; the context pool left viewports blank under SwiftShader.
  await csInit({ rendering: { renderingEngineMode: Enums.RenderingEngineModeEnum.Tiled } } as Parameters<typeof csInit>[0])
  cst.init()
  for (const T of [cst.WindowLevelTool, cst.PanTool, cst.ZoomTool, cst.StackScrollTool]) cst.addTool(T)
  initialised = true
}

function percentiles(v: RawVolume, lo: number, hi: number): [number, number] {
  const step = Math.max(1, Math.floor(v.data.length / 200_000))
  const s: number[] = []
  for (let i = 0; i < v.data.length; i += step) s.push(v.data[i])
  s.sort((a, b) => a - b)
  return [s[Math.floor(lo * (s.length - 1))], s[Math.floor(hi * (s.length - 1))]]
}

/** The displayed plane as an affine map canvas (x, y) → world, from three canvasToWorld calls. */
function canvasAffine(vp: Types.IVolumeViewport): { p0: Types.Point3; dx: Vec3; dy: Vec3 } {
  const p0 = vp.canvasToWorld([0, 0])
  const px = vp.canvasToWorld([1, 0])
  const py = vp.canvasToWorld([0, 1])
  return { p0, dx: [px[0] - p0[0], px[1] - p0[1], px[2] - p0[2]], dy: [py[0] - p0[0], py[1] - p0[1], py[2] - p0[2]] }
}

export class ResultViewer {
  readonly engine: RenderingEngine
  private vols?: ViewerVolumes
  private ids: Partial<Record<'original' | 'enhanced', string>> = {}
  private plane: Plane = 'axial'
  private inverted = false
  private fade = 0
  private overlay: OverlayState = { colormap: 'hot', opacity: 0.6, threshold: 0.3, mask: 'outline', showStd: false }
  private cursor?: Types.Point3
  private syncs: cst.Synchronizer[] = []
  private renderWaiters: (() => void)[] = []
  renders = 0
  /** Times for the bench: volumes requested → all three viewports drawn. */
  timing: { requested?: number; firstRender?: number } = {}
  onProbe?: (text: string) => void

  private constructor(private readonly els: Record<VpName, HTMLDivElement>) {
    this.engine = getRenderingEngine(ENGINE) ?? new RenderingEngine(ENGINE)
  }

  static async create(els: Record<VpName, HTMLDivElement>): Promise<ResultViewer> {
    await initCornerstone()
    const v = new ResultViewer(els)
    v.enable()
    return v
  }

  private vp(name: VpName): Types.IVolumeViewport {
    return this.engine.getViewport(name) as Types.IVolumeViewport
  }

  private enable(): void {
    for (const [name, el] of Object.entries(this.els) as [VpName, HTMLDivElement][]) {
      el.oncontextmenu = (e) => e.preventDefault()
      this.engine.enableElement({ viewportId: name, type: Enums.ViewportType.ORTHOGRAPHIC, element: el, defaultOptions: { orientation: ORIENT[this.plane], background: [0, 0, 0] } })
      const cross = document.createElement('canvas')
      cross.className = 'vp-cross'
      el.parentElement!.appendChild(cross)
      for (const pos of ['top', 'bottom', 'left', 'right']) {
        const s = document.createElement('span')
        s.className = `vp-orient ${pos}`
        el.parentElement!.appendChild(s)
      }
      for (const cls of ['vp-label', 'vp-info', 'vp-notice']) {
        const s = document.createElement('span')
        s.className = cls
        if (cls === 'vp-notice') s.textContent = 'NOT FOR CLINICAL USE'
        el.parentElement!.appendChild(s)
      }
      el.addEventListener(Enums.Events.IMAGE_RENDERED, () => this.afterRender(name))
      el.addEventListener('mousemove', (e) => {
        const r = el.getBoundingClientRect()
        this.cursor = this.vp(name).canvasToWorld([e.clientX - r.left, e.clientY - r.top])
        this.drawAll()
      })
      el.addEventListener('mouseleave', () => {
        this.cursor = undefined
        this.drawAll()
      })
    }
    const tg = cst.ToolGroupManager.getToolGroup(TOOLGROUP) ?? cst.ToolGroupManager.createToolGroup(TOOLGROUP)!
    const { MouseBindings } = cst.Enums
    for (const T of [cst.WindowLevelTool, cst.PanTool, cst.ZoomTool, cst.StackScrollTool]) tg.addTool(T.toolName)
    tg.setToolActive(cst.WindowLevelTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] })
    tg.setToolActive(cst.PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] })
    tg.setToolActive(cst.ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] })
    tg.setToolActive(cst.StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] })
    for (const name of Object.keys(this.els)) tg.addViewport(name, ENGINE)
    // One camera for all three: slice, zoom and pan move together.
    const cam = cst.synchronizers.createCameraPositionSynchronizer('raddiff-camera')
    for (const name of Object.keys(this.els)) cam.add({ renderingEngineId: ENGINE, viewportId: name })
    this.syncs.push(cam)
    new ResizeObserver(() => {
      this.engine.resize(true, true)
      this.drawAll()
    }).observe(this.els.original.parentElement!.parentElement!)
  }

  /** Resolves after the next render of every viewport. */
  nextRender(): Promise<void> {
    return new Promise((r) => this.renderWaiters.push(r))
  }

  private pending = new Set<VpName>()
  private afterRender(name: VpName): void {
    this.drawOverlays(name)
    this.pending.delete(name)
    if (name === 'overlay') {
      this.renders++
      document.body.dataset.renders = String(this.renders)
    }
    if (this.pending.size === 0) {
      if (this.timing.requested !== undefined && this.timing.firstRender === undefined) {
        this.timing.firstRender = performance.now()
        document.body.dataset.state = 'ready'
      }
      const w = this.renderWaiters.splice(0)
      for (const f of w) f()
    }
  }

  async show(jobId: string, vols: ViewerVolumes): Promise<void> {
    this.vols = vols
    this.timing.firstRender = undefined
    document.body.dataset.state = 'loading'
    cache.purgeCache()
    this.ids = {}
    const make = (role: keyof typeof this.ids, v: RawVolume | undefined) => {
      if (!v) return
      // No "scheme:" in the id: Cornerstone would look for an image loader to guess a default VOI.
      const id = `raddiff-${jobId}-${role}`
      volumeLoader.createLocalVolume(id, {
        scalarData: v.data,
        dimensions: v.size,
        spacing: v.spacing,
        origin: v.origin,
        direction: cornerstoneDirection(v.direction) as Types.Mat3,
        metadata: {
          BitsAllocated: 32,
          BitsStored: 32,
          SamplesPerPixel: 1,
          HighBit: 31,
          PhotometricInterpretation: 'MONOCHROME2',
          PixelRepresentation: 1,
          Modality: v.modality,
          ImageOrientationPatient: cornerstoneDirection(v.direction).slice(0, 6),
          PixelSpacing: [v.spacing[1], v.spacing[0]],
          FrameOfReferenceUID: `raddiff-${jobId}`,
          Columns: v.size[0],
          Rows: v.size[1],
          voiLut: [],
          VOILUTFunction: 'LINEAR',
        } as unknown as Types.Metadata,
      })
      this.ids[role] = id
    }
    make('original', vols.original)
    make('enhanced', vols.enhanced)
    this.pending = new Set(['original', 'enhanced', 'overlay'])
    await this.vp('original').setVolumes([{ volumeId: this.ids.original! }])
    const mid = [{ volumeId: this.ids.enhanced ?? this.ids.original! }]
    if (this.ids.enhanced) mid.push({ volumeId: this.ids.original! })
    await this.vp('enhanced').setVolumes(mid)
    // Heat layers are drawn in 2D over the grey slice (drawHeat): exact threshold, opacity and range,
    // which the thin-slab ray casting of a second volume blurs.
    await this.vp('overlay').setVolumes([{ volumeId: this.ids.original! }])
    for (const name of ['original', 'enhanced', 'overlay'] as VpName[]) {
      const label = this.els[name].parentElement!.querySelector('.vp-label')!
      label.textContent = vols.labels[name]
    }
    this.setPlane(this.plane, false)
    this.applyPreset('auto', false)
    this.applyFade()
    this.applyOverlay()
    this.engine.render()
  }

  setPlane(plane: Plane, render = true): void {
    this.plane = plane
    for (const name of Object.keys(this.els) as VpName[]) {
      const vp = this.vp(name)
      vp.setOrientation(ORIENT[plane])
      vp.resetCamera()
    }
    if (render) this.engine.render()
  }

  resetCamera(): void {
    for (const name of Object.keys(this.els) as VpName[]) this.vp(name).resetCamera()
    this.engine.render()
  }

  /** The grey-scale layers: the original everywhere, the enhanced volume in the middle. */
  private greyLayers(): { vp: VpName; id: string; vol: RawVolume }[] {
    const v = this.vols!
    const out = [
      { vp: 'original' as VpName, id: this.ids.original!, vol: v.original },
      { vp: 'overlay' as VpName, id: this.ids.original!, vol: v.original },
      { vp: 'enhanced' as VpName, id: this.ids.original!, vol: v.original },
    ]
    if (this.ids.enhanced && v.enhanced) out.push({ vp: 'enhanced', id: this.ids.enhanced, vol: v.enhanced })
    return out
  }

  applyPreset(name: string, render = true): void {
    if (!this.vols) return
    const p = PRESETS[name]
    for (const l of this.greyLayers()) {
      let range: Types.VOIRange
      if (p) range = { lower: p.center - p.width / 2, upper: p.center + p.width / 2 }
      else if (l.vol.modality === 'CT') range = { lower: 40 - 200, upper: 40 + 200 }
      else {
        const [lo, hi] = percentiles(l.vol, 0.01, 0.995)
        range = { lower: lo, upper: hi > lo ? hi : lo + 1 }
      }
      this.vp(l.vp).setProperties({ voiRange: range, invert: this.inverted }, l.id)
    }
    if (render) this.engine.render()
  }

  toggleInvert(): boolean {
    this.inverted = !this.inverted
    for (const l of this.greyLayers()) this.vp(l.vp).setProperties({ invert: this.inverted }, l.id)
    this.engine.render()
    return this.inverted
  }

  /** 0 = enhanced only, 1 = original only, in the middle viewport. */
  setFade(alpha: number): void {
    this.fade = alpha
    this.applyFade()
    this.engine.render()
  }

  private applyFade(): void {
    if (!this.ids.enhanced) return
    const actor = this.vp('enhanced').getActors().find((a) => a.referencedId === this.ids.original || a.uid === this.ids.original)
    if (!actor) return
    const ofun = vtkPiecewiseFunction.newInstance()
    const [lo, hi] = this.vols!.original.range
    ofun.addPoint(lo - 1, this.fade)
    ofun.addPoint(hi + 1, this.fade)
    ;(actor.actor as any).getProperty().setScalarOpacity(0, ofun)
    const label = this.els.enhanced.parentElement!.querySelector('.vp-label')!
    label.textContent = this.fade >= 0.5 ? `${this.vols!.labels.original} (fade ${Math.round(this.fade * 100)}%)` : this.fade > 0 ? `${this.vols!.labels.enhanced} (fade ${Math.round(this.fade * 100)}%)` : this.vols!.labels.enhanced
  }

  /** Fixed overlay range: 0 (or the minimum if negative) to the volume's maximum, never per slice. */
  heatRange(): [number, number] {
    const r = this.vols?.heatmap?.range ?? [0, 1]
    const lo = Math.min(0, r[0])
    return [lo, r[1] > lo ? r[1] : lo + 1]
  }

  thresholdValue(): number {
    const [lo, hi] = this.heatRange()
    return lo + this.overlay.threshold * (hi - lo)
  }

  setOverlay(s: Partial<OverlayState>): void {
    this.overlay = { ...this.overlay, ...s }
    this.applyOverlay()
    this.engine.render()
  }

  private applyOverlay(): void {
    const stops = COLORMAPS[this.overlay.colormap] ?? COLORMAPS.hot
    const bar = document.getElementById('colorbar') as HTMLCanvasElement | null
    if (bar) {
      bar.hidden = !this.vols?.heatmap
      drawColorbar(bar, stops, this.overlay.threshold)
      this.colorbarLabels(bar)
    }
    this.drawOverlays('overlay')
  }

  private colorbarLabels(bar: HTMLCanvasElement): void {
    let box = bar.parentElement!.querySelector('.colorbar-labels') as HTMLDivElement | null
    if (!box) {
      box = document.createElement('div')
      box.className = 'colorbar-labels'
      bar.parentElement!.appendChild(box)
    }
    box.hidden = !this.vols?.heatmap
    const [lo, hi] = this.heatRange()
    const units = this.vols?.heatmap?.units ?? (this.vols?.heatmapKind === 'difference' ? this.vols.original.units ?? 'a.u.' : 'a.u.')
    box.innerHTML = ''
    for (const t of [hi, (lo + hi) / 2, lo]) {
      const s = document.createElement('span')
      s.textContent = fmt(t)
      box.appendChild(s)
    }
    const u = document.createElement('span')
    u.textContent = units
    u.className = 'units'
    box.appendChild(u)
  }

  private drawAll(): void {
    for (const n of Object.keys(this.els) as VpName[]) this.drawOverlays(n)
    this.probe()
  }

  /** Orientation letters, slice info, the linked cursor and (third viewport) the thresholded mask. */
  private drawOverlays(name: VpName): void {
    const el = this.els[name]
    const box = el.parentElement!
    const canvas = box.querySelector('canvas.vp-cross') as HTMLCanvasElement
    const w = el.clientWidth
    const h = el.clientHeight
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w
      canvas.height = h
    }
    const g = canvas.getContext('2d')!
    g.clearRect(0, 0, w, h)
    if (!this.vols || w === 0 || h === 0) return
    const vp = this.vp(name)
    const { p0, dx, dy } = canvasAffine(vp)
    const right = dx
    const up: Vec3 = [-dy[0], -dy[1], -dy[2]]
    const set = (pos: string, text: string) => ((box.querySelector(`.vp-orient.${pos}`) as HTMLElement).textContent = text)
    set('right', orientationLabel(right))
    set('left', orientationLabel(right.map((x) => -x)))
    set('top', orientationLabel(up))
    set('bottom', orientationLabel(up.map((x) => -x)))
    const centre = vp.canvasToWorld([w / 2, h / 2])
    const ijk = worldToIndex(this.vols.original, centre)
    const info = box.querySelector('.vp-info') as HTMLElement
    const voi = vp.getProperties()?.voiRange
    info.textContent = `${this.plane} · ijk ${ijk.map((x) => Math.round(x)).join(',')}${voi ? ` · W ${fmt(voi.upper - voi.lower)} L ${fmt((voi.upper + voi.lower) / 2)}` : ''}`
    if (name === 'overlay') {
      if (this.vols.heatmap) this.drawHeat(g, w, h, p0, dx, dy, this.vols.heatmap, this.heatRange(), this.thresholdValue(), this.overlay.opacity, COLORMAPS[this.overlay.colormap] ?? COLORMAPS.hot)
      if (this.vols.std && this.overlay.showStd) this.drawHeat(g, w, h, p0, dx, dy, this.vols.std, [0, this.vols.std.range[1] || 1], 0, 0.5, COLORMAPS.viridis)
      if (this.vols.heatmap && this.overlay.mask !== 'none') this.drawMask(g, w, h, p0, dx, dy)
    }
    if (this.cursor) {
      const [cx, cy] = vp.worldToCanvas(this.cursor)
      g.strokeStyle = 'rgba(80, 255, 120, 0.9)'
      g.lineWidth = 1
      g.beginPath()
      for (const [a, b] of [[[0, cy], [cx - 6, cy]], [[cx + 6, cy], [w, cy]], [[cx, 0], [cx, cy - 6]], [[cx, cy + 6], [cx, h]]]) {
        g.moveTo(a[0], a[1])
        g.lineTo(b[0], b[1])
      }
      g.stroke()
    }
  }

  /**
   * A heat layer on the displayed plane: trilinear samples mapped through the colour map over a
   * fixed range; transparent below the threshold.
   */
  private drawHeat(g: CanvasRenderingContext2D, w: number, h: number, p0: Types.Point3, dx: Vec3, dy: Vec3, vol: RawVolume, range: [number, number], thr: number, opacity: number, stops: Stops): void {
    const lut = new Uint8ClampedArray(256 * 3)
    for (let i = 0; i < 256; i++) lut.set(colorAt(stops, i / 255).map((c) => c * 255), i * 3)
    const img = g.createImageData(w, h)
    const px = img.data
    const a = Math.round(opacity * 255)
    const span = range[1] - range[0] || 1
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = sampleLinear(vol, [p0[0] + x * dx[0] + y * dy[0], p0[1] + x * dx[1] + y * dy[1], p0[2] + x * dx[2] + y * dy[2]])
        if (v === undefined || v < thr) continue
        const k = Math.max(0, Math.min(255, Math.round(((v - range[0]) / span) * 255))) * 3
        const o = (y * w + x) * 4
        px[o] = lut[k]
        px[o + 1] = lut[k + 1]
        px[o + 2] = lut[k + 2]
        px[o + 3] = a
      }
    }
    const tmp = document.createElement('canvas')
    tmp.width = w
    tmp.height = h
    tmp.getContext('2d')!.putImageData(img, 0, 0)
    g.drawImage(tmp, 0, 0)
  }

  /** The mask (heatmap ≥ threshold) sampled on the displayed plane: its outline, or a filled label. */
  private drawMask(g: CanvasRenderingContext2D, w: number, h: number, p0: Types.Point3, dx: Vec3, dy: Vec3): void {
    const heat = this.vols!.heatmap!
    const thr = this.thresholdValue()
    const step = 2
    const nx = Math.ceil(w / step)
    const ny = Math.ceil(h / step)
    const m = new Uint8Array(nx * ny)
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const px = x * step + step / 2
        const py = y * step + step / 2
        const v = valueAt(heat, [p0[0] + px * dx[0] + py * dy[0], p0[1] + px * dx[1] + py * dy[1], p0[2] + px * dx[2] + py * dy[2]])
        m[y * nx + x] = v !== undefined && v >= thr ? 1 : 0
      }
    }
    if (this.overlay.mask === 'label') {
      g.fillStyle = 'rgba(0, 220, 255, 0.35)'
      for (let i = 0; i < m.length; i++) if (m[i]) g.fillRect((i % nx) * step, Math.floor(i / nx) * step, step, step)
      return
    }
    // Cyan: distinct from every overlay colour map's high end.
    g.fillStyle = 'rgb(0, 230, 255)'
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        if (!m[y * nx + x]) continue
        const edge = x === 0 || y === 0 || x === nx - 1 || y === ny - 1 || !m[y * nx + x - 1] || !m[y * nx + x + 1] || !m[(y - 1) * nx + x] || !m[(y + 1) * nx + x]
        if (edge) g.fillRect(x * step, y * step, step, step)
      }
    }
  }

  private probe(): void {
    if (!this.onProbe) return
    if (!this.cursor || !this.vols) return this.onProbe('move the cursor over a viewport to probe values')
    const p = this.cursor
    const v = this.vols
    const parts = [`LPS ${[...p].map((x) => x.toFixed(1)).join(', ')} mm`]
    const ijk = worldToIndex(v.original, p).map(Math.round)
    parts.push(`ijk ${ijk.join(',')}`)
    const add = (label: string, vol: RawVolume | undefined, units?: string) => {
      if (!vol) return
      const x = valueAt(vol, p)
      parts.push(`${label} ${x === undefined ? '—' : fmt(x)}${units && x !== undefined ? ` ${units}` : ''}`)
    }
    add('original', v.original, v.original.units)
    add(v.labels.enhanced.split(' ')[0].toLowerCase(), v.enhanced, v.enhanced?.units)
    add(v.heatmapKind, v.heatmap, v.heatmap?.units)
    add('uncertainty', v.std, v.std?.units)
    this.onProbe(parts.join('  ·  '))
  }

  /** Bench hook: scroll n slices one at a time, each awaited to its render; frames per second. */
  async scrollBench(n: number): Promise<number> {
    const vp = this.vp('original')
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      const done = this.nextRender()
      this.pending = new Set(['original', 'enhanced', 'overlay'])
      csScroll(vp, i < n / 2 ? 1 : -1)
      await done
    }
    return (n * 1000) / (performance.now() - t0)
  }
}

function csScroll(vp: Types.IVolumeViewport, delta: number): void {
  // The volume viewport is a scroll target; the declared parameter type lags behind.
  utilities.scroll(vp as unknown as Parameters<typeof utilities.scroll>[0], { delta })
}

export function fmt(x: number): string {
  const a = Math.abs(x)
  if (a !== 0 && (a < 0.01 || a >= 1e5)) return x.toExponential(2)
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(3)
}
