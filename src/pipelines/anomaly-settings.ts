import { EngineError } from '../engine/errors.js'
import type { ModelCard } from '../engine/model-card.js'

export const ANOMALY_METHODS = ['diffusion', 'intensity', 'combined'] as const
export type AnomalyMethod = (typeof ANOMALY_METHODS)[number]
export const POLARITIES = ['bright', 'dark', 'both'] as const
export type Polarity = (typeof POLARITIES)[number]
export const NOISES = ['gaussian', 'simplex'] as const
export type NoiseKind = (typeof NOISES)[number]
export const HEALINGS = ['full', 'inpaint'] as const
export type Healing = (typeof HEALINGS)[number]

/**
 * The anomaly defaults of a model card (its `anomaly` block), validated. Every score is in units of
 * the healthy-tissue spread (robust z), so one threshold per method means the same thing on every
 * scan. Missing keys fall back to the documented defaults; a present key of the wrong type or range
 * is a MODEL_CONTRACT_MISMATCH, not a silently ignored value.
 */
export interface AnomalySettings {
  method: AnomalyMethod
  polarity: Polarity
  /**
   * full: AnoDDPM (noise the whole brain to t*, denoise back). inpaint: mask, stitch, re-sample
   * (AutoDDPM-like): only a candidate region (intensity score > candidateZ, holes filled, dilated
   * candidateDilateMm) is re-sampled, every other voxel is held to the input through the x̂₀ of each
   * step, so healthy tissue is kept exactly and the residual lives in the candidates only.
   */
  healing: Healing
  candidateZ: number
  candidateDilateMm: number
  /**
   * Inpainting: inside the brain mask, each step's x̂₀ in the candidate region is held at or above
   * this percentile of the lesion-free brain's intensities. Where a lesion reaches the brain's edge
   * the model otherwise continues the background into the healed region (a dark cavity-like patch);
   * the floor says what the mask already says: inside the brain is tissue. null: no floor.
   */
  healFloorPercentile: number | null
  /** Healing: noise kind, depth t* of T, sampler steps, K averaged healings. */
  noise: NoiseKind
  depth: number
  steps: number
  samples: number
  /** Width (voxels, odd) of the cubic median filter applied to the score; 1 = none. */
  medianWidth: number
  /** The brain mask is eroded by this many mm before scoring: skull-stripping rims are bright on FLAIR. */
  erosionMm: number
  /** Connected mask components (26-connected) smaller than this are dropped. */
  minComponentMm3: number
  /** Mask threshold per method, in score units; a method without one falls back to the scan's 99th percentile (flagged). */
  thresholds: Partial<Record<AnomalyMethod, number>>
  /** How the thresholds and the default method were chosen (goes into every job report). */
  calibration?: string
}

export const ANOMALY_DEFAULTS: Omit<AnomalySettings, 'thresholds' | 'calibration'> = {
  method: 'diffusion',
  polarity: 'both',
  healing: 'full',
  candidateZ: 1.5,
  candidateDilateMm: 2,
  healFloorPercentile: null,
  noise: 'gaussian',
  depth: 350,
  steps: 10,
  samples: 1,
  medianWidth: 1,
  erosionMm: 0,
  minComponentMm3: 0,
}

/** Reads and checks a card's `anomaly` block (absent = defaults; the noise default follows `training_noise`). */
export function anomalySettings(card: ModelCard): AnomalySettings {
  const bad = (field: string, want: string): never => {
    throw new EngineError('MODEL_CONTRACT_MISMATCH', `model card field "anomaly.${field}" must be ${want}`, { source: card.name })
  }
  const raw = card.anomaly
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) bad('(block)', 'a JSON object')
  const a = (raw ?? {}) as Record<string, unknown>
  const oneOf = <T extends string>(k: string, options: readonly T[], d: T): T => {
    if (a[k] === undefined) return d
    return options.includes(a[k] as T) ? (a[k] as T) : bad(k, options.join(' | '))
  }
  const num = (k: string, d: number, ok: (v: number) => boolean, want: string): number => {
    if (a[k] === undefined) return d
    const v = a[k]
    return typeof v === 'number' && Number.isFinite(v) && ok(v) ? v : bad(k, want)
  }
  const T = card.schedule.T
  const trained: NoiseKind = card.training_noise === 'simplex' ? 'simplex' : 'gaussian'
  const thresholds: Partial<Record<AnomalyMethod, number>> = {}
  if (a.thresholds !== undefined) {
    const t = a.thresholds
    if (typeof t !== 'object' || t === null || Array.isArray(t)) bad('thresholds', 'an object {method: number}')
    for (const [k, v] of Object.entries(t as Record<string, unknown>)) {
      if (!(ANOMALY_METHODS as readonly string[]).includes(k)) bad(`thresholds.${k}`, `one of the methods ${ANOMALY_METHODS.join(' | ')}`)
      if (typeof v !== 'number' || !Number.isFinite(v)) bad(`thresholds.${k}`, 'a finite number')
      thresholds[k as AnomalyMethod] = v as number
    }
  }
  if (a.calibration !== undefined && typeof a.calibration !== 'string') bad('calibration', 'a string')
  const s: AnomalySettings = {
    method: oneOf('method', ANOMALY_METHODS, ANOMALY_DEFAULTS.method),
    polarity: oneOf('polarity', POLARITIES, ANOMALY_DEFAULTS.polarity),
    healing: oneOf('healing', HEALINGS, ANOMALY_DEFAULTS.healing),
    candidateZ: num('candidate_z', ANOMALY_DEFAULTS.candidateZ, (v) => v > 0 && v <= 20, 'a number in (0, 20]'),
    candidateDilateMm: num('candidate_dilate_mm', ANOMALY_DEFAULTS.candidateDilateMm, (v) => v >= 0 && v <= 20, 'a number of mm in [0, 20]'),
    healFloorPercentile: a.heal_floor_percentile === undefined || a.heal_floor_percentile === null ? ANOMALY_DEFAULTS.healFloorPercentile : num('heal_floor_percentile', 50, (v) => v > 0 && v < 100, 'a percentile in (0, 100) or null'),
    noise: oneOf('noise', NOISES, trained),
    depth: num('depth', Math.min(ANOMALY_DEFAULTS.depth, T - 1), (v) => Number.isInteger(v) && v >= 1 && v < T, `an integer in [1, ${T - 1}]`),
    steps: num('steps', ANOMALY_DEFAULTS.steps, (v) => Number.isInteger(v) && v >= 1 && v <= 1000, 'an integer in [1, 1000]'),
    samples: num('samples', ANOMALY_DEFAULTS.samples, (v) => Number.isInteger(v) && v >= 1 && v <= 64, 'an integer in [1, 64]'),
    medianWidth: num('median_width', ANOMALY_DEFAULTS.medianWidth, (v) => Number.isInteger(v) && v >= 1 && v <= 7 && v % 2 === 1, 'an odd integer in [1, 7]'),
    erosionMm: num('erosion_mm', ANOMALY_DEFAULTS.erosionMm, (v) => v >= 0 && v <= 20, 'a number of mm in [0, 20]'),
    minComponentMm3: num('min_component_mm3', ANOMALY_DEFAULTS.minComponentMm3, (v) => v >= 0, 'a volume in mm³ ≥ 0'),
    thresholds,
  }
  if (typeof a.calibration === 'string') s.calibration = a.calibration
  return s
}
