import { getRenderingEngine, Enums, type Types } from '@cornerstonejs/core'
import * as cst from '@cornerstonejs/tools'
import type { RawVolume } from './api.js'
import { ENGINE } from './cornerstone-setup.js'

/** Window presets (width / level) as radiologists name them; 'auto': see autoWindow. */
export const PRESETS: Record<string, { width: number; center: number } | null> = {
  auto: null,
  brain: { width: 80, center: 40 },
  subdural: { width: 200, center: 80 },
  bone: { width: 2000, center: 600 },
  lung: { width: 1500, center: -600 },
  soft: { width: 400, center: 40 },
}

/** A grey-scale layer: one volume shown in one viewport. */
export interface GreyLayer {
  vp: string
  id: string
  vol: RawVolume
}

/**
 * MRI auto window: black at the 1st percentile (background), white at the 99.8th percentile of the
 * foreground (above 10 % of the way to the 99th): a plain 99.5th percentile over the whole field of
 * view is dominated by background and clips bright, bias-field-lifted white matter.
 */
export function autoWindow(v: RawVolume): [number, number] {
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

/**
 * The window of each layer for a preset, or for 'auto': autoWindow of the first layer of each
 * modality for MRI, a soft-tissue window for CT. Layers of one modality share it (the enhanced
 * image is judged against the original in the same grey scale); a synthetic CT next to an MRI
 * gets its own.
 */
export function presetRanges(name: string, layers: GreyLayer[]): Types.VOIRange[] {
  const p = PRESETS[name]
  const auto = new Map<string, Types.VOIRange>()
  return layers.map((l) => {
    if (p) return { lower: p.center - p.width / 2, upper: p.center + p.width / 2 }
    let range = auto.get(l.vol.modality)
    if (!range) {
      if (l.vol.modality === 'CT') range = { lower: 40 - 200, upper: 40 + 200 }
      else {
        const [lo, hi] = autoWindow(l.vol)
        range = { lower: lo, upper: hi > lo ? hi : lo + 1 }
      }
      auto.set(l.vol.modality, range)
    }
    return range
  })
}

/**
 * W/L dragged in one viewport goes to every grey layer of the same modality, in the other
 * viewports and in the source's own other layers (the fade layer under the enhanced image), as a
 * Cornerstone synchronizer beside the camera one. Changes the viewer makes itself (presets,
 * invert) run with it disabled: `quietly`.
 */
export class ModalityVoiSync {
  private readonly sync: cst.Synchronizer

  constructor(viewportIds: string[], private readonly layers: () => GreyLayer[]) {
    const id = 'raddiff-voi'
    cst.SynchronizerManager.destroySynchronizer(id)
    this.sync = cst.SynchronizerManager.createSynchronizer(id, Enums.Events.VOI_MODIFIED, (_s, source, target, evt) => this.apply(source.viewportId, target.viewportId, evt))
    for (const v of viewportIds) this.sync.add({ renderingEngineId: ENGINE, viewportId: v })
  }

  private apply(source: string, target: string, evt: unknown): void {
    const d = (evt as CustomEvent<{ volumeId?: string; range?: Types.VOIRange }>).detail
    if (!d?.range) return
    const layers = this.layers()
    const from = layers.find((l) => l.vp === source && (!d.volumeId || l.id === d.volumeId))
    if (!from) return
    const engine = getRenderingEngine(ENGINE)
    if (!engine) return
    // The synchronizer never calls back with target = source, so the source's other layers are
    // set here too (events they fire are ignored while the synchronizer is firing).
    for (const l of layers) {
      if (l.vol.modality !== from.vol.modality) continue
      if (l.vp !== target && !(l.vp === source && l.id !== from.id)) continue
      ;(engine.getViewport(l.vp) as Types.IVolumeViewport).setProperties({ voiRange: { ...d.range } }, l.id)
    }
    engine.getViewport(target)?.render()
    engine.getViewport(source)?.render()
  }

  /** Runs `f` with the synchronizer off: its VOI events are the viewer's own, not a user's drag. */
  quietly(f: () => void): void {
    this.sync.setEnabled(false)
    try {
      f()
    } finally {
      this.sync.setEnabled(true)
    }
  }
}
