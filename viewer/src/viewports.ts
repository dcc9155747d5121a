import { cache, Enums, getRenderingEngine, init as csInit, RenderingEngine, utilities, volumeLoader, type Types } from '@cornerstonejs/core'
import * as cst from '@cornerstonejs/tools'
import vtkPiecewiseFunction from '@kitware/vtk.js/Common/DataModel/PiecewiseFunction'
import type { RawVolume } from './api.js'
import { COLORMAPS, drawColorbar } from './colormaps.js'
import { cornerstoneDirection, indexToWorld, orientationLabel, valueAt, worldToIndex, type Vec3 } from './geometry.js'
import { HeatLayer } from './heat-layer.js'
import { renderScale, setRenderScale } from './render-scale.js'

export type Plane = 'axial' | 'coronal' | 'sagittal'
export type VpName = 'original' | 'enhanced' | 'overlay'
export type MaskMode = 'none' | 'outline' | 'label'

/** Window presets (width / level) as radiologists name them; 'auto': see autoWindow. */
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
/**
 * Resolution of the WebGL pass while scrolling / dragging when full-resolution frames are slow:
 * at most half, lower while a voxel still covers 2 drawn pixels, never below a quarter.
 */
const INTERACTIVE_SCALE = { max: 0.5, min: 0.25, pixelsPerVoxel: 2 }
/** A full-resolution frame slower than this (ms) switches interaction to INTERACTIVE_SCALE. */
const SLOW_FRAME_MS = 30
/** Full resolution returns this long (ms) after the last interaction. */
const REFINE_AFTER_MS = 250
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

/**
 * MRI auto window: black at the 1st percentile (background), white at the 99.8th percentile of the
 * foreground (above 10 % of the way to the 99th): a plain 99.5th percentile over the whole field of
 * view is dominated by background and clips bright, bias-field-lifted white matter.
 */
function autoWindow(v: RawVolume): [number, number] {
  const step = Math.max(1, Math.floor(v.data.length / 200_000))
  const s = new Float32Array(Math.ceil(v.data.length / step))
  for (let i = 0, j = 0; i < v.data.length; i += step) s[j++] = v.data[i]
  // Typed-array sort is numeric and native: several times faster than sorting a number[] with a comparator.
  s.sort()
  const q = (a: ArrayLike<number>, f: number) => a[Math.floor(f * (a.length - 1))]
  const lo = q(s, 0.01)
  const cut = lo + 0.1 * (q(s, 0.99) - lo)
  const fg = s.filter((x) => x > cut)
  return [lo, fg.length ? q(fg, 0.998) : q(s, 0.995)]
}

/** Voxel-index centroid of the foreground (as autoWindow defines it). */
function foregroundCentroid(v: RawVolume): number[] {
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
  private heat = new HeatLayer()
  private voiSyncing = false
  private idleTimer?: number
  private frameStart?: number
  /** Duration of the last full-resolution frame that followed an interaction. */
  private fullFrameMs = 0
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
      el.addEventListener(Enums.Events.VOI_MODIFIED, (e) => this.syncVoi(name, (e as CustomEvent<{ volumeId?: string; range: Types.VOIRange }>).detail))
      // Capture phase: before the tools act on the event and request a render.
      el.addEventListener('wheel', () => this.interact(), { capture: true, passive: true })
      el.addEventListener('mousemove', (e) => e.buttons && this.interact(), { capture: true })
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

  /** Marks all three viewports as awaiting a render; resolves once each has drawn. */
  private expectRender(): Promise<void> {
    this.pending = new Set(['original', 'enhanced', 'overlay'])
    return this.nextRender()
  }

  private pending = new Set<VpName>()
  private afterRender(name: VpName): void {
    this.drawOverlays(name)
    this.pending.delete(name)
    if (name === 'overlay') {
      if (this.frameStart !== undefined && document.body.dataset.quality !== 'interactive') this.fullFrameMs = performance.now() - this.frameStart
      this.frameStart = undefined
      this.renders++
      document.body.dataset.renders = String(this.renders)
    }
    if (this.pending.size === 0) {
      if (this.timing.requested !== undefined && this.timing.firstRender === undefined) {
        this.timing.firstRender = performance.now()
        performance.mark('raddiff:first-render')
        document.body.dataset.state = 'ready'
      }
      const w = this.renderWaiters.splice(0)
      for (const f of w) f()
    }
  }

  async show(jobId: string, vols: ViewerVolumes): Promise<void> {
    this.vols = vols
    this.timing.firstRender = undefined
    document.body.dataset.quality = 'full'
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
    performance.mark('raddiff:created')
    this.pending = new Set(['original', 'enhanced', 'overlay'])
    await this.vp('original').setVolumes([{ volumeId: this.ids.original! }])
    const mid = [{ volumeId: this.ids.enhanced ?? this.ids.original! }]
    if (this.ids.enhanced) mid.push({ volumeId: this.ids.original! })
    await this.vp('enhanced').setVolumes(mid)
    // Heat layers are drawn in 2D over the grey slice (heat-layer.ts): exact threshold, opacity and range,
    // which the thin-slab ray casting of a second volume blurs.
    await this.vp('overlay').setVolumes([{ volumeId: this.ids.original! }])
    for (const name of ['original', 'enhanced', 'overlay'] as VpName[]) {
      const label = this.els[name].parentElement!.querySelector('.vp-label')!
      label.textContent = vols.labels[name]
    }
    performance.mark('raddiff:volumes-set')
    this.setPlane(this.plane, false)
    this.applyPreset('auto', false)
    this.applyFade()
    this.applyOverlay()
    performance.mark('raddiff:styled')
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

  /**
   * A preset, or 'auto': autoWindow of the original for MRI (1st percentile to the foreground's
   * 99.8th), a soft-tissue window for CT.
   * Layers of one modality share a window (the enhanced image is judged against the original in
   * the same grey scale); a synthetic CT next to an MRI gets its own.
   */
  applyPreset(name: string, render = true): void {
    if (!this.vols) return
    const p = PRESETS[name]
    const auto = new Map<string, Types.VOIRange>()
    this.voiSyncing = true
    try {
      for (const l of this.greyLayers()) {
        let range = p ? { lower: p.center - p.width / 2, upper: p.center + p.width / 2 } : auto.get(l.vol.modality)
        if (!range) {
          if (l.vol.modality === 'CT') range = { lower: 40 - 200, upper: 40 + 200 }
          else {
            const [lo, hi] = autoWindow(l.vol)
            range = { lower: lo, upper: hi > lo ? hi : lo + 1 }
          }
          auto.set(l.vol.modality, range)
        }
        this.vp(l.vp).setProperties({ voiRange: range, invert: this.inverted }, l.id)
      }
    } finally {
      this.voiSyncing = false
    }
    if (render) this.engine.render()
  }

  /** W/L dragged in one viewport: the same window on every grey layer of that modality. */
  private syncVoi(src: VpName, d: { volumeId?: string; range: Types.VOIRange }): void {
    if (this.voiSyncing || !this.vols || !d?.range) return
    const layers = this.greyLayers()
    const from = layers.find((l) => l.vp === src && (!d.volumeId || l.id === d.volumeId))
    if (!from) return
    this.voiSyncing = true
    try {
      for (const l of layers) {
        if ((l.vp === src && l.id === from.id) || l.vol.modality !== from.vol.modality) continue
        this.vp(l.vp).setProperties({ voiRange: { ...d.range } }, l.id)
      }
    } finally {
      this.voiSyncing = false
    }
    this.engine.render()
  }

  toggleInvert(): boolean {
    this.inverted = !this.inverted
    this.voiSyncing = true
    try {
      for (const l of this.greyLayers()) this.vp(l.vp).setProperties({ invert: this.inverted }, l.id)
    } finally {
      this.voiSyncing = false
    }
    this.engine.render()
    return this.inverted
  }

  /**
   * Scrolling, dragging: when full-resolution frames are slow (software WebGL), draw at a lower
   * resolution until the interaction pauses, then once more at full resolution.
   */
  private interact(): void {
    if (!this.vols) return
    this.frameStart = performance.now()
    // once per gesture: the scale is chosen when interaction starts (a zoom drag would otherwise
    // pick a new one, and reallocate every canvas, on each mouse event)
    if (renderScale() === 1 && this.fullFrameMs > SLOW_FRAME_MS && setRenderScale(this.interactiveScale())) {
      document.body.dataset.quality = 'interactive'
      this.engine.resize(true, true)
    }
    clearTimeout(this.idleTimer)
    this.idleTimer = window.setTimeout(() => {
      this.idleTimer = undefined
      if (setRenderScale(1)) {
        document.body.dataset.quality = 'full'
        this.engine.resize(true, true)
      }
    }, REFINE_AFTER_MS)
  }

  private interactiveScale(): number {
    const mmPerPixel = Math.hypot(...canvasAffine(this.vp('original')).dx)
    const voxel = Math.min(...this.vols!.original.spacing)
    const { max, min, pixelsPerVoxel } = INTERACTIVE_SCALE
    return Math.min(max, Math.max(min, (pixelsPerVoxel * mmPerPixel) / voxel))
  }

  /** Resolves once interaction has paused and the full-resolution frame is drawn (tests, screenshots). */
  async settled(): Promise<void> {
    while (this.idleTimer !== undefined) await new Promise((r) => setTimeout(r, 50))
    const done = this.expectRender()
    this.engine.render()
    await done
    await new Promise((r) => requestAnimationFrame(() => r(null)))
  }

  /**
   * For screenshots: a plane and the slice through the heat layer's strongest region ('heatmap-peak':
   * the slice with the most heat above the threshold) or the centroid of the scan's foreground.
   */
  async focus(plane: Plane, where: 'heatmap-peak' | 'centre', shiftLps: number[] = [0, 0, 0], zoom = 1): Promise<number[]> {
    this.setPlane(plane)
    const v = this.vols!
    let target: Vec3
    if (where === 'centre' || !v.heatmap) target = indexToWorld(v.original, foregroundCentroid(v.original))
    else {
      const h = v.heatmap
      const n = this.vp('original').getCamera().viewPlaneNormal!
      // The voxel axis most parallel to the view normal: sum heat above threshold per slice along it.
      const cols = [0, 1, 2].map((j) => Math.abs(h.direction[j] * n[0] + h.direction[3 + j] * n[1] + h.direction[6 + j] * n[2]))
      const ax = cols.indexOf(Math.max(...cols))
      const thr = this.thresholdValue()
      const sums = new Float64Array(h.size[ax])
      const [nx, ny] = h.size
      for (let i = 0; i < h.data.length; i++) {
        const x = h.data[i]
        if (x >= thr) sums[ax === 0 ? i % nx : ax === 1 ? Math.floor(i / nx) % ny : Math.floor(i / (nx * ny))] += x
      }
      const best = sums.indexOf(Math.max(...sums))
      const ijk = h.size.map((s) => (s - 1) / 2)
      ijk[ax] = best
      target = indexToWorld(h, ijk)
    }
    target = target.map((x, i) => x + shiftLps[i]) as Vec3
    for (const name of Object.keys(this.els) as VpName[]) {
      const vp = this.vp(name)
      const cam = vp.getCamera()
      const n = cam.viewPlaneNormal!
      const fp = cam.focalPoint!
      const pos = cam.position!
      const dd = (target[0] - fp[0]) * n[0] + (target[1] - fp[1]) * n[1] + (target[2] - fp[2]) * n[2]
      vp.setCamera({ focalPoint: fp.map((x, i) => x + dd * n[i]) as Types.Point3, position: pos.map((x, i) => x + dd * n[i]) as Types.Point3 })
      if (zoom !== 1) vp.setZoom(zoom)
    }
    await this.settled()
    return worldToIndex(v.original, target).map(Math.round)
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
    // A layer that cannot be seen is not ray-cast at all: half the WebGL work when not fading.
    actor.actor.setVisibility(this.fade > 0)
    const enh = this.vp('enhanced').getActors().find((a) => a !== actor)
    enh?.actor.setVisibility(this.fade < 1)
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

  setOverlay(s: Partial<OverlayState>, render = true): void {
    this.overlay = { ...this.overlay, ...s }
    if (!render) return
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
    if (name === 'overlay' && (this.vols.heatmap || (this.vols.std && this.overlay.showStd))) {
      this.heat.draw(g, { p0: [...p0] as Vec3, dx, dy }, {
        heat: this.vols.heatmap,
        range: this.heatRange(),
        threshold: this.thresholdValue(),
        opacity: this.overlay.opacity,
        stops: COLORMAPS[this.overlay.colormap] ?? COLORMAPS.hot,
        mask: this.overlay.mask,
        std: this.overlay.showStd ? this.vols.std : undefined,
      })
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
      this.interact()
      const done = this.expectRender()
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
