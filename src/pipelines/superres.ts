import { EngineError, oneStepX0, orientationTowards, sampleVolumeState, schedulerFor, sliceAxis, viewLabel, type SlicePlane } from '../engine/index.js'
import type { Vec3, Volume } from '../volume/volume.js'
import { denormalise, derivedVolume, normaliseVolume, provenance, sampleMany, setupTask } from './common.js'
import { cubicUpsample, projectOntoMeasurement, type Axes } from './volume-ops.js'
import type { TaskContext, TaskOutput, TaskParams, TaskResult } from './task.js'
import { PipelineError } from './errors.js'
import { ensembleViews, superresSettings } from './restoration-settings.js'

/**
 * Start: the cell-centred cubic (Keys) upsampling of the input, made consistent (A x = y), noised to
 * t = 0.01·T. The noise only has to cover the interpolation's missing high frequencies; deeper
 * starts let the prior invent texture that is not the subject's. Measured with brain-t1 0.1.0 on 24
 * sagittal slices of IXI validation subject IXI162 (×2, PSNR in the brain): linear 23.33 dB;
 * mean mode from t = 20 / 50 / 100: 24.12 / 23.99 / 23.78; 5-step samples from 50 / 100: 23.75 /
 * 23.57. Cubic instead of linear start: 24.10 dB, made consistent 24.38 dB before the prior, and
 * after it (mean mode) 24.28 from t = 10, 24.20 from t = 20: with brain-t1 0.1.0 the prior does not
 * yet add detail the consistent cubic start lacks (an undertrained model smooths at small t).
 * --depth overrides it.
 */
export const SUPERRES_START_FRACTION = 0.01

/** Voxel axes upsampled: in-plane = the two axes of the model's slice plane, through = the slice axis. */
export function superresAxes(plane: SlicePlane, which: 'inplane' | 'through' | 'all' = 'inplane'): Axes {
  if (which === 'all') return [true, true, true]
  const ax = sliceAxis(plane)
  return [0, 1, 2].map((d) => (which === 'through' ? d === ax : d !== ax)) as Axes
}

/**
 * The same axes in a volume's own voxel order: pipelines run on the canonical LPS grid (the card's
 * plane is anatomical), whose axis a is the input's voxel axis perm[a].
 */
export function superresInputAxes(v: Pick<Volume, 'direction'>, plane: SlicePlane, which: 'inplane' | 'through' | 'all' = 'inplane'): Axes {
  const canon = superresAxes(plane, which)
  const { perm } = orientationTowards(v.direction)
  const axes: Axes = [false, false, false]
  for (let a = 0; a < 3; a++) if (canon[a]) axes[perm[a]] = true
  return axes
}

/**
 * Geometry of the upsampled grid: spacing / f along each upsampled axis, and the origin moved so
 * that the field of view stays put: new voxel 0 is centred at old index −(f−1)/(2f).
 */
export function upsampledGeometry(v: Pick<Volume, 'size' | 'spacing' | 'origin' | 'direction'>, f: number, axes: Axes): { size: Vec3; spacing: Vec3; origin: Vec3 } {
  const size = v.size.map((n, d) => (axes[d] ? n * f : n)) as Vec3
  const spacing = v.spacing.map((s, d) => (axes[d] ? s / f : s)) as Vec3
  const origin = [...v.origin] as Vec3
  const shift = -(f - 1) / (2 * f)
  for (let j = 0; j < 3; j++) {
    if (!axes[j]) continue
    for (let r = 0; r < 3; r++) origin[r] += v.direction[r * 3 + j] * v.spacing[j] * shift
  }
  return { size, spacing, origin }
}

const AXIS_NAMES = ['L–R', 'A–P', 'S–I']

/**
 * `--axes through` upsamples the slice axis of the model's plane. A volume whose slices are thick
 * along another axis (an axial thick-slice scan given to a sagittal model) would be upsampled along
 * the wrong axis without a word: refused instead. The input is on the canonical grid (axis 0 = L–R).
 */
function checkThickAxis(input: Pick<Volume, 'spacing'>, plane: SlicePlane, model: string): void {
  const ax = sliceAxis(plane)
  const thickest = [0, 1, 2].reduce((a, b) => (input.spacing[b] > input.spacing[a] ? b : a), ax)
  if (thickest !== ax && input.spacing[thickest] > 1.25 * input.spacing[ax]) {
    throw new PipelineError('INVALID_PARAMS', `--axes through upsamples the ${AXIS_NAMES[ax]} axis (the slice axis of model ${model}'s ${plane} plane), but this volume's slices are thickest along ${AXIS_NAMES[thickest]}; no model here is trained for that: use --axes all, or a model whose plane has ${AXIS_NAMES[thickest]} as its slice axis`)
  }
}

/**
 * Two kinds of model (the card's `superres.conditioning`). A conditioned model (brain-t1-sr) takes
 * the consistent cubic upsampling as `cond`; its mean mode is one call reading that same volume as
 * the state at `superres.mean_sigma` (what it was trained for), its samples start from pure noise.
 * An unconditioned prior runs DDNM super-resolution: A = average-pool by f, A† = replicate-upsample (A A† = I). Each DDIM step
 * replaces the range-space part of x̂₀ by the measurement: x̂₀ ← x̂₀ + A†(y − A x̂₀). A final
 * projection in real units makes A(output) = input to float precision (the normalisation clips).
 * mode 'mean': one step, the projected Tweedie x̂₀ at the start depth (higher PSNR, less detail).
 */
export async function superres(input: Volume, params: TaskParams, ctx: TaskContext = {}): Promise<TaskResult> {
  const t0 = performance.now()
  const f = params.scale ?? 2
  if (!Number.isInteger(f) || f < 2 || f > 8) throw new PipelineError('INVALID_PARAMS', 'superres scale must be an integer from 2 to 8 (2 or 4 recommended)')
  const s = await setupTask('superres', input, params, ctx, 10)
  const { card } = s.pm
  const axes = superresAxes(card.plane, params.axes ?? 'inplane')
  if (params.axes === 'through') checkThickAxis(input, card.plane, card.name)
  const geom = upsampledGeometry(input, f, axes)
  const y = normaliseVolume(s.real, card.normalisation)
  const mode = params.mode ?? (s.samples > 1 ? 'sample' : 'mean')
  // x0-models in mean mode: one call on the consistent cubic start, read at the card's calibrated
  // noise level without adding noise (the interpolation's missing detail plays the noise's part).
  const settings = superresSettings(card)
  // a conditioned model reads the consistent cubic upsampling as cond and, in mean mode, as the state at
  // its card's mean_sigma (what it was trained for); its samples start from pure noise
  const conditioned = settings.conditioning === 'consistent-cubic'
  if (conditioned && card.cond_channels !== 2 * (card.context_slices ?? 0) + 1) throw new EngineError('MODEL_CONTRACT_MISMATCH', `model card is marked superres.conditioning consistent-cubic but takes ${card.cond_channels} cond channels (its 2.5D context needs ${2 * (card.context_slices ?? 0) + 1})`, { source: card.name })
  if (conditioned && settings.meanSigma === null) throw new EngineError('MODEL_CONTRACT_MISMATCH', 'model card field "superres.mean_sigma" is required with superres.conditioning', { source: card.name })
  const meanSigma = params.axes === 'through' && settings.meanSigmaThrough !== null ? settings.meanSigmaThrough : settings.meanSigma
  const oneCall = mode === 'mean' && card.prediction === 'x0' && meanSigma !== null && params.depth === undefined
  const T = card.schedule.T
  const startT = oneCall ? schedulerFor(card).timestepForNoise(meanSigma!) : conditioned ? (params.depth ?? T - 1) : (params.depth ?? Math.round(SUPERRES_START_FRACTION * T) - 1)
  // thick slices: the model may run in a plane that holds the thick axis (the axes above stay the card plane's)
  const plane = params.axes === 'through' && settings.planeThrough ? settings.planeThrough : card.plane
  const vm = plane === card.plane ? s.pm : { ...s.pm, card: { ...card, plane } }
  // the one-call estimate averaged over the card's views, on the output grid; samples stay one view
  const views = ensembleViews(settings.ensemble, plane, geom.spacing, oneCall ? (params.ensemble ?? 'auto') : 'off')
  const viewNames = views.map(viewLabel)
  const steps = mode === 'mean' ? 1 : Math.min(s.steps, startT + 1)
  const project = (x: Float32Array | Float64Array, target: Float32Array): void => projectOntoMeasurement(x, geom.size, target, f, axes)
  const up = cubicUpsample(y.data, s.size, f, axes).data
  project(up, y.data)
  const cond = conditioned ? up : undefined
  const onStep = s.stepper('superres', steps)
  const res = await sampleMany(s.samples, s.seed, async (seed) => {
    const x0 = oneCall ? await oneStepX0({ ...vm, views }, geom.size, up, startT, (x) => project(x, y.data), ctx.signal, onStep, cond) : await sampleVolumeState(vm, geom.size, {
      sampler: params.sampler,
      steps,
      seed,
      ...(conditioned && startT >= T - 1 ? {} : { y: up }),
      startT,
      cond,
      correctX0: (x) => project(x, y.data),
      signal: ctx.signal,
      onStep,
    })
    const real = denormalise(x0, y.range)
    project(real, s.real)
    return real
  })
  const g = { size: geom.size, spacing: geom.spacing, origin: geom.origin }
  const outputs: TaskOutput[] = [{ role: 'superres' as const, volume: derivedVolume(input, res.mean, g), label: `×${f} super-resolution${s.samples > 1 ? ` (mean of ${s.samples})` : ''}` }]
  if (res.std) outputs.push({ role: 'std' as const, volume: derivedVolume(input, res.std, g), label: `per-voxel standard deviation over ${s.samples} samples` })
  return {
    outputs,
    provenance: provenance('superres', s, steps, { scale: f, axes: params.axes ?? 'inplane', plane, views: viewNames, startT, mode, ...(conditioned ? { conditioning: settings.conditioning } : {}), ...(oneCall ? { meanSigma } : {}) }),
    report: { scale: f, axes, plane, views: viewNames, startT, steps, mode, ...(conditioned ? { conditioning: settings.conditioning } : {}), ...(oneCall ? { meanSigma, meanSigmaCalibration: settings.calibration } : {}), size: geom.size, seconds: (performance.now() - t0) / 1000 },
  }
}
