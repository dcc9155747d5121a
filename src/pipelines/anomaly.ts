import { sampleVolumeState, sliceAxis, type SlicePlane } from '../engine/index.js'
import type { Vec3, Volume } from '../volume/volume.js'
import { anomalyScore, robustStats } from './anomaly-score.js'
import { normaliseValue } from '../engine/normalise.js'
import { anomalySettings, type AnomalyMethod, type AnomalySettings, type Polarity } from './anomaly-settings.js'
import { denormalise, derivedVolume, normaliseVolume, provenance, sampleMany, setupTask, type Normalised } from './common.js'
import { lowFrequencyNoise } from './low-frequency-noise.js'
import { dilateMask, dropSmallComponents, erodeMask, fillHoles } from './mask-ops.js'
import { boxSize, cropBox, foregroundMask, gaussianBlur, maskBox, pasteBox, percentileOf, type Box } from './volume-ops.js'
import type { TaskContext, TaskOutput, TaskParams, TaskResult } from './task.js'
import { PipelineError } from './errors.js'

/** Residual smoothing (voxels): suppresses single-voxel residuals from sampling texture. */
const HEATMAP_SIGMA = 1.0
/** Voxels kept around the mask's bounding box: context for the model, beyond the blur's reach. */
const BOX_MARGIN = 16

const METHOD_LABEL: Record<AnomalyMethod, string> = {
  intensity: 'robust z-score of the input',
  diffusion: 'robust z-score of the healing residual input − healed',
  combined: 'mean of the robust z-scores of the input and of the healing residual',
}

/**
 * Anomaly heatmap and mask. Three scores (anomaly-score.ts), all in units of the scan's healthy-tissue
 * spread so one calibrated threshold means the same on every scan:
 * - diffusion: AnoDDPM-style healing (noise the normalised scan to depth t*, denoise back with the
 *   healthy prior, K healings averaged), score = robust z of the smoothed residual;
 * - intensity: robust z of the input (no model inference; the card still supplies the defaults);
 * - combined: the mean of both.
 * The score is taken inside the brain mask eroded by the card's erosion_mm (skull-stripping rims
 * are bright on FLAIR), median-filtered, signed by the card's polarity; mask = score > the card's
 * threshold for the method (calibrated on training cases, see the card's `anomaly.calibration`),
 * components smaller than min_component_mm3 dropped. Without a card threshold, the scan's 99th
 * percentile (flagged: the mask then means "the top 1%", not "abnormal").
 */
export async function anomaly(input: Volume, params: TaskParams, ctx: TaskContext = {}): Promise<TaskResult> {
  const t0 = performance.now()
  let settings: ReturnType<typeof anomalySettings> | undefined
  const s = await setupTask('anomaly', input, params, ctx, 10, (c) => {
    settings = anomalySettings(c)
    return { steps: settings.steps, samples: settings.samples }
  })
  const a = settings!
  const { card } = s.pm
  const method = params.method ?? a.method
  const heals = method !== 'intensity'
  const depth = Math.round(params.depth ?? a.depth)
  // A model learns to remove only the noise it was trained with: simplex (low-frequency) noise fed
  // to a Gaussian-trained prior is read as image shading and kept, so the healed image drifts to the
  // clip value (measured: healed lesion mean 0.99 vs input 0.78 on BraTS).
  const trainedNoise = (card.training_noise as string | undefined) ?? 'gaussian'
  const noise = params.noise ?? a.noise
  const polarity = params.polarity ?? a.polarity
  const steps = Math.min(s.steps, depth + 1)
  const x = normaliseVolume(s.real, card.normalisation)
  if (params.mask && params.mask.size.some((n, i) => n !== input.size[i])) throw new PipelineError('UNSUITABLE_INPUT', 'the anomaly mask must be on the input grid')
  const brain = params.mask ? Uint8Array.from(params.mask.data as ArrayLike<number>, (v) => (v ? 1 : 0)) : foregroundMask(x.data, s.size)
  // Only the mask's bounding box (+ margin) is healed: outside it nothing is scored, and on BraTS
  // the brain fills about a third of each 240² slice.
  const box = maskBox(brain, s.size, BOX_MARGIN) ?? { lo: [0, 0, 0] as Vec3, hi: [...s.size] as Vec3 }
  let healedMean: Float32Array | undefined
  let healedStd: Float32Array | undefined
  let candidateVoxels: number | undefined
  if (heals && a.healing === 'inpaint') {
    const cand = candidateRegion({ settings: a, polarity, real: s.real, brain, size: s.size, spacing: input.spacing })
    candidateVoxels = cand.voxels
    const cbox = candidateBox(cand.mask, s.size, card.plane, card.context_slices ?? 0)
    if (!cbox) healedMean = Float32Array.from(s.real)
    else {
      const sub = boxSize(cbox)
      const xs = cropBox(x.data, s.size, cbox)
      const ms = cropBox(Float32Array.from(cand.mask), s.size, cbox)
      const floor = a.healFloorPercentile === null ? undefined : healFloor(x.data, brain, cand.mask, a.healFloorPercentile)
      const bs = floor === undefined ? undefined : cropBox(Float32Array.from(brain), s.size, cbox)
      const keep = (x0: Float64Array): void => {
        for (let i = 0; i < x0.length; i++) {
          if (!ms[i]) x0[i] = xs[i]
          else if (bs && bs[i] && x0[i] < floor!) x0[i] = floor!
        }
      }
      const onStep = s.stepper('anomaly', steps)
      const res = await sampleMany(s.samples, s.seed, async (seed) => {
        const healed = await sampleVolumeState(s.pm, sub, { sampler: params.sampler, steps, seed, y: xs, startT: depth, correctX0: keep, signal: ctx.signal, onStep })
        const full = Float32Array.from(x.data)
        pasteBox(full, s.size, cbox, healed)
        const out = denormalise(full, x.range)
        // the input itself outside the candidates, not its normalised copy, which is clipped
        for (let i = 0; i < out.length; i++) if (!cand.mask[i]) out[i] = s.real[i]
        return out
      })
      healedMean = res.mean
      healedStd = res.std
    }
  } else if (heals) {
    const sub = boxSize(box)
    const xs = cropBox(x.data, s.size, box)
    const onStep = s.stepper('anomaly', steps)
    const res = await sampleMany(s.samples, s.seed, async (seed) => {
      const healed = await sampleVolumeState(s.pm, sub, { sampler: params.sampler, steps, seed, y: xs, startT: depth, startNoise: noise === 'simplex' ? lowFrequencyNoise(sub, seed) : undefined, signal: ctx.signal, onStep })
      const full = Float32Array.from(x.data)
      pasteBox(full, s.size, box, healed)
      return denormalise(full, x.range)
    })
    healedMean = res.mean
    healedStd = res.std
  }
  const scored = scoreAnomaly({ method, polarity, settings: a, real: s.real, normalised: x, healed: healedMean, brain, size: s.size, spacing: input.spacing })
  const { heatmap, mask, threshold, thresholdSource } = scored
  const warnings = [...scored.warnings]
  if (heals && noise === 'simplex' && trainedNoise !== 'simplex') warnings.push(`${card.name} was trained with ${trainedNoise} noise; simplex healing with it keeps the noise as shading and its heatmap is not meaningful`)
  const outputs: TaskOutput[] = []
  if (healedMean) outputs.push({ role: 'healed' as const, volume: derivedVolume(input, healedMean), label: `healed (pseudo-healthy) image${s.samples > 1 ? `, mean of ${s.samples}` : ''}` })
  outputs.push(
    { role: 'heatmap' as const, volume: derivedVolume(input, heatmap, {}, { units: undefined }), label: `anomaly heatmap (${method}): ${METHOD_LABEL[method]}, ${polarity === 'both' ? '|z|' : polarity === 'bright' ? 'bright side' : 'dark side'}${a.medianWidth > 1 ? `, median-filtered (width ${a.medianWidth})` : ''}, in units of the scan's healthy-tissue spread` },
    { role: 'mask' as const, volume: derivedVolume(input, mask, {}, { units: undefined }), label: `anomaly mask (${method} score > ${threshold.toPrecision(4)}, ${thresholdSource === 'card' ? 'calibrated threshold' : 'scan 99th percentile'}; components < ${a.minComponentMm3} mm³ dropped)` },
  )
  if (healedStd) outputs.push({ role: 'std' as const, volume: derivedVolume(input, healedStd), label: `per-voxel standard deviation of the healed image over ${s.samples} samples` })
  let maskVoxels = 0
  let brainVoxels = 0
  for (let i = 0; i < mask.length; i++) {
    maskVoxels += mask[i]
    brainVoxels += brain[i]
  }
  const chosen = {
    method,
    methodSource: params.method ? 'caller' : 'card',
    polarity,
    threshold,
    thresholdSource,
    ...(thresholdSource === 'card' && a.calibration ? { calibration: a.calibration } : {}),
    erosionMm: a.erosionMm,
    medianWidth: a.medianWidth,
    minComponentMm3: a.minComponentMm3,
    ...(heals ? { depth, noise, healing: a.healing, ...(a.healing === 'inpaint' ? { candidateZ: a.candidateZ, candidateDilateMm: a.candidateDilateMm, candidateVoxels, healFloorPercentile: a.healFloorPercentile } : {}) } : {}),
  }
  const prov = provenance('anomaly', s, heals ? steps : 0, { ...chosen, mask: params.mask ? 'given' : 'computed' })
  if (!heals) prov.samples = 1
  return {
    outputs,
    provenance: prov,
    report: { ...chosen, steps: heals ? steps : 0, components: scored.components, componentsDropped: scored.componentsDropped, maskVoxels, brainVoxels, warnings, seconds: (performance.now() - t0) / 1000 },
  }
}

export interface ScoredAnomaly {
  heatmap: Float32Array
  mask: Uint8Array
  threshold: number
  thresholdSource: 'card' | 'scan-p99'
  components: number
  componentsDropped: number
  warnings: string[]
}

/**
 * Heatmap and mask of one method from the input and (for diffusion / combined) its healed image in
 * input units: the post-processing half of the pipeline, exported so the evaluation and the
 * calibration score every method from one healing exactly as a job would.
 */
export function scoreAnomaly(o: {
  method: AnomalyMethod
  polarity: Polarity
  settings: AnomalySettings
  real: Float32Array
  /** The normalised input; needed with a healed image only. */
  normalised?: Normalised
  healed?: Float32Array
  brain: Uint8Array
  size: Vec3
  spacing: Vec3
}): ScoredAnomaly {
  const { method, settings: a, size } = o
  const scored = a.erosionMm > 0 ? erodeMask(o.brain, size, o.spacing, a.erosionMm) : o.brain
  const box = maskBox(o.brain, size, BOX_MARGIN) ?? { lo: [0, 0, 0] as Vec3, hi: [...size] as Vec3 }
  const sub = boxSize(box)
  const mBox = Uint8Array.from(cropBox(Float32Array.from(scored), size, box), (v) => (v ? 1 : 0))
  let residual: Float32Array | undefined
  let residualScale: number | undefined
  if (method !== 'intensity') {
    if (!o.healed || !o.normalised) throw new PipelineError('UNSUITABLE_INPUT', `the ${method} anomaly score needs the healed image and the normalised input`)
    // the signed residual in normalised units (polarity is applied to its z-score); the blur is
    // linear, so the residual of the mean healing is the mean of the K residuals
    const { data, range } = o.normalised
    const xs = cropBox(data, size, box)
    const hs = cropBox(o.healed, size, box)
    const d = Float32Array.from(hs, (v, i) => xs[i] - normaliseValue(v, range))
    residual = gaussianBlur(d, sub, [HEATMAP_SIGMA, HEATMAP_SIGMA, HEATMAP_SIGMA])
    // inpainting's residual is 0 outside the candidates, so its own spread (the full healing's unit)
    // would be 0: it is measured in the input's healthy-tissue spread instead
    if (a.healing === 'inpaint') residualScale = robustStats(data, o.brain).scale
  }
  // Raw intensities, not the normalised copy: normalisation clips at the volume's 99.5th percentile,
  // which on a skull-stripped scan falls inside the lesion and would tie its brightest voxels.
  const intensity = method === 'diffusion' ? undefined : cropBox(o.real, size, box)
  const heatmap = new Float32Array(o.real.length)
  pasteBox(heatmap, size, box, anomalyScore(method, { intensity, residual, residualScale }, mBox, sub, o.polarity, a.medianWidth))
  const warnings: string[] = []
  let threshold = a.thresholds[method]
  let thresholdSource: 'card' | 'scan-p99' = 'card'
  if (threshold === undefined) {
    threshold = percentileOf(heatmap, 99, scored)
    thresholdSource = 'scan-p99'
    warnings.push(`the model card has no ${method} threshold: the mask marks the top 1% of this scan’s heatmap inside the mask, not a calibrated abnormality level`)
  }
  const { mask, dropped, kept } = maskOf(heatmap, threshold, size, o.spacing, a.minComponentMm3)
  return { heatmap, mask, threshold, thresholdSource, components: kept, componentsDropped: dropped, warnings }
}

/** The mask a job writes: heatmap > threshold, 26-connected components under minComponentMm3 dropped. */
export function maskOf(heatmap: Float32Array, threshold: number, size: Vec3, spacing: Vec3, minComponentMm3: number): { mask: Uint8Array; dropped: number; kept: number } {
  const minVoxels = Math.ceil(minComponentMm3 / (spacing[0] * spacing[1] * spacing[2]))
  return dropSmallComponents(Uint8Array.from(heatmap, (v) => (v > threshold ? 1 : 0)), size, minVoxels)
}

/** The healing floor: the given percentile of the (normalised) input inside the brain, outside the candidates. */
export function healFloor(x: Float32Array, brain: Uint8Array, cand: Uint8Array, percentile: number): number | undefined {
  const v: number[] = []
  for (let i = 0; i < x.length; i++) if (brain[i] && !cand[i]) v.push(x[i])
  return v.length ? percentileOf(Float32Array.from(v), percentile) : undefined
}

/**
 * The box inpainting samples: the candidates' bounding box, BOX_MARGIN voxels of in-plane context for
 * the network, and along the slice axis only the 2.5D neighbours the edge candidates read. Slices with
 * no candidate have x̂₀ held to the input at every step, so their states never depend on the model:
 * the slices they would add beyond that change nothing but the time (about a fifth on BraTS).
 */
export function candidateBox(mask: Uint8Array, size: Vec3, plane: SlicePlane, contextSlices: number): Box | undefined {
  const margin: Vec3 = [BOX_MARGIN, BOX_MARGIN, BOX_MARGIN]
  margin[sliceAxis(plane)] = Math.max(1, contextSlices)
  return maskBox(mask, size, margin)
}

/**
 * The region inpainting healing re-samples: the intensity score (the card's post-processing) above
 * candidateZ, components under min_component_mm3 dropped, holes filled (a necrotic core inside
 * bright oedema is FLAIR-dark and would be missed by the intensity score alone), dilated by
 * candidateDilateMm, inside the brain.
 */
export function candidateRegion(o: { settings: AnomalySettings; polarity: Polarity; real: Float32Array; brain: Uint8Array; size: Vec3; spacing: Vec3 }): { mask: Uint8Array; voxels: number } {
  const a = o.settings
  const { heatmap } = scoreAnomaly({ method: 'intensity', polarity: o.polarity, settings: a, real: o.real, brain: o.brain, size: o.size, spacing: o.spacing })
  let m = maskOf(heatmap, a.candidateZ, o.size, o.spacing, a.minComponentMm3).mask
  m = fillHoles(m, o.size)
  if (a.candidateDilateMm > 0) m = dilateMask(m, o.size, o.spacing, a.candidateDilateMm)
  let voxels = 0
  for (let i = 0; i < m.length; i++) {
    m[i] = m[i] && o.brain[i] ? 1 : 0
    voxels += m[i]
  }
  return { mask: m, voxels }
}
