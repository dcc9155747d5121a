import type { Volume } from '../volume/volume.js'
import type { Device } from '../engine/index.js'

/**
 * The contract between the four pipelines and their two front ends (CLI, service). A task
 * takes one Volume and gives named Volumes back; it never sees a path (I/O stays at the edges).
 */
export type TaskName = 'denoise' | 'superres' | 'translate' | 'anomaly'
export const TASKS: readonly TaskName[] = ['denoise', 'superres', 'translate', 'anomaly']

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
  /** denoise: 'sample' (default) or 'mean' (posterior mean, best PSNR). */
  mode?: 'sample' | 'mean'
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

/** What each output is; file names are derived from it (`{stem}_desc-{role}.nii.gz`). */
export type OutputRole = 'denoised' | 'superres' | 'synthct' | 'healed' | 'heatmap' | 'mask' | 'std'

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
