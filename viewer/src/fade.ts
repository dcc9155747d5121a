import type { Types } from '@cornerstonejs/core'
import vtkPiecewiseFunction from '@kitware/vtk.js/Common/DataModel/PiecewiseFunction'

/**
 * The middle viewport holds the enhanced volume over the original: `alpha` 0 shows the enhanced
 * only, 1 the original only. A layer that cannot be seen is not ray-cast at all (half the WebGL
 * work when not fading).
 */
export function applyFade(vp: Types.IVolumeViewport, originalId: string, originalRange: [number, number], alpha: number): boolean {
  const actor = vp.getActors().find((a) => a.referencedId === originalId || a.uid === originalId)
  if (!actor) return false
  const ofun = vtkPiecewiseFunction.newInstance()
  const [lo, hi] = originalRange
  ofun.addPoint(lo - 1, alpha)
  ofun.addPoint(hi + 1, alpha)
  ;(actor.actor as any).getProperty().setScalarOpacity(0, ofun)
  actor.actor.setVisibility(alpha > 0)
  const enh = vp.getActors().find((a) => a !== actor)
  enh?.actor.setVisibility(alpha < 1)
  return true
}

/** The middle viewport's caption while fading. */
export function fadeLabel(labels: { original: string; enhanced: string }, alpha: number): string {
  if (alpha >= 0.5) return `${labels.original} (fade ${Math.round(alpha * 100)}%)`
  return alpha > 0 ? `${labels.enhanced} (fade ${Math.round(alpha * 100)}%)` : labels.enhanced
}
