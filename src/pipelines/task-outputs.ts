import type { TaskName } from './task-params.js'

/**
 * Each task's outputs, declared once for the CLI (file names, --resume), the service (how each is
 * written) and the viewer (which one is "enhanced"). Pure data: the viewer imports it.
 */
export const OUTPUT_ROLES = ['denoised', 'superres', 'synthct', 'healed', 'heatmap', 'mask', 'std'] as const
export type OutputRole = (typeof OUTPUT_ROLES)[number]

export interface TaskOutputs {
  /** What every run writes, first the one a named output file (-o x.nii.gz) gets. */
  always: readonly OutputRole[]
  /** The task's result image: the viewer shows it beside the original under `label`. */
  enhanced: OutputRole
  label: string
}

export const TASK_OUTPUTS: Record<TaskName, TaskOutputs> = {
  denoise: { always: ['denoised'], enhanced: 'denoised', label: 'Denoised' },
  superres: { always: ['superres'], enhanced: 'superres', label: 'Super-resolved' },
  translate: { always: ['synthct'], enhanced: 'synthct', label: 'Synthetic CT' },
  anomaly: { always: ['healed', 'heatmap', 'mask'], enhanced: 'healed', label: 'Pseudo-healthy' },
}

/** Written only with samples > 1: the per-voxel standard deviation over the K samples. */
export const SAMPLES_ROLE: OutputRole = 'std'

/** Every role a run with these samples writes. */
export function outputRoles(task: TaskName, samples = 1): OutputRole[] {
  return [...TASK_OUTPUTS[task].always, ...(samples > 1 ? [SAMPLES_ROLE] : [])]
}

/**
 * Roles that hold a measurement in its own units (scores, standard deviations): stored as float32,
 * never rounded to the input's integer type.
 */
export const FLOAT_ROLES: ReadonlySet<string> = new Set<OutputRole>(['heatmap', 'std'])
