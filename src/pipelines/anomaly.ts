import { sampleVolumeState } from '../engine/index.js'
import type { Vec3, Volume } from '../volume/volume.js'
import { lowFrequencyNoise } from './low-frequency-noise.js'
import { cardMetric, denormalise, derivedVolume, normaliseVolume, provenance, sampleMany, setupTask } from './common.js'
import { boxSize, cropBox, foregroundMask, gaussianBlur, maskBox, pasteBox, percentileOf } from './volume-ops.js'
import type { TaskContext, TaskOutput, TaskParams, TaskResult } from './task.js'
import { PipelineError } from './errors.js'

export const DEFAULT_DEPTH = 350
/** Residual smoothing (voxels): suppresses single-voxel residuals from sampling texture. */
const HEATMAP_SIGMA = 1.0
/** Voxels kept around the mask's bounding box: context for the model, beyond the blur's reach. */
const BOX_MARGIN = 16

/**
 * AnoDDPM-style healing: noise the normalised scan to depth λ (Gaussian, or low-frequency
 * "simplex" noise for models trained with it), denoise back with the healthy prior (DDIM),
 * heatmap = Gaussian-smoothed residual x − x̂ of the card's polarity (normalised units) inside the
 * head/brain mask, mask = heatmap > threshold, threshold
 * from the card (metrics.anomaly_threshold, set on healthy validation data) or, failing that, the
 * 99th percentile of this scan's heatmap inside the mask (flagged in the report: then the mask
 * means "the top 1%", not "abnormal"). K samples: heatmaps and healed images are averaged, and
 * the std output is the spread of the healed image.
 */
export async function anomaly(input: Volume, params: TaskParams, ctx: TaskContext = {}): Promise<TaskResult> {
  const t0 = performance.now()
  // The card may recommend steps and K (averaging K healings cuts the false positives that one
  // sampled healing leaves in healthy tissue; measured on BraTS: AUROC 0.71 → 0.75 with K = 3).
  const s = await setupTask('anomaly', input, params, ctx, 10, (c) => ({ steps: cardMetric(c, 'anomaly_steps'), samples: cardMetric(c, 'anomaly_samples') }))
  const { card } = s.pm
  const metrics = card.metrics as Record<string, unknown> | undefined
  const depth = Math.round(params.depth ?? cardMetric(card, 'anomaly_depth') ?? DEFAULT_DEPTH)
  // A model learns to remove only the noise it was trained with: simplex (low-frequency) noise fed
  // to a Gaussian-trained prior is read as image shading and kept, so the healed image drifts to the
  // clip value (measured: healed lesion mean 0.99 vs input 0.78 on BraTS). Gaussian unless the card
  // says the model was trained with simplex noise.
  const trainedNoise = (card.training_noise as string | undefined) ?? 'gaussian'
  const noise = params.noise ?? ((metrics?.anomaly_noise as 'gaussian' | 'simplex' | undefined) ?? (trainedNoise === 'simplex' ? 'simplex' : 'gaussian'))
  const polarity = params.polarity ?? ((metrics?.anomaly_polarity as 'bright' | 'dark' | 'both' | undefined) ?? 'both')
  const steps = Math.min(s.steps, depth + 1)
  const x = normaliseVolume(s.real, card.normalisation)
  if (params.mask && params.mask.size.some((n, i) => n !== input.size[i])) throw new PipelineError('UNSUITABLE_INPUT', 'the anomaly mask must be on the input grid')
  const brain = params.mask ? Uint8Array.from(params.mask.data as ArrayLike<number>, (v) => (v ? 1 : 0)) : foregroundMask(x.data, s.size)
  const onStep = s.stepper('anomaly', steps)
  // Only the mask's bounding box (+ margin) is healed: outside it nothing is scored, and on BraTS
  // the brain fills about a third of each 240² slice.
  const box = maskBox(brain, s.size, BOX_MARGIN) ?? { lo: [0, 0, 0] as Vec3, hi: [...s.size] as Vec3 }
  const sub = boxSize(box)
  const xs = cropBox(x.data, s.size, box)
  const heatSub = new Float64Array(xs.length)
  const res = await sampleMany(s.samples, s.seed, async (seed) => {
    const healed = await sampleVolumeState(s.pm, sub, {
      sampler: params.sampler,
      steps,
      seed,
      y: xs,
      startT: depth,
      startNoise: noise === 'simplex' ? lowFrequencyNoise(sub, seed) : undefined,
      signal: ctx.signal,
      onStep,
    })
    const r = new Float32Array(healed.length)
    for (let i = 0; i < r.length; i++) {
      const d = xs[i] - healed[i]
      r[i] = polarity === 'bright' ? Math.max(d, 0) : polarity === 'dark' ? Math.max(-d, 0) : Math.abs(d)
    }
    const h = gaussianBlur(r, sub, [HEATMAP_SIGMA, HEATMAP_SIGMA, HEATMAP_SIGMA])
    for (let i = 0; i < h.length; i++) heatSub[i] += h[i] / s.samples
    const full = Float32Array.from(x.data)
    pasteBox(full, s.size, box, healed)
    return denormalise(full, x.range)
  })
  const heatmap = new Float32Array(x.data.length)
  pasteBox(heatmap, s.size, box, Float32Array.from(heatSub))
  for (let i = 0; i < heatmap.length; i++) if (!brain[i]) heatmap[i] = 0
  const warnings: string[] = []
  if (noise === 'simplex' && trainedNoise !== 'simplex') warnings.push(`${card.name} was trained with ${trainedNoise} noise; simplex healing with it keeps the noise as shading and its heatmap is not meaningful`)
  let threshold = cardMetric(card, 'anomaly_threshold')
  let thresholdSource = 'card'
  if (threshold === undefined) {
    threshold = percentileOf(heatmap, 99, brain)
    thresholdSource = 'scan-p99'
    warnings.push('the model card has no anomaly_threshold: the mask marks the top 1% of this scan’s heatmap inside the mask, not a calibrated abnormality level')
  }
  const mask = Uint8Array.from(heatmap, (v) => (v > threshold! ? 1 : 0))
  const outputs: TaskOutput[] = [
    { role: 'healed' as const, volume: derivedVolume(input, res.mean), label: `healed (pseudo-healthy) image${s.samples > 1 ? `, mean of ${s.samples}` : ''}` },
    { role: 'heatmap' as const, volume: derivedVolume(input, heatmap, {}, { units: undefined }), label: `anomaly heatmap: smoothed ${polarity === 'both' ? '|input − healed|' : polarity === 'bright' ? 'max(input − healed, 0)' : 'max(healed − input, 0)'} in normalised units` },
    { role: 'mask' as const, volume: derivedVolume(input, mask, {}, { units: undefined }), label: `anomaly mask (heatmap > ${threshold.toPrecision(4)})` },
  ]
  if (res.std) outputs.push({ role: 'std' as const, volume: derivedVolume(input, res.std), label: `per-voxel standard deviation of the healed image over ${s.samples} samples` })
  let maskVoxels = 0
  let brainVoxels = 0
  for (let i = 0; i < mask.length; i++) {
    maskVoxels += mask[i]
    brainVoxels += brain[i]
  }
  return {
    outputs,
    provenance: provenance('anomaly', s, steps, { depth, noise, polarity, threshold, thresholdSource, mask: params.mask ? 'given' : 'computed' }),
    report: { depth, noise, polarity, steps, threshold, thresholdSource, maskVoxels, brainVoxels, warnings, seconds: (performance.now() - t0) / 1000 },
  }
}
