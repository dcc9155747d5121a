import { createScheduler, oneStepX0, sampleVolumeState, timestepForAbar } from '../engine/index.js'
import type { Volume } from '../volume/volume.js'
import { denormalise, derivedVolume, normaliseVolume, provenance, sampleMany, setupTask } from './common.js'
import { estimateNoise } from './noise-estimate.js'
import { denoiseSettings } from './restoration-settings.js'
import type { TaskContext, TaskOutput, TaskParams, TaskResult } from './task.js'

/** x̂₀ may move at most this many noise σ from the input per voxel (soft data consistency). */
const CONSISTENCY_K = 3

/**
 * Partial-diffusion denoising (algorithms.md): estimate σ, map it to t* with ᾱ_{t*} = 1/(1+s²)
 * (s = σ in normalised units), start at α_{t*}·y without adding noise, run DDIM (η = 1 in 'sample'
 * mode: a posterior sample; 'mean' mode: the one-step Tweedie x̂₀ at t*), keep x̂₀ within 3σ of
 * the input, then (MRI) correct the Rician bias with √max(m² − 2σ², 0).
 */
export async function denoise(input: Volume, params: TaskParams, ctx: TaskContext = {}): Promise<TaskResult> {
  const t0 = performance.now()
  const s = await setupTask('denoise', input, params, ctx, 10)
  const { card } = s.pm
  // the best-PSNR estimate by default (the posterior mean); 'sample' draws posterior samples
  const mode = params.mode ?? (s.samples > 1 ? 'sample' : 'mean')
  // NIfTI carries no modality ('OT'): trust the model's, which was chosen for this kind of scan.
  const modality = input.modality === 'OT' ? card.modality : input.modality
  const est = estimateNoise(s.real, s.size, modality)
  const y = normaliseVolume(s.real, card.normalisation)
  const settings = denoiseSettings(card)
  // The model's noise level: the estimate times the card's calibrated scale (restoration-settings.ts).
  // The 3σ consistency bound and the Rician correction use the estimate itself.
  const sNorm = (2 * est.sigma * settings.sigmaScale) / (y.range.high - y.range.low)
  const sNoise = (2 * est.sigma) / (y.range.high - y.range.low)
  const sch = createScheduler('ddim', card.schedule, { prediction: card.prediction })
  // x0-models take a continuous t (their card's timestep mapping), so the level matches σ exactly
  const oneCall = mode === 'mean' && card.prediction === 'x0'
  const tStar = oneCall ? sch.timestepForNoise(sNorm) : timestepForAbar(sch, 1 / (1 + sNorm * sNorm))
  const steps = mode === 'mean' ? 1 : Math.min(s.steps, tStar + 1)
  const bound = CONSISTENCY_K * sNoise
  const rician = modality.toUpperCase() === 'MR' && est.method === 'rayleigh-background'
  const onStep = s.stepper('denoise', steps)
  const clamp = (x: Float32Array | Float64Array): void => {
    for (let i = 0; i < x.length; i++) {
      const d = x[i] - y.data[i]
      if (d > bound) x[i] = y.data[i] + bound
      else if (d < -bound) x[i] = y.data[i] - bound
    }
  }
  const res = await sampleMany(s.samples, s.seed, async (seed) => {
    const x0 = oneCall ? await oneStepX0(s.pm, s.size, y.data, tStar, clamp, ctx.signal, onStep) : await sampleVolumeState(s.pm, s.size, {
      sampler: params.sampler,
      steps,
      seed,
      y: y.data,
      startT: tStar,
      startNoise: 'none',
      eta: mode === 'mean' ? 0 : 1,
      correctX0: clamp,
      signal: ctx.signal,
      onStep,
    })
    const real = denormalise(x0, y.range)
    // Again in real units: voxels outside the normalisation range were clipped in [-1, 1].
    const b = CONSISTENCY_K * est.sigma
    for (let i = 0; i < real.length; i++) real[i] = s.real[i] + Math.max(-b, Math.min(b, real[i] - s.real[i]))
    if (rician) {
      const s2 = 2 * est.sigma * est.sigma
      for (let i = 0; i < real.length; i++) real[i] = Math.sqrt(Math.max(real[i] * real[i] - s2, 0))
    }
    return real
  })
  const outputs: TaskOutput[] = [{ role: 'denoised' as const, volume: derivedVolume(input, res.mean), label: s.samples > 1 ? `mean of ${s.samples} denoised samples` : `denoised (${mode})` }]
  if (res.std) outputs.push({ role: 'std' as const, volume: derivedVolume(input, res.std), label: `per-voxel standard deviation over ${s.samples} samples` })
  return {
    outputs,
    provenance: provenance('denoise', s, steps, { mode, tStar, sigma: est.sigma, sigmaScale: settings.sigmaScale, noiseMethod: est.method, ricianCorrection: rician }),
    report: {
      sigma: est.sigma,
      sigmaNormalised: sNoise,
      sigmaScale: settings.sigmaScale,
      ...(settings.calibration ? { sigmaScaleCalibration: settings.calibration } : {}),
      noiseMethod: est.method,
      tStar,
      steps,
      mode,
      ricianCorrection: rician,
      seconds: (performance.now() - t0) / 1000,
    },
  }
}
