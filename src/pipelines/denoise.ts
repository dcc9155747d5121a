import { oneStepX0, sampleVolumeState, viewLabel } from '../engine/index.js'
import type { Volume } from '../volume/volume.js'
import { derivedVolume, provenance, sampleMany, setupTask } from './common.js'
import { clampToInput, denoiseLevel, finishDenoised } from './denoise-level.js'
import { ensembleViews } from './restoration-settings.js'
import type { TaskContext, TaskOutput, TaskParams, TaskResult } from './task.js'

/**
 * Partial-diffusion denoising (algorithms.md): estimate σ, map it to t* with ᾱ_{t*} = 1/(1+s²)
 * (s = σ in normalised units), start at α_{t*}·y without adding noise, run DDIM (η = 1 in 'sample'
 * mode: a posterior sample; 'mean' mode: the one-step Tweedie x̂₀ at t*), keep x̂₀ within 3σ of
 * the input, then (MRI) correct the Rician bias of a mean magnitude with √max(m² − σ², 0).
 */
export async function denoise(input: Volume, params: TaskParams, ctx: TaskContext = {}): Promise<TaskResult> {
  const t0 = performance.now()
  const s = await setupTask('denoise', input, params, ctx, 10)
  const { card } = s.pm
  // the best-PSNR estimate by default (the posterior mean); 'sample' draws posterior samples
  const mode = params.mode ?? (s.samples > 1 ? 'sample' : 'mean')
  const lv = denoiseLevel(card, s.real, s.size, input.modality, mode)
  const { est, tStar, oneCall, rician } = lv
  const steps = mode === 'mean' ? 1 : Math.min(s.steps, tStar + 1)
  const onStep = s.stepper('denoise', steps)
  const clamp = (x: Float32Array | Float64Array): void => clampToInput(x, lv.y, lv.bound)
  // the one-call estimate averaged over the card's views (a sample stays one view: its noise, not the model's error, dominates)
  const views = ensembleViews(lv.settings.ensemble, card.plane, input.spacing, oneCall ? (params.ensemble ?? 'auto') : 'off')
  const viewNames = views.map(viewLabel)
  const res = await sampleMany(s.samples, s.seed, async (seed) => {
    const x0 = oneCall ? await oneStepX0({ ...s.pm, views }, s.size, lv.y, tStar, clamp, ctx.signal, onStep) : await sampleVolumeState(s.pm, s.size, {
      sampler: params.sampler,
      steps,
      seed,
      y: lv.y,
      startT: tStar,
      startNoise: 'none',
      eta: mode === 'mean' ? 0 : 1,
      correctX0: clamp,
      signal: ctx.signal,
      onStep,
    })
    return finishDenoised(x0, lv, s.real)
  })
  const outputs: TaskOutput[] = [{ role: 'denoised' as const, volume: derivedVolume(input, res.mean), label: s.samples > 1 ? `mean of ${s.samples} denoised samples` : `denoised (${mode})` }]
  if (res.std) outputs.push({ role: 'std' as const, volume: derivedVolume(input, res.std), label: `per-voxel standard deviation over ${s.samples} samples` })
  return {
    outputs,
    provenance: provenance('denoise', s, steps, { mode, tStar, sigma: est.sigma, sigmaScale: lv.sigmaScale, inputBlend: lv.blend, noiseMethod: est.method, ricianCorrection: rician, views: viewNames }),
    report: {
      sigma: est.sigma,
      sigmaNormalised: lv.sNorm,
      sigmaScale: lv.sigmaScale,
      inputBlend: lv.blend,
      ...(lv.settings.calibration ? { sigmaScaleCalibration: lv.settings.calibration } : {}),
      noiseMethod: est.method,
      tStar,
      steps,
      mode,
      views: viewNames,
      ricianCorrection: rician,
      seconds: (performance.now() - t0) / 1000,
    },
  }
}
