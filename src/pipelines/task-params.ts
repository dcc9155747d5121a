/**
 * The one schema per task for its parameters (JSON Schema, `as const` so types follow from it).
 * The service validates job bodies with them (src/service/plugins/jobs.ts) and the CLI builds and
 * checks its options from them (src/cli/commands/task-options.ts): one set of limits, one place.
 * Pure data: the viewer may import it too.
 *
 * Limits that differed between the front ends before, and the value kept:
 * - samples ≤ 32 (the CLI allowed 64): each sample is a full sampling run, and the std map's own
 *   relative error, ≈ 1/√(2(K−1)), is 13 % at 32 and 9 % at 64, not worth twice the time;
 * - scale 2–8 (the CLI allowed 2–4): the range–null-space projection holds for any integer
 *   factor and the pipeline and the service accepted 2–8, so nothing that ran stops running;
 * - depth ≤ 999 (the service allowed 1000): t* is a timestep of a T = 1000 schedule, 0…T−1; the
 *   pipelines check it against the card's own T.
 */

export type TaskName = 'denoise' | 'superres' | 'translate' | 'anomaly'
export const TASKS: readonly TaskName[] = ['denoise', 'superres', 'translate', 'anomaly']

const common = {
  model: { type: 'string', minLength: 1, maxLength: 200, description: 'model name (default: the installed model serving this task for the input modality)' },
  steps: { type: 'integer', minimum: 1, maximum: 1000, description: 'sampler steps (default 10)' },
  seed: { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1, description: 'random seed (default 0)' },
  samples: { type: 'integer', minimum: 1, maximum: 32, description: 'K seeded samples: writes their mean and a per-voxel std map' },
  device: { type: 'string', enum: ['auto', 'cpu', 'cuda', 'webgpu'], description: 'auto | cpu | cuda | webgpu' },
  sampler: { type: 'string', enum: ['ddim', 'dpmpp', 'ddpm'], description: 'ddim (default) | dpmpp | ddpm: the scheduler of multi-step runs' },
} as const

const mode = { type: 'string', enum: ['sample', 'mean'], description: 'mean (posterior mean: best PSNR; the default for denoise and superres) | sample (a posterior sample)' } as const
const ensemble = { type: 'string', enum: ['auto', 'off'], description: 'auto (default): mean mode averages the model over the views its card names (mirrored slices; the three planes of a near-isotropic volume) | off: one view, faster' } as const
const depth = { type: 'integer', minimum: 1, maximum: 999, description: 'noising depth t of T' } as const

export const denoiseParamsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { ...common, mode, ensemble },
} as const

export const superresParamsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...common,
    scale: { type: 'integer', minimum: 2, maximum: 8, description: 'upsampling factor (default 2; 2 or 4 recommended)' },
    axes: { type: 'string', enum: ['inplane', 'through', 'all'], description: 'inplane | through | all' },
    depth: { ...depth, description: 'start depth t of T (default: the pipeline\'s)' },
    mode,
    ensemble,
  },
} as const

export const translateParamsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { ...common, depth: { ...depth, description: 'start depth t of T (default: the card\'s, else 500)' }, mode },
} as const

export const anomalyParamsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...common,
    depth: { ...depth, description: 'noising depth t of T (default: the card\'s)' },
    noise: { type: 'string', enum: ['gaussian', 'simplex'], description: 'gaussian | simplex (default: what the model was trained with)' },
    polarity: { type: 'string', enum: ['bright', 'dark', 'both'], description: 'bright | dark | both: which residual sign is abnormal (default: the card\'s)' },
    method: { type: 'string', enum: ['diffusion', 'intensity', 'combined'], description: 'diffusion | intensity | combined: what the heatmap scores (default: the card\'s, what measured best)' },
  },
} as const

export const TASK_PARAMS_SCHEMAS = {
  denoise: denoiseParamsSchema,
  superres: superresParamsSchema,
  translate: translateParamsSchema,
  anomaly: anomalyParamsSchema,
} as const
