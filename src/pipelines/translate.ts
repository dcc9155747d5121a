import type { Normalisation } from '../engine/index.js'
import type { Volume } from '../volume/volume.js'
import { denormalise, derivedVolume, normaliseVolume, provenance, sampleMany, setupTask } from './common.js'
import { guidedSample } from './guided-sampler.js'
import type { TaskContext, TaskOutput, TaskParams, TaskResult } from './task.js'

const MRI_DEFAULT: Normalisation = { kind: 'percentile', params: { low: 0.5, high: 99.5 } }
const WEAK_PAIRS = 'synthetic CT from a model trained without real same-subject MRI/CT pairs unless its card says otherwise: HU are approximate'

/**
 * MRI → CT with a conditional model: cond = the MRI normalised as the card's cond_normalisation
 * says; sampling from pure noise (few DDIM steps). --mode mean: the deterministic DDIM path from
 * x_T = 0, the prior's mean, rather than from a noise draw (the one-step x̂₀ at T is no estimate for
 * an ε-prediction model: it divides by α_T ≈ 0.006). Output in HU (inverse of the card's ct-window), rounded to int16 so writers store HU
 * exactly; modality CT, units HU.
 */
export async function translate(input: Volume, params: TaskParams, ctx: TaskContext = {}): Promise<TaskResult> {
  const t0 = performance.now()
  const s = await setupTask('translate', input, params, ctx, 10)
  const { card } = s.pm
  if (card.cond_channels < 1) throw new RangeError(`model ${card.name} is unconditional: translation needs a conditional (cond_channels ≥ 1) model`)
  if (card.normalisation.kind !== 'ct-window') throw new RangeError(`model ${card.name} does not output CT (its normalisation is not a ct-window)`)
  const cn = (card.cond_normalisation as Normalisation | undefined) ?? MRI_DEFAULT
  const cond = normaliseVolume(s.real, cn).data
  const range = { low: card.normalisation.params.low, high: card.normalisation.params.high }
  const steps = s.steps
  const totalSteps = steps * s.samples
  let done = 0
  const res = await sampleMany(s.samples, s.seed, async (seed) => {
    const x0 = await guidedSample(s.pm, s.size, {
      steps,
      seed,
      cond,
      zeroStart: params.mode === 'mean',
      signal: ctx.signal,
      onStep: () => s.progress('translate', ++done / totalSteps, done, totalSteps),
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
    provenance: provenance('translate', s, steps, { mode: params.mode ?? 'sample', window: range }, extra),
    report: { steps, window: range, seconds: (performance.now() - t0) / 1000 },
  }
}
