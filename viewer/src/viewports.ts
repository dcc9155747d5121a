import { cache, getRenderingEngine, RenderingEngine, utilities, volumeLoader, Enums, type Types } from '@cornerstonejs/core'
import type * as cst from '@cornerstonejs/tools'
import type { RawVolume } from './api.js'
import { AdaptiveQuality } from './adaptive-quality.js'
import { showColorbar } from './colorbar.js'
import { COLORMAPS } from './colormaps.js'
import { bindTools, ENGINE, initCornerstone, linkCameras, ORIENT, type Plane } from './cornerstone-setup.js'
import { applyFade, fadeLabel } from './fade.js'
import { cornerstoneDirection, indexToWorld, worldToIndex, type Vec3 } from './geometry.js'
import { HeatLayer } from './heat-layer.js'
import { probeText } from './probe.js'
import { foregroundCentroid, heatPeak } from './slice-target.js'
import { annotationCanvas, canvasAffine, drawCaptions, drawCursor } from './viewport-annotations.js'
import { ModalityVoiSync, presetRanges, type GreyLayer } from './window-level.js'

export type { Plane } from './cornerstone-setup.js'
export type VpName = 'original' | 'enhanced' | 'overlay'
export type MaskMode = 'none' | 'outline' | 'label'

const NAMES: VpName[] = ['original', 'enhanced', 'overlay']

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

/**
 * Three linked viewports: original | enhanced (fading to the original) | original + heat layer.
 * This class lays them out and keeps their state; each concern lives in its own module:
 * tools and the camera link (cornerstone-setup.ts), window / level and its per-modality
 * synchronizer (window-level.ts), resolution while interacting (adaptive-quality.ts), fade
 * (fade.ts), captions and cursor (viewport-annotations.ts), the heat layer (heat-layer.ts) and
 * its colour bar (colorbar.ts), the value probe (probe.ts), where to look (slice-target.ts).
 */
export class ResultViewer {
  readonly engine: RenderingEngine
  private vols?: ViewerVolumes
  private jobId?: string
  private ids: Partial<Record<'original' | 'enhanced', string>> = {}
  private plane: Plane = 'axial'
  private inverted = false
  private fade = 0
  private overlay: OverlayState = { colormap: 'hot', opacity: 0.6, threshold: 0.3, mask: 'outline', showStd: false }
  private cursor?: Types.Point3
  private syncs: cst.Synchronizer[] = []
  private voi!: ModalityVoiSync
  private heat = new HeatLayer()
  private readonly quality: AdaptiveQuality
  private renderWaiters: (() => void)[] = []
  private pending = new Set<VpName>()
  renders = 0
  /** Times for the bench: volumes requested → all three viewports drawn. */
  timing: { requested?: number; firstRender?: number } = {}
  onProbe?: (text: string) => void

  private constructor(private readonly els: Record<VpName, HTMLDivElement>) {
    this.engine = getRenderingEngine(ENGINE) ?? new RenderingEngine(ENGINE)
    this.quality = new AdaptiveQuality(
      () => this.engine.resize(true, true),
      () => Math.hypot(...canvasAffine(this.vp('original')).dx),
      () => Math.min(...this.vols!.original.spacing),
    )
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

  /** Layout: one Cornerstone viewport per element, the annotation canvas and captions over each. */
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
    bindTools(NAMES)
    this.syncs.push(linkCameras(NAMES))
    this.voi = new ModalityVoiSync(NAMES, () => this.greyLayers())
    new ResizeObserver(() => {
      this.engine.resize(true, true)
      this.drawAll()
    }).observe(this.els.original.parentElement!.parentElement!)
  }

  private interact(): void {
    if (this.vols) this.quality.interact()
  }

  /** Resolves after the next render of every viewport. */
  nextRender(): Promise<void> {
    return new Promise((r) => this.renderWaiters.push(r))
  }

  /** Marks all three viewports as awaiting a render; resolves once each has drawn. */
  private expectRender(): Promise<void> {
    this.pending = new Set(NAMES)
    return this.nextRender()
  }

  private afterRender(name: VpName): void {
    this.drawOverlays(name)
    this.pending.delete(name)
    if (name === 'overlay') {
      this.quality.framed()
      this.renders++
      document.body.dataset.renders = String(this.renders)
    }
    if (this.pending.size === 0) {
      if (this.timing.requested !== undefined && this.timing.firstRender === undefined) {
        this.timing.firstRender = performance.now()
        performance.mark('raddiff:first-render')
        document.body.dataset.state = 'ready'
        // Which job the drawn views belong to: tests wait for this event, not for time.
        if (this.jobId) document.body.dataset.shown = this.jobId
      }
      const w = this.renderWaiters.splice(0)
      for (const f of w) f()
    }
  }

  async show(jobId: string, vols: ViewerVolumes): Promise<void> {
    this.vols = vols
    this.jobId = jobId
    this.timing.firstRender = undefined
    this.quality.reset()
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

  /** The world point (LPS, mm) at the centre of the view: its slice is the one in view. */
  viewCentre(): Vec3 | undefined {
    return this.vols ? ([...this.vp('original').getCamera().focalPoint!] as Vec3) : undefined
  }

  get viewPlane(): Plane {
    return this.plane
  }

  setPlane(plane: Plane, render = true): void {
    this.plane = plane
    for (const name of NAMES) {
      const vp = this.vp(name)
      vp.setOrientation(ORIENT[plane])
      vp.resetCamera()
    }
    if (render) this.engine.render()
  }

  resetCamera(): void {
    for (const name of NAMES) this.vp(name).resetCamera()
    this.engine.render()
  }

  /** Moves every camera along its view normal so that its plane passes through `target`. */
  private moveAlongNormal(target: Vec3, zoom = 1): void {
    for (const name of NAMES) {
      const vp = this.vp(name)
      const cam = vp.getCamera()
      const n = cam.viewPlaneNormal!
      const fp = cam.focalPoint!
      const pos = cam.position!
      const dd = (target[0] - fp[0]) * n[0] + (target[1] - fp[1]) * n[1] + (target[2] - fp[2]) * n[2]
      vp.setCamera({ focalPoint: fp.map((x, i) => x + dd * n[i]) as Types.Point3, position: pos.map((x, i) => x + dd * n[i]) as Types.Point3 })
      if (zoom !== 1) vp.setZoom(zoom)
    }
  }

  /** The grey-scale layers: the original everywhere, the enhanced volume in the middle. */
  private greyLayers(): GreyLayer[] {
    const v = this.vols
    if (!v || !this.ids.original) return []
    const out: GreyLayer[] = [
      { vp: 'original', id: this.ids.original, vol: v.original },
      { vp: 'overlay', id: this.ids.original, vol: v.original },
      { vp: 'enhanced', id: this.ids.original, vol: v.original },
    ]
    if (this.ids.enhanced && v.enhanced) out.push({ vp: 'enhanced', id: this.ids.enhanced, vol: v.enhanced })
    return out
  }

  /** A window preset or 'auto' on every grey layer (window-level.ts). */
  applyPreset(name: string, render = true): void {
    if (!this.vols) return
    const layers = this.greyLayers()
    const ranges = presetRanges(name, layers)
    this.voi.quietly(() => layers.forEach((l, i) => this.vp(l.vp as VpName).setProperties({ voiRange: ranges[i], invert: this.inverted }, l.id)))
    if (render) this.engine.render()
  }

  toggleInvert(): boolean {
    this.inverted = !this.inverted
    this.voi.quietly(() => {
      for (const l of this.greyLayers()) this.vp(l.vp as VpName).setProperties({ invert: this.inverted }, l.id)
    })
    this.engine.render()
    return this.inverted
  }

  /** Resolves once interaction has paused and the full-resolution frame is drawn (tests, screenshots). */
  async settled(): Promise<void> {
    await this.quality.idle()
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
    const n = this.vp('original').getCamera().viewPlaneNormal!
    let target: Vec3 = where === 'centre' || !v.heatmap ? indexToWorld(v.original, foregroundCentroid(v.original)) : heatPeak(v.heatmap, n, this.thresholdValue())
    target = target.map((x, i) => x + shiftLps[i]) as Vec3
    this.moveAlongNormal(target, zoom)
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
    if (!this.ids.enhanced || !this.ids.original || !this.vols) return
    if (!applyFade(this.vp('enhanced'), this.ids.original, this.vols.original.range, this.fade)) return
    this.els.enhanced.parentElement!.querySelector('.vp-label')!.textContent = fadeLabel(this.vols.labels, this.fade)
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
    const bar = document.getElementById('colorbar') as HTMLCanvasElement | null
    if (bar) {
      const v = this.vols
      const units = v?.heatmap?.units ?? (v?.heatmapKind === 'difference' ? v.original.units ?? 'a.u.' : 'a.u.')
      showColorbar(bar, { visible: !!v?.heatmap, stops: COLORMAPS[this.overlay.colormap] ?? COLORMAPS.hot, threshold: this.overlay.threshold, range: this.heatRange(), units })
    }
    this.drawOverlays('overlay')
  }

  private drawAll(): void {
    for (const n of NAMES) this.drawOverlays(n)
    this.probe()
  }

  /** Orientation letters, slice info, the linked cursor and (third viewport) the heat layer. */
  private drawOverlays(name: VpName): void {
    const el = this.els[name]
    const { g, w, h } = annotationCanvas(el)
    if (!this.vols || w === 0 || h === 0) return
    const vp = this.vp(name)
    drawCaptions(el, vp, this.vols.original, this.plane)
    if (name === 'overlay' && (this.vols.heatmap || (this.vols.std && this.overlay.showStd))) {
      const { p0, dx, dy } = canvasAffine(vp)
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
    if (this.cursor) drawCursor(g, vp, this.cursor, w, h)
  }

  private probe(): void {
    if (!this.onProbe) return
    if (!this.cursor || !this.vols) return this.onProbe('move the cursor over a viewport to probe values')
    this.onProbe(probeText(this.cursor, { ...this.vols, enhancedLabel: this.vols.labels.enhanced }))
  }

  /** Bench hook (bench/viewer.ts): scroll n slices one at a time, each awaited to its render; frames per second. */
  async scrollBench(n: number): Promise<number> {
    const vp = this.vp('original')
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      this.interact()
      const done = this.expectRender()
      // The volume viewport is a scroll target; the declared parameter type lags behind.
      utilities.scroll(vp as unknown as Parameters<typeof utilities.scroll>[0], { delta: i < n / 2 ? 1 : -1 })
      await done
    }
    return (n * 1000) / (performance.now() - t0)
  }
}
