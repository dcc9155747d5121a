import type { Types } from '@cornerstonejs/core'
import type { RawVolume } from './api.js'
import { orientationLabel, worldToIndex, type Vec3 } from './geometry.js'
import { fmt } from './format-number.js'

/** The displayed plane as an affine map canvas (x, y) → world, from three canvasToWorld calls. */
export function canvasAffine(vp: Types.IVolumeViewport): { p0: Types.Point3; dx: Vec3; dy: Vec3 } {
  const p0 = vp.canvasToWorld([0, 0])
  const px = vp.canvasToWorld([1, 0])
  const py = vp.canvasToWorld([0, 1])
  return { p0, dx: [px[0] - p0[0], px[1] - p0[1], px[2] - p0[2]], dy: [py[0] - p0[0], py[1] - p0[1], py[2] - p0[2]] }
}

/** The 2-D canvas over a viewport (same box as the viewport element), cleared and sized to it. */
export function annotationCanvas(el: HTMLElement): { g: CanvasRenderingContext2D; w: number; h: number } {
  const canvas = el.parentElement!.querySelector('canvas.vp-cross') as HTMLCanvasElement
  const w = el.clientWidth
  const h = el.clientHeight
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w
    canvas.height = h
  }
  const g = canvas.getContext('2d')!
  g.clearRect(0, 0, w, h)
  return { g, w, h }
}

/**
 * Orientation letters (from the camera, in LPS) and the slice caption: plane, voxel index at the
 * centre, W/L. The index is the camera's focal point (the canvas centre by definition of the camera),
 * not canvasToWorld of the centre pixel: the linked cameras share one focal point exactly, while each
 * tile of the rendering engine maps canvas to world with its own rounding. When an in-plane size is
 * even the centre falls on a voxel boundary (index n.5), and that rounding named different voxels in
 * different viewports of the same plane (ijk 60,60,45 | 60,60,44 on a 120×120×90 scan).
 */
export function drawCaptions(el: HTMLElement, vp: Types.IVolumeViewport, original: RawVolume, plane: string): void {
  const box = el.parentElement!
  const { dx, dy } = canvasAffine(vp)
  const up: Vec3 = [-dy[0], -dy[1], -dy[2]]
  const set = (pos: string, text: string) => ((box.querySelector(`.vp-orient.${pos}`) as HTMLElement).textContent = text)
  set('right', orientationLabel(dx))
  set('left', orientationLabel(dx.map((x) => -x)))
  set('top', orientationLabel(up))
  set('bottom', orientationLabel(up.map((x) => -x)))
  const ijk = worldToIndex(original, vp.getCamera().focalPoint!)
  const voi = vp.getProperties()?.voiRange
  const info = box.querySelector('.vp-info') as HTMLElement
  info.textContent = `${plane} · ijk ${ijk.map((x) => Math.round(x)).join(',')}${voi ? ` · W ${fmt(voi.upper - voi.lower)} L ${fmt((voi.upper + voi.lower) / 2)}` : ''}`
}

/** The linked cursor: a cross with a gap at the point every viewport shows. */
export function drawCursor(g: CanvasRenderingContext2D, vp: Types.IVolumeViewport, cursor: Types.Point3, w: number, h: number): void {
  const [cx, cy] = vp.worldToCanvas(cursor)
  g.strokeStyle = 'rgba(80, 255, 120, 0.9)'
  g.lineWidth = 1
  g.beginPath()
  for (const [a, b] of [[[0, cy], [cx - 6, cy]], [[cx + 6, cy], [w, cy]], [[cx, 0], [cx, cy - 6]], [[cx, cy + 6], [cx, h]]]) {
    g.moveTo(a[0], a[1])
    g.lineTo(b[0], b[1])
  }
  g.stroke()
}
