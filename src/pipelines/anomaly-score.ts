import type { Vec3 } from '../volume/volume.js'
import type { AnomalyMethod, Polarity } from './anomaly-settings.js'
import { medianFilter } from './mask-ops.js'
import { percentileOf } from './volume-ops.js'

/** 1.4826·MAD estimates the standard deviation of normal data; MAD itself is robust to the lesion (< half the brain). */
const MAD_TO_SD = 1.4826

export interface RobustStats {
  median: number
  /** 1.4826 · median absolute deviation: the healthy-tissue spread. */
  scale: number
}

/** Median and 1.4826·MAD of x over the voxels where m is set. */
export function robustStats(x: Float32Array, m: Uint8Array): RobustStats {
  const median = percentileOf(x, 50, m)
  const dev = new Float32Array(x.length)
  for (let i = 0; i < x.length; i++) dev[i] = m[i] ? Math.abs(x[i] - median) : 0
  const scale = percentileOf(dev, 50, m) * MAD_TO_SD
  return { median, scale: scale > 0 && Number.isFinite(scale) ? scale : 1 }
}

/**
 * Robust z-score of x over the voxels of m ((x − median) / (1.4826·MAD)), signed by polarity:
 * bright keeps z, dark −z, both |z|. Zero outside m.
 */
export function robustZ(x: Float32Array, m: Uint8Array, polarity: Polarity): { z: Float32Array; stats: RobustStats } {
  const stats = robustStats(x, m)
  const z = new Float32Array(x.length)
  for (let i = 0; i < x.length; i++) {
    if (!m[i]) continue
    const v = (x[i] - stats.median) / stats.scale
    z[i] = polarity === 'bright' ? v : polarity === 'dark' ? -v : Math.abs(v)
  }
  return { z, stats }
}

/**
 * The residual as a z-score: its own robust z (full healing), or, given a scale (inpainting healing,
 * whose residual is 0 outside the re-sampled region), residual / scale, signed by polarity.
 */
function residualZ(r: Float32Array, m: Uint8Array, polarity: Polarity, scale?: number): Float32Array {
  if (scale === undefined) return robustZ(r, m, polarity).z
  const z = new Float32Array(r.length)
  for (let i = 0; i < r.length; i++) {
    if (!m[i]) continue
    const v = r[i] / scale
    z[i] = polarity === 'bright' ? v : polarity === 'dark' ? -v : Math.abs(v)
  }
  return z
}

/**
 * The anomaly score a method gives, in healthy-spread units, median-filtered inside m:
 * - intensity: robust z of the input (the scan's own healthy-tissue spread; Meissen et al. 2021's
 *   hard baseline on FLAIR),
 * - diffusion: robust z of the (smoothed, signed) residual input − healed, i.e. the residual over the
 *   spread it has in this scan's tissue. The scan's own spread, not a calibration-set constant:
 *   the calibration patients here were partly seen in training, where residuals run low,
 * - combined: the mean of the two z maps: a voxel must be bright and unexplained by the prior.
 */
export function anomalyScore(method: AnomalyMethod, parts: { intensity?: Float32Array; residual?: Float32Array; residualScale?: number }, m: Uint8Array, size: Vec3, polarity: Polarity, medianWidth: number): Float32Array {
  const need = (x: Float32Array | undefined, what: string): Float32Array => {
    if (!x) throw new RangeError(`the ${method} score needs the ${what}`)
    return x
  }
  let raw: Float32Array
  if (method === 'intensity') raw = robustZ(need(parts.intensity, 'input intensities'), m, polarity).z
  else if (method === 'diffusion') raw = residualZ(need(parts.residual, 'healing residual'), m, polarity, parts.residualScale)
  else {
    const a = robustZ(need(parts.intensity, 'input intensities'), m, polarity).z
    const b = residualZ(need(parts.residual, 'healing residual'), m, polarity, parts.residualScale)
    raw = new Float32Array(a.length)
    for (let i = 0; i < a.length; i++) raw[i] = (a[i] + b[i]) / 2
  }
  return medianFilter(raw, size, medianWidth, m)
}
