import { Enums, getRenderingEngine, type Types } from '@cornerstonejs/core'
import { ApiError, call, decodeRawVolume, type RawVolume } from './api.js'
import { COLORMAPS } from './colormaps.js'
import { ENGINE } from './cornerstone-setup.js'
import { HeatLayer } from './heat-layer.js'
import { canvasAffine } from './viewport-annotations.js'
import type { MaskMode, ResultViewer } from './viewports.js'

/**
 * A DICOM SEG shown as the mask of the job on screen: the job's own SEG (the one its DICOM
 * download and PACS push carry) or a .dcm file the user picks or drops on the overlay viewport.
 * The service decodes it onto the scan's grid (POST / GET /v1/jobs/:id/seg-mask) and refuses one
 * that does not fit the scan with a typed error (SEG_MISMATCH), which the error box shows.
 * The mask is drawn as the heat layer draws its thresholded mask — a 0 / 1 volume cut at 0.5 —
 * on a canvas of its own over the overlay viewport, redrawn on each of its renders, so the
 * viewer's own layers are left as they are. While a SEG is shown it is the mask: the heatmap's
 * threshold outline is turned off. body[data-seg-mask] (loading / shown / error / none),
 * [data-seg-voxels] and [data-seg-draws] say what is on screen (tests wait on them).
 */

export interface SegLoaderHooks {
  viewer(): ResultViewer | undefined
  showError(e: unknown): void
  clearError(): void
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T
const body = () => document.body.dataset

/** The job's SEG read back (no file), or `file` read onto the job's scan. */
export async function fetchSegMask(jobId: string, file?: Blob): Promise<RawVolume> {
  const url = `/v1/jobs/${jobId}/seg-mask`
  const res = file ? await call(url, { method: 'POST', body: file, headers: { 'content-type': 'application/dicom' } }) : await call(url)
  return decodeRawVolume(await res.arrayBuffer())
}

class SegOverlay {
  private mask?: RawVolume
  private jobId?: string
  private readonly layer = new HeatLayer()
  private readonly canvas = document.createElement('canvas')
  private draws = 0

  constructor(private readonly el: HTMLElement) {
    this.canvas.className = 'vp-seg'
    el.parentElement!.appendChild(this.canvas)
    el.addEventListener(Enums.Events.IMAGE_RENDERED, () => this.draw())
  }

  get voxels(): number {
    let n = 0
    for (const x of this.mask?.data ?? []) if (x === 1) n++
    return n
  }

  show(jobId: string, mask: RawVolume): void {
    this.jobId = jobId
    this.mask = mask
    // A new mask is a new volume object: the layer re-samples it.
    this.draw()
  }

  clear(): void {
    this.mask = undefined
    this.jobId = undefined
    this.draw()
  }

  get active(): boolean {
    return !!this.mask && this.jobId === body().shown
  }

  draw(): void {
    const w = this.el.clientWidth
    const h = this.el.clientHeight
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w
      this.canvas.height = h
    }
    const g = this.canvas.getContext('2d')!
    g.clearRect(0, 0, w, h)
    // Another job on screen: its scan is not the one this SEG was read onto.
    if (this.mask && this.jobId !== body().shown) {
      this.mask = undefined
      body().segMask = 'none'
    }
    const vp = getRenderingEngine(ENGINE)?.getViewport('overlay') as Types.IVolumeViewport | undefined
    if (!this.mask || !vp || w === 0 || h === 0) return
    const { p0, dx, dy } = canvasAffine(vp)
    const mode = ($<HTMLSelectElement>('mask-mode').value as MaskMode) || 'outline'
    // Opacity 0: only the mask (outline or label) of the 0 / 1 volume shows, not a colour wash.
    this.layer.draw(g, { p0: [p0[0], p0[1], p0[2]], dx, dy }, { heat: this.mask, range: [0, 1], threshold: 0.5, opacity: 0, stops: COLORMAPS.hot, mask: mode })
    body().segDraws = String(++this.draws)
  }
}

export function initSegLoader(hooks: SegLoaderHooks): void {
  const overlay = new SegOverlay($('vp-overlay'))
  body().segMask = 'none'

  async function load(file?: File): Promise<void> {
    const jobId = body().shown
    if (!jobId) return hooks.showError(new ApiError('NO_RESULTS', 'open a finished job first: a SEG is shown over its scan', 0))
    hooks.clearError()
    body().segMask = 'loading'
    try {
      const mask = await fetchSegMask(jobId, file)
      const v = hooks.viewer()
      // The SEG is the mask now: the heatmap's own threshold outline would draw a second one.
      v?.setOverlay({ mask: 'none' })
      if ($<HTMLSelectElement>('mask-mode').value === 'none') $<HTMLSelectElement>('mask-mode').value = 'outline'
      overlay.show(jobId, mask)
      body().segVoxels = String(overlay.voxels)
      body().segMask = 'shown'
      $('seg-info').textContent = `SEG: ${overlay.voxels} voxels`
    } catch (e) {
      overlay.clear()
      body().segMask = 'error'
      $('seg-info').textContent = ''
      hooks.showError(e)
    }
  }

  $('seg-job').addEventListener('click', () => void load())
  $<HTMLInputElement>('seg-file').addEventListener('change', (e) => {
    const input = e.target as HTMLInputElement
    const f = input.files?.[0]
    input.value = ''
    if (f) void load(f)
  })
  $('seg-clear').addEventListener('click', () => {
    overlay.clear()
    body().segMask = 'none'
    $('seg-info').textContent = ''
    hooks.viewer()?.setOverlay({ mask: $<HTMLSelectElement>('mask-mode').value as MaskMode })
  })
  // Registered after main.ts's listener: with a SEG shown, the mode applies to it, not to the heatmap.
  $('mask-mode').addEventListener('change', () => {
    if (!overlay.active) return
    hooks.viewer()?.setOverlay({ mask: 'none' })
    overlay.draw()
  })
  // A .dcm dropped on the overlay viewport is a SEG for the job on screen (not a new scan).
  const box = $('vp-overlay').parentElement!
  box.addEventListener('dragover', (e) => e.preventDefault())
  box.addEventListener('drop', (e) => {
    e.preventDefault()
    const f = e.dataTransfer?.files?.[0]
    if (f) void load(f)
  })
}
