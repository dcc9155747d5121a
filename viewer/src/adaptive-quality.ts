import { renderScale, setRenderScale } from './render-scale.js'

/**
 * Resolution of the WebGL pass while scrolling / dragging when full-resolution frames are slow:
 * at most half, lower while a voxel still covers 2 drawn pixels, never below a quarter.
 */
const INTERACTIVE_SCALE = { max: 0.5, min: 0.25, pixelsPerVoxel: 2 }
/** A full-resolution frame slower than this (ms) switches interaction to INTERACTIVE_SCALE. */
const SLOW_FRAME_MS = 30
/** Full resolution returns this long (ms) after the last interaction. */
const REFINE_AFTER_MS = 250

/**
 * Scrolling, dragging: when full-resolution frames are slow (software WebGL), draw at a lower
 * resolution until the interaction pauses, then once more at full resolution. `body[data-quality]`
 * says which is on screen.
 */
export class AdaptiveQuality {
  private idleTimer?: number
  private frameStart?: number
  /** Duration of the last full-resolution frame that followed an interaction. */
  private fullFrameMs = 0
  private idleWaiters: (() => void)[] = []

  /**
   * @param resize re-allocates the canvases after a scale change
   * @param mmPerPixel the displayed plane's scale now; @param voxelMm the finest voxel spacing
   */
  constructor(
    private readonly resize: () => void,
    private readonly mmPerPixel: () => number,
    private readonly voxelMm: () => number,
  ) {}

  reset(): void {
    document.body.dataset.quality = 'full'
  }

  /** An input event that will make a new frame (wheel, drag). */
  interact(): void {
    this.frameStart = performance.now()
    // once per gesture: the scale is chosen when interaction starts (a zoom drag would otherwise
    // pick a new one, and reallocate every canvas, on each mouse event)
    if (renderScale() === 1 && this.fullFrameMs > SLOW_FRAME_MS && setRenderScale(this.interactiveScale())) {
      document.body.dataset.quality = 'interactive'
      this.resize()
    }
    clearTimeout(this.idleTimer)
    this.idleTimer = window.setTimeout(() => {
      this.idleTimer = undefined
      if (setRenderScale(1)) {
        document.body.dataset.quality = 'full'
        this.resize()
      }
      for (const f of this.idleWaiters.splice(0)) f()
    }, REFINE_AFTER_MS)
  }

  /** A frame of the last viewport was drawn: time it when it followed an input at full resolution. */
  framed(): void {
    if (this.frameStart !== undefined && document.body.dataset.quality !== 'interactive') this.fullFrameMs = performance.now() - this.frameStart
    this.frameStart = undefined
  }

  /** Resolves when no interaction is pending (the full-resolution frame is due). */
  idle(): Promise<void> {
    if (this.idleTimer === undefined) return Promise.resolve()
    return new Promise((r) => this.idleWaiters.push(r))
  }

  private interactiveScale(): number {
    const { max, min, pixelsPerVoxel } = INTERACTIVE_SCALE
    return Math.min(max, Math.max(min, (pixelsPerVoxel * this.mmPerPixel()) / this.voxelMm()))
  }
}
