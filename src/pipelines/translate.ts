import { EngineError, normaliseValue, oneStepX0, sampleVolumeState, type Normalisation } from '../engine/index.js'
import type { Volume } from '../volume/volume.js'
import { cardMetric, denormalise, derivedVolume, normaliseVolume, provenance, sampleMany, setupTask } from './common.js'
import { foregroundMask } from './volume-ops.js'
import type { TaskContext, TaskOutput, TaskParams, TaskResult } from './task.js'
import { PipelineError } from './errors.js'
import { translateSettings } from './restoration-settings.js'

const MRI_DEFAULT: Normalisation = { kind: 'percentile', params: { low: 0.5, high: 99.5 } }
const WEAK_PAIRS = 'synthetic CT from a model trained without real same-subject MRI/CT pairs unless its card says otherwise: HU are approximate'

/** Default start depth (of T = 1000) for translation from the bulk-density map (SDEdit-style). */
export const TRANSLATE_DEFAULT_DEPTH = 500

/**
 * MRI → CT with a conditional model: cond = the MRI normalised as the card's cond_normalisation
 * says. Sampling starts from the classical MR-only answer, the bulk-density map (head → 0 HU,
 * air → −1024 HU; head = normalised MRI above 10 % of its range), noised to t* (card
 * metrics.translate_depth, default 500) and denoised with the MRI as condition: the model only has
 * to supply what bulk density lacks (bone, air cavities, soft-tissue contrast). Measured with
 * mri2ct 0.1.0 on IXI162: from pure noise at T the sampled CT was noise (MAE 1043 HU: an undertrained
 * ε-model is useless at t ≳ 900, where x̂₀ divides by α ≈ 0.02), from bulk density at t* = 300 /
 * 500 / 700: 114 / 124 / 215 HU over the volume. --mode mean: the one-step x̂₀ at t* (a posterior
 * mean). Output in HU (inverse of the card's ct-window), rounded to int16 so writers store HU
 * exactly; modality CT, units HU.
 *
 * An x0-model whose card has `translate.mean_call: "zeros-at-t-max"` (mri2ct 0.2.0) was trained for
 * a posterior-mean call: x = 0 at t = T−1 with the MRI as cond, one call per slice. That is its
 * default (mean mode); its samples start from pure noise at T−1, and an explicit --depth still
 * starts from bulk density there.
 */
export async function translate(input: Volume, params: TaskParams, ctx: TaskContext = {}): Promise<TaskResult> {
  const t0 = performance.now()
  const s = await setupTask('translate', input, params, ctx, 10)
  const { card } = s.pm
  if (card.cond_channels < 1) throw new PipelineError('UNSUITABLE_MODEL', `model ${card.name} is unconditional: translation needs a conditional (cond_channels ≥ 1) model`)
  if (card.normalisation.kind !== 'ct-window') throw new PipelineError('UNSUITABLE_MODEL', `model ${card.name} does not output CT (its normalisation is not a ct-window)`)
  const cn = (card.cond_normalisation as Normalisation | undefined) ?? MRI_DEFAULT
  const cond = normaliseVolume(s.real, cn).data
  const range = { low: card.normalisation.params.low, high: card.normalisation.params.high }
  const settings = translateSettings(card)
  const fromNoise = settings.meanCall === 'zeros-at-t-max' && params.depth === undefined
  if (settings.meanCall !== null && card.prediction !== 'x0') throw new EngineError('MODEL_CONTRACT_MISMATCH', 'model card field "translate.mean_call" needs prediction "x0"', { source: card.name })
  const T = card.schedule.T
  const mode = params.mode ?? (s.samples > 1 || settings.meanCall === null ? 'sample' : 'mean')
  const depth = fromNoise ? T - 1 : Math.max(1, Math.min(T - 1, Math.round(params.depth ?? cardMetric(card, 'translate_depth') ?? TRANSLATE_DEFAULT_DEPTH)))
  const head = foregroundMask(cond, s.size)
  const water = normaliseValue(0, range)
  const air = normaliseValue(-1024, range)
  const bulk = Float32Array.from(head, (h) => (h ? water : air))
  const steps = mode === 'mean' ? 1 : Math.min(s.steps, depth + 1)
  const start = fromNoise ? (mode === 'mean' ? 'zeros at t = T-1 (posterior-mean call)' : 'pure noise') : 'bulk density'
  const onStep = s.stepper('translate', steps)
  const res = await sampleMany(s.samples, s.seed, async (seed) => {
    const x0 = fromNoise && mode === 'mean' ? await oneStepX0(s.pm, s.size, new Float32Array(bulk.length), T - 1, undefined, ctx.signal, onStep, cond) : await sampleVolumeState(s.pm, s.size, {
      sampler: params.sampler,
      steps,
      seed,
      cond,
      ...(fromNoise ? {} : { y: bulk }),
      startT: depth,
      signal: ctx.signal,
      onStep,
    })
    return denormalise(x0, range)
  })
  const hu = Int16Array.from(res.mean, (v) => Math.max(-32768, Math.min(32767, Math.round(v))))
  const ctMeta = { units: 'HU', windowCenter: 40, windowWidth: 400, rescaleSlope: 1, rescaleIntercept: 0 }
  const outputs: TaskOutput[] = [{ role: 'synthct' as const, volume: derivedVolume(input, hu, { modality: 'CT' }, ctMeta), label: 'synthetic CT in HU' }]
  if (res.std) outputs.push({ role: 'std' as const, volume: derivedVolume(input, res.std, { modality: 'CT' }, { units: 'HU' }), label: `per-voxel HU standard deviation over ${s.samples} samples` })
  const extra = card.limitations === undefined ? [WEAK_PAIRS] : []
  return {
    outputs,
    provenance: provenance('translate', s, steps, { mode, depth, start, window: range }, extra),
    report: { steps, depth, mode, start, window: range, seconds: (performance.now() - t0) / 1000 },
  }
}
