/** Overlay colour maps as RGB stops over 0..1: one definition drives both the rendering and the colour bar. */
export type Stops = [number, number, number, number][]

export const COLORMAPS: Record<string, Stops> = {
  hot: [[0, 0.04, 0, 0], [0.375, 1, 0, 0], [0.75, 1, 1, 0], [1, 1, 1, 1]],
  jet: [[0, 0, 0, 0.5], [0.11, 0, 0, 1], [0.36, 0, 1, 1], [0.61, 1, 1, 0], [0.86, 1, 0, 0], [1, 0.5, 0, 0]],
  viridis: [[0, 0.267, 0.005, 0.329], [0.25, 0.229, 0.322, 0.546], [0.5, 0.128, 0.567, 0.551], [0.75, 0.369, 0.789, 0.383], [1, 0.993, 0.906, 0.144]],
  magma: [[0, 0.001, 0, 0.014], [0.25, 0.317, 0.071, 0.485], [0.5, 0.716, 0.215, 0.475], [0.75, 0.987, 0.536, 0.382], [1, 0.987, 0.991, 0.75]],
}

export function colorAt(stops: Stops, t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t))
  for (let i = 1; i < stops.length; i++) {
    const [b, ...cb] = stops[i]
    if (x <= b) {
      const [a, ...ca] = stops[i - 1]
      const f = b > a ? (x - a) / (b - a) : 0
      return [0, 1, 2].map((k) => ca[k] + f * (cb[k] - ca[k])) as [number, number, number]
    }
  }
  const last = stops[stops.length - 1]
  return [last[1], last[2], last[3]]
}

/** Vertical colour bar, high values on top; below the threshold it is drawn dimmed (transparent in the overlay). */
export function drawColorbar(canvas: HTMLCanvasElement, stops: Stops, thresholdFraction: number): void {
  const g = canvas.getContext('2d')!
  const { width: w, height: h } = canvas
  for (let y = 0; y < h; y++) {
    const t = 1 - y / (h - 1)
    const [r, gr, b] = colorAt(stops, t)
    g.globalAlpha = t < thresholdFraction ? 0.2 : 1
    g.fillStyle = `rgb(${Math.round(r * 255)},${Math.round(gr * 255)},${Math.round(b * 255)})`
    g.fillRect(0, y, w, 1)
  }
  g.globalAlpha = 1
  const ty = Math.round((1 - thresholdFraction) * (h - 1))
  g.fillStyle = '#fff'
  g.fillRect(0, ty, w, 2)
}
