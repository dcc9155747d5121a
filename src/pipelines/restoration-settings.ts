import { EngineError } from '../engine/errors.js'
import { PLANES, type ModelCard, type SlicePlane } from '../engine/model-card.js'
import { FLIP_AXES, viewsOf, type FlipAxis, type View } from '../engine/views.js'

/**
 * Per-model settings of the restoration tasks, from the card's `denoise` and `superres` blocks.
 * Each is a property of one model (how smooth its x̂₀ is at a given noise level), so it is measured
 * on that model's training subjects, never on the held-out ones the results are reported on, and
 * the card says how (`calibration`). Absent block: the neutral value; a present key of the wrong
 * type or range: MODEL_CONTRACT_MISMATCH naming it.
 */
export interface DenoiseSettings {
  /**
   * Multiplies the estimated noise σ before it picks the model's noise level: a posterior-mean
   * denoiser that is smoother than the true posterior mean does best when told a little less noise
   * than there is (the consistency bound and Rician correction keep the estimate itself).
   */
  sigmaScale: number
  /**
   * The share of the input the one-call (mean) estimate keeps: out = input + (1 − inputBlend)·(x̂₀ − input).
   * The posterior mean is smoother than any clean scan, most across slices once the planes are averaged;
   * keeping a little of the input restores slice-to-slice variation near the clean volume's (the striping
   * target) at a small cost in PSNR, and a few per cent cost none (brain-t1 0.3.3's training subjects).
   */
  inputBlend: number
  /**
   * Both numbers measured at several noise levels (card `denoise.by_noise`, ascending `sigma`: σ̂ in
   * normalised units): a volume's are interpolated linearly in its σ̂, held at the ends. Empty: the
   * block's own sigma_scale and input_blend at every level.
   */
  byNoise: NoisePoint[]
  ensemble: EnsembleSettings
  calibration?: string
}

export interface NoisePoint {
  sigma: number
  sigmaScale: number
  inputBlend: number
}

export interface SuperresSettings {
  /**
   * Noise level (σ in normalised units) at which an x0-model's one call (mean mode) reads the
   * consistent cubic start: the interpolation's missing detail, seen as noise of that level. null:
   * the pipeline's default start (SUPERRES_START_FRACTION, noised).
   */
  meanSigma: number | null
  /** The same for thick slices (`--axes through`), where the input keeps its in-plane detail; null: meanSigma. */
  meanSigmaThrough: number | null
  /**
   * 'consistent-cubic': the model is conditioned on the consistent cubic upsampling of the input
   * (card `cond_channels` = its 2.5D slices) and trained so that one call reading that volume as the
   * state at mean_sigma is the posterior mean E[x₀ | cond]; sampling starts from pure noise. null:
   * an unconditioned prior (DDNM from the cubic start).
   */
  conditioning: 'consistent-cubic' | null
  /** Which `--axes` a conditioned model is chosen for by default (card `superres.axes`; null: all). */
  axes: ('inplane' | 'through' | 'all')[] | null
  /**
   * The plane the model runs in for thick slices (`--axes through`; card `superres.plane_through`): one
   * that holds the thick axis (the card plane's slice axis) in-plane, so the network sees the
   * direction the detail is missing in, as it was trained. null: the card's plane.
   */
  planeThrough: SlicePlane | null
  ensemble: EnsembleSettings
  calibration?: string
}

/**
 * The self-ensemble of a task's one-call (mean) estimate (engine/views.ts), card `<task>.ensemble`:
 * the model's output averaged over mirrored slices and, on near-isotropic volumes, over the three
 * planes. Chosen per model on its training subjects (what its training augmentation makes
 * equivalent views, and what paid for its time), like the other settings here.
 */
export interface EnsembleSettings {
  /** Slice axes mirrored: every combination of them is a view (rows and cols: 4 views per plane). */
  flips: FlipAxis[]
  /** 'all': the other two anatomical planes too, when the volume's largest spacing is at most maxAnisotropy × its smallest. */
  planes: 'own' | 'all'
  maxAnisotropy: number
  /**
   * With the other planes: the share of the average the card's own plane (the one its model was
   * trained in, whose views are each better than another plane's) keeps, split evenly among its views;
   * the rest goes evenly to the other planes' views. Null: every view weighs the same.
   */
  ownPlaneWeight: number | null
}

export const SINGLE_VIEW: EnsembleSettings = { flips: [], planes: 'own', maxAnisotropy: 1, ownPlaneWeight: null }

/** The card's name (for errors) and its blocks; browser-safe (the viewer's preview reads the denoise block). */
type SettingsCard = Pick<ModelCard, 'name'> & { readonly [block: string]: unknown }

/** A card block as a getter plus its validated calibration note; undefined when the card has none. */
function block(card: SettingsCard, key: string): { get: (k: string) => unknown; bad: (field: string, want: string) => never; note: { calibration?: string } } | undefined {
  const bad = (field: string, want: string): never => {
    throw new EngineError('MODEL_CONTRACT_MISMATCH', `model card field "${key}.${field}" must be ${want}`, { source: card.name })
  }
  const raw = card[key]
  if (raw === undefined) return undefined
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('(block)', 'a JSON object')
  const b = raw as Record<string, unknown>
  if (b.calibration !== undefined && typeof b.calibration !== 'string') bad('calibration', 'a string')
  return { get: (k) => b[k], bad, note: b.calibration !== undefined ? { calibration: b.calibration as string } : {} }
}

const inRange = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isFinite(v) && v > lo && v <= hi

/** A block's `ensemble` object; absent: the single view. */
function ensembleOf(b: NonNullable<ReturnType<typeof block>>): EnsembleSettings {
  const e = b.get('ensemble')
  if (e === undefined || e === null) return SINGLE_VIEW
  if (typeof e !== 'object' || Array.isArray(e)) return b.bad('ensemble', 'a JSON object or null')
  const o = e as Record<string, unknown>
  const known = ['flips', 'planes', 'max_anisotropy', 'own_plane_weight', 'note']
  const extra = Object.keys(o).find((k) => !known.includes(k))
  if (extra !== undefined) return b.bad(`ensemble.${extra}`, `absent (the known keys: ${known.join(', ')})`)
  if (o.note !== undefined && typeof o.note !== 'string') return b.bad('ensemble.note', 'a string')
  const flips = o.flips ?? []
  if (!(Array.isArray(flips) && flips.every((f) => (FLIP_AXES as readonly unknown[]).includes(f)) && new Set(flips).size === flips.length)) {
    return b.bad('ensemble.flips', `a list of distinct ${FLIP_AXES.map((f) => `"${f}"`).join(', ')}`)
  }
  const planes = o.planes ?? 'own'
  if (planes !== 'own' && planes !== 'all') return b.bad('ensemble.planes', '"own" or "all"')
  const maxAnisotropy = o.max_anisotropy ?? 1.5
  if (!(typeof maxAnisotropy === 'number' && Number.isFinite(maxAnisotropy) && maxAnisotropy >= 1 && maxAnisotropy <= 10)) {
    return b.bad('ensemble.max_anisotropy', 'a number in [1, 10]')
  }
  const w = o.own_plane_weight ?? null
  if (w !== null && !(inRange(w, 0, 1) && w < 1)) return b.bad('ensemble.own_plane_weight', 'a number in (0, 1)')
  return { flips: flips as FlipAxis[], planes, maxAnisotropy, ownPlaneWeight: w }
}

/**
 * The views a one-call estimate averages: the task's plane with the card's flips, and the other two
 * planes with the same flips when the volume is near-isotropic (largest spacing ≤ maxAnisotropy ×
 * the smallest: a thick-slice scan cut across its slices would show the model slices unlike any it
 * was trained on). 'off': the task's plane alone.
 */
export function ensembleViews(e: EnsembleSettings, plane: SlicePlane, spacing: readonly number[], use: 'auto' | 'off' = 'auto'): View[] {
  if (use === 'off') return viewsOf([plane], [])
  const iso = Math.max(...spacing) <= e.maxAnisotropy * Math.min(...spacing)
  const views = viewsOf(e.planes === 'all' && iso ? [plane, ...PLANES.filter((p) => p !== plane)] : [plane], e.flips)
  const own = views.filter((v) => v.plane === plane).length
  if (e.ownPlaneWeight === null || own === views.length) return views
  const w = e.ownPlaneWeight
  return views.map((v) => ({ ...v, weight: v.plane === plane ? w / own : (1 - w) / (views.length - own) }))
}

const isBlend = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1

export function denoiseSettings(card: SettingsCard): DenoiseSettings {
  const b = block(card, 'denoise')
  if (!b) return { sigmaScale: 1, inputBlend: 0, byNoise: [], ensemble: SINGLE_VIEW }
  const s = b.get('sigma_scale') ?? 1
  if (!inRange(s, 0, 2)) return b.bad('sigma_scale', 'a number in (0, 2]')
  const blend = b.get('input_blend') ?? 0
  if (!isBlend(blend)) return b.bad('input_blend', 'a number in [0, 1)')
  return { sigmaScale: s, inputBlend: blend, byNoise: byNoiseOf(b), ensemble: ensembleOf(b), ...b.note }
}

function byNoiseOf(b: NonNullable<ReturnType<typeof block>>): NoisePoint[] {
  const raw = b.get('by_noise')
  if (raw === undefined || raw === null) return []
  const want = 'a list of {sigma, sigma_scale, input_blend} in ascending sigma (sigma in (0, 2], sigma_scale in (0, 2], input_blend in [0, 1))'
  if (!Array.isArray(raw) || raw.length === 0) return b.bad('by_noise', want)
  const points = raw.map((p: unknown, i): NoisePoint => {
    const o = (typeof p === 'object' && p !== null && !Array.isArray(p) ? p : {}) as Record<string, unknown>
    const extra = Object.keys(o).find((k) => !['sigma', 'sigma_scale', 'input_blend'].includes(k))
    if (extra !== undefined || !inRange(o.sigma, 0, 2) || !inRange(o.sigma_scale, 0, 2) || !isBlend(o.input_blend ?? 0)) return b.bad(`by_noise[${i}]`, want)
    return { sigma: o.sigma as number, sigmaScale: o.sigma_scale as number, inputBlend: (o.input_blend ?? 0) as number }
  })
  if (points.some((p, i) => i > 0 && p.sigma <= points[i - 1].sigma)) return b.bad('by_noise', want)
  return points
}

/** The scale and blend for a volume whose estimated σ is sNorm (normalised units): see DenoiseSettings.byNoise. */
export function denoiseAt(settings: DenoiseSettings, sNorm: number): { sigmaScale: number; inputBlend: number } {
  const pts = settings.byNoise
  const hi = pts.findIndex((p) => p.sigma >= sNorm)
  const held = pts.length === 0 ? settings : hi === 0 ? pts[0] : hi < 0 ? pts[pts.length - 1] : undefined
  if (held) return { sigmaScale: held.sigmaScale, inputBlend: held.inputBlend }
  const [a, c] = [pts[hi - 1], pts[hi]]
  const f = (sNorm - a.sigma) / (c.sigma - a.sigma)
  return { sigmaScale: a.sigmaScale + f * (c.sigmaScale - a.sigmaScale), inputBlend: a.inputBlend + f * (c.inputBlend - a.inputBlend) }
}

export function superresSettings(card: SettingsCard & Pick<ModelCard, 'plane'>): SuperresSettings {
  const b = block(card, 'superres')
  if (!b) return { meanSigma: null, meanSigmaThrough: null, conditioning: null, axes: null, planeThrough: null, ensemble: SINGLE_VIEW }
  const s = b.get('mean_sigma') ?? null
  if (s !== null && !inRange(s, 0, 1)) return b.bad('mean_sigma', 'a number in (0, 1] or null')
  const st = b.get('mean_sigma_through') ?? null
  if (st !== null && !inRange(st, 0, 1)) return b.bad('mean_sigma_through', 'a number in (0, 1] or null')
  const c = b.get('conditioning') ?? null
  if (c !== null && c !== 'consistent-cubic') return b.bad('conditioning', '"consistent-cubic" or null')
  const ax = b.get('axes') ?? null
  const AXES = ['inplane', 'through', 'all']
  if (ax !== null && !(Array.isArray(ax) && ax.every((x) => AXES.includes(x)))) return b.bad('axes', 'a list of "inplane", "through", "all" or null')
  // any plane but the card's own holds the card plane's slice axis (the thick one) in-plane
  const pt = b.get('plane_through') ?? null
  if (pt !== null && !(PLANES.includes(pt as SlicePlane) && pt !== card.plane)) {
    return b.bad('plane_through', `a plane other than the card's plane (${card.plane}), or null`)
  }
  return { meanSigma: s, meanSigmaThrough: st, conditioning: c, axes: ax as SuperresSettings['axes'], planeThrough: pt as SlicePlane | null, ensemble: ensembleOf(b), ...b.note }
}

export interface TranslateSettings {
  /**
   * 'zeros-at-t-max': the model was trained so that one call reading x = 0 at t = T−1 (σ_max, where
   * c_skip ≈ 0) is the posterior mean E[CT | MRI], a regression on the condition; mean mode is that
   * call and sampling starts from pure noise. null: an ε-model started from the bulk-density map.
   */
  meanCall: 'zeros-at-t-max' | null
  calibration?: string
}

export function translateSettings(card: SettingsCard): TranslateSettings {
  const b = block(card, 'translate')
  if (!b) return { meanCall: null }
  const m = b.get('mean_call') ?? null
  if (m !== null && m !== 'zeros-at-t-max') return b.bad('mean_call', '"zeros-at-t-max" or null')
  return { meanCall: m, ...b.note }
}
