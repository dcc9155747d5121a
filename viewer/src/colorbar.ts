import { drawColorbar, type Stops } from './colormaps.js'
import { fmt } from './format-number.js'

/**
 * The overlay's colour bar and its labels (top, middle, bottom of the fixed range, then units).
 */
export function showColorbar(bar: HTMLCanvasElement, o: { visible: boolean; stops: Stops; threshold: number; range: [number, number]; units: string }): void {
  bar.hidden = !o.visible
  drawColorbar(bar, o.stops, o.threshold)
  let box = bar.parentElement!.querySelector('.colorbar-labels') as HTMLDivElement | null
  if (!box) {
    box = document.createElement('div')
    box.className = 'colorbar-labels'
    bar.parentElement!.appendChild(box)
  }
  box.hidden = !o.visible
  const [lo, hi] = o.range
  box.innerHTML = ''
  for (const t of [hi, (lo + hi) / 2, lo]) {
    const s = document.createElement('span')
    s.textContent = fmt(t)
    box.appendChild(s)
  }
  const u = document.createElement('span')
  u.textContent = o.units
  u.className = 'units'
  box.appendChild(u)
}
