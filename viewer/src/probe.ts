import type { RawVolume } from './api.js'
import { fmt } from './format-number.js'
import { valueAt, worldToIndex } from './geometry.js'

export interface ProbedVolumes {
  original: RawVolume
  enhanced?: RawVolume
  heatmap?: RawVolume
  std?: RawVolume
  heatmapKind: string
  enhancedLabel: string
}

/** One line for the status bar: the point (LPS, voxel) and every volume's value there. */
export function probeText(p: ArrayLike<number>, v: ProbedVolumes): string {
  const parts = [`LPS ${Array.from(p, (x) => x.toFixed(1)).join(', ')} mm`]
  parts.push(`ijk ${worldToIndex(v.original, p).map(Math.round).join(',')}`)
  const add = (label: string, vol: RawVolume | undefined, units?: string) => {
    if (!vol) return
    const x = valueAt(vol, p)
    parts.push(`${label} ${x === undefined ? '—' : fmt(x)}${units && x !== undefined ? ` ${units}` : ''}`)
  }
  add('original', v.original, v.original.units)
  add(v.enhancedLabel.split(' ')[0].toLowerCase(), v.enhanced, v.enhanced?.units)
  add(v.heatmapKind, v.heatmap, v.heatmap?.units)
  add('uncertainty', v.std, v.std?.units)
  return parts.join('  ·  ')
}
