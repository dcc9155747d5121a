import type { Volume } from '../volume/volume.js'
import type { FromSchema } from 'json-schema-to-ts'
import type { Device, ExecutionReport } from '../engine/index.js'
import type { TASK_PARAMS_SCHEMAS, TaskName } from './task-params.js'
import type { OutputRole } from './task-outputs.js'

export interface ModelExecution extends ExecutionReport {
  model: string
}

/**
 * The contract between the four pipelines and their two front ends (CLI, service). A task
 * takes one Volume and gives named Volumes back; it never sees a path (I/O stays at the edges).
 */
export { TASKS, type TaskName } from './task-params.js'
export type { OutputRole } from './task-outputs.js'

/**
 * What a pipeline reads. The front ends accept only what each task's schema allows
 * (task-params.ts); the checks below keep those schemas and this interface in step.
 */
export interface TaskParams {
  /** Model name (card `name`); default: the installed model that serves the task for the input's modality. */
  model?: string
  steps?: number
  seed?: number
  /** K > 1: K seeded samples, outputs the mean and a per-voxel standard-deviation map. */
  samples?: number
  device?: Device
  /** superres: 2 or 4. */
  scale?: number
  /** superres: which axes to upsample. */
  axes?: 'inplane' | 'through' | 'all'
  /** denoise, superres, translate: 'mean' (posterior mean / one Tweedie step: the best PSNR; default for denoise and superres) or 'sample' (a posterior sample; with --samples K, their mean and std). */
  mode?: 'sample' | 'mean'
  /** denoise, superres: 'auto' (default): mean mode averages the model over its card's views (engine/views.ts); 'off': one view. */
  ensemble?: 'auto' | 'off'
  /** The scheduler of multi-step runs: ddim (default), dpmpp (DPM-Solver++ 2M) or ddpm. */
  sampler?: 'ddim' | 'dpmpp' | 'ddpm'
  /** anomaly: noising depth t* (of T), and noise kind. */
  depth?: number
  noise?: 'gaussian' | 'simplex'
  /**
   * anomaly: which residual sign counts. 'bright': input brighter than the healed image (FLAIR
   * lesions are hyperintense); 'dark'; 'both': |input − healed|. Default: the card's, else 'both'.
   */
  polarity?: 'bright' | 'dark' | 'both'
  /**
   * anomaly: what the heatmap scores. 'diffusion': the healing residual; 'intensity': the input's
   * robust z-score (no healing); 'combined': both. Default: the card's (what measured best).
   */
  method?: 'diffusion' | 'intensity' | 'combined'
  /** anomaly: brain/body mask on the input grid (non-zero = inside); default: computed from the scan. */
  mask?: Volume
}

/** The parameters a task's schema admits, as the validated request body carries them. */
export type TaskParamsOf<T extends TaskName> = FromSchema<(typeof TASK_PARAMS_SCHEMAS)[T]>

// Compile-time: every schema's parameters are TaskParams (a schema property the pipelines do not
// know, or of another type, fails the typecheck here).
type Fits<T extends TaskParams> = T
export type CheckedTaskParams = Fits<TaskParamsOf<'denoise'>> | Fits<TaskParamsOf<'superres'>> | Fits<TaskParamsOf<'translate'>> | Fits<TaskParamsOf<'anomaly'>>

export interface TaskOutput {
  role: OutputRole
  volume: Volume
  /** One line for people: what this output is. */
  label: string
}

export interface Provenance {
  task: TaskName
  model: { name: string; version: string; sha256: string }
  steps: number
  seed: number
  samples: number
  device: string
  /**
   * What really ran the model: the device, the ORT providers and, on a GPU, how many nodes each
   * ran (ORT leaves some to the CPU provider) and whether the adapter is a software one.
   */
  execution?: ModelExecution
  params: Record<string, unknown>
  raddiffVersion: string
  notice: 'NOT FOR CLINICAL USE'
  /** Card limitations the user must see (e.g. weak MRI–CT pairs). */
  limitations?: string[]
}

export interface TaskResult {
  outputs: TaskOutput[]
  provenance: Provenance
  /** Numbers worth reporting: estimated noise level, t*, threshold, seconds per stage… */
  report: Record<string, unknown>
}

export interface TaskProgress {
  stage: string
  /** 0..1 over the whole task. */
  fraction: number
  step?: number
  totalSteps?: number
}

export interface TaskContext {
  /** Folder of ONNX models + cards (default: defaultModelsDir()). */
  modelsDir?: string
  signal?: AbortSignal
  onProgress?: (p: TaskProgress) => void
}
