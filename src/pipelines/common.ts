import path from 'node:path'
import { defaultModelsDir, executionReport, prepareModel, type PreparedModel, normalisationRange, normaliseValue, denormaliseValue, type IntensityRange, type Normalisation } from '../engine/index.js'
import { IoError } from '../io/errors.js'
import { createVolume, toFloat32, type Vec3, type Volume } from '../volume/volume.js'
import { NOT_FOR_CLINICAL_USE, RADDIFF_VERSION } from '../version.js'
import { selectModel } from './select-model.js'
import type { Provenance, TaskContext, TaskName, TaskParams, TaskProgress } from './task.js'
import { PipelineError } from './errors.js'

export interface Normalised {
  data: Float32Array
  range: IntensityRange
}

/** Whole-volume normalisation (per-slice normalisation would make stripes). */
export function normaliseVolume(real: Float32Array, norm: Normalisation): Normalised {
  const range = normalisationRange(norm.kind === 'percentile' ? real : [], norm)
  return { data: Float32Array.from(real, (v) => normaliseValue(v, range)), range }
}

export function denormalise(x: Float32Array, range: IntensityRange): Float32Array {
  return Float32Array.from(x, (v) => denormaliseValue(v, range))
}

/** A float32 volume on a given grid, carrying the input's metadata without its rescale. */
export function derivedVolume(like: Volume, data: Float32Array | Int16Array | Uint8Array, geom: Partial<Pick<Volume, 'size' | 'spacing' | 'origin' | 'modality'>> = {}, meta: Record<string, unknown> = {}): Volume {
  return createVolume({
    data,
    size: geom.size ?? like.size,
    spacing: geom.spacing ?? like.spacing,
    origin: geom.origin ?? like.origin,
    direction: like.direction,
    modality: geom.modality ?? like.modality,
    meta: like.meta.clone({ rescaleSlope: 1, rescaleIntercept: 0, ...meta }),
  })
}

export interface TaskSetup {
  pm: PreparedModel
  real: Float32Array
  size: Vec3
  steps: number
  seed: number
  samples: number
  progress: (stage: string, fraction: number, step?: number, totalSteps?: number) => void
  /** An onStep callback reporting progress over `samples` runs of `stepsPerSample` steps. */
  stepper: (stage: string, stepsPerSample: number) => () => void
}

/** A finite number from the card's metrics (model-specific pipeline settings live there). */
export function cardMetric(card: PreparedModel['card'], key: string): number | undefined {
  const v = (card.metrics as Record<string, unknown> | undefined)?.[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/** cardDefaults: steps / samples a model's card recommends, used when the caller gives none. */
export async function setupTask(task: TaskName, input: Volume, params: TaskParams, ctx: TaskContext, defaultSteps: number, cardDefaults?: (card: PreparedModel['card']) => { steps?: number; samples?: number }): Promise<TaskSetup> {
  // the models are trained on grey scans; colour (ultrasound, visible light) can be converted, not processed
  if (input.components !== 1) {
    throw new IoError('UNSUPPORTED_PIXEL_FORMAT', 'the tasks need a grayscale volume: colour images can be converted (raddiff convert) but not processed')
  }
  const sel = await selectModel(task, input, ctx.modelsDir ?? defaultModelsDir(), params.model, task === 'superres' ? { superresAxes: params.axes ?? 'inplane' } : {})
  const pm = await prepareModel(sel.cardPath, params.device ?? 'auto')
  // A depth past the card's schedule is the caller's mistake, not the scheduler's RangeError (internal).
  if (params.depth !== undefined && params.depth > pm.card.schedule.T - 1) throw new PipelineError('INVALID_PARAMS', `depth must be at most ${pm.card.schedule.T - 1} for model ${pm.card.name}`)
  const d = cardDefaults?.(pm.card) ?? {}
  const steps = Math.max(1, Math.floor(params.steps ?? d.steps ?? defaultSteps))
  const samples = Math.max(1, Math.floor(params.samples ?? d.samples ?? 1))
  const progress = (stage: string, fraction: number, step?: number, totalSteps?: number): void => {
    const p: TaskProgress = { stage, fraction: Math.min(1, Math.max(0, fraction)) }
    if (step !== undefined) p.step = step
    if (totalSteps !== undefined) p.totalSteps = totalSteps
    ctx.onProgress?.(p)
  }
  const stepper = (stage: string, stepsPerSample: number): (() => void) => {
    const total = stepsPerSample * samples
    let done = 0
    return () => progress(stage, ++done / total, done, total)
  }
  return { pm, real: toFloat32(input), size: [...input.size] as Vec3, steps, seed: Math.floor(params.seed ?? 0), samples, progress, stepper }
}

/** Card limitations (string or list) plus what the pipeline itself wants users to know. */
export function cardLimitations(pm: PreparedModel, extra: string[] = []): string[] | undefined {
  const raw = pm.card.limitations
  const list = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw.filter((s): s is string => typeof s === 'string') : []
  const all = [...list, ...extra]
  return all.length > 0 ? all : undefined
}

export function provenance(task: TaskName, s: TaskSetup, steps: number, params: Record<string, unknown>, extraLimitations: string[] = []): Provenance {
  const { card } = s.pm
  const p: Provenance = {
    task,
    model: { name: card.name, version: card.version, sha256: card.sha256 },
    steps,
    seed: s.seed,
    samples: s.samples,
    device: s.pm.device,
    params,
    raddiffVersion: RADDIFF_VERSION,
    notice: NOT_FOR_CLINICAL_USE,
  }
  const ran = executionReport(path.resolve(path.dirname(s.pm.cardPath), card.file), s.pm.device)
  if (ran) p.execution = { model: card.name, ...ran }
  const lim = cardLimitations(s.pm, extraLimitations)
  if (lim) p.limitations = lim
  return p
}

/** Runs K seeded samples (seed, seed+1, …) and returns their mean and per-voxel standard deviation. */
export async function sampleMany(K: number, seed: number, run: (seed: number, k: number) => Promise<Float32Array>): Promise<{ mean: Float32Array; std?: Float32Array; first: Float32Array }> {
  const first = await run(seed, 0)
  if (K <= 1) return { mean: first, first }
  const mean = new Float64Array(first)
  const m2 = new Float64Array(first.length)
  for (let k = 1; k < K; k++) {
    const x = await run(seed + k, k)
    for (let i = 0; i < x.length; i++) {
      const d = x[i] - mean[i]
      mean[i] += d / (k + 1)
      m2[i] += d * (x[i] - mean[i])
    }
  }
  return { mean: Float32Array.from(mean), std: Float32Array.from(m2, (v) => Math.sqrt(Math.max(v, 0) / (K - 1))), first }
}
