import { reorient, toCanonical } from '../engine/index.js'
import type { Volume } from '../volume/volume.js'
import { anomaly as anomalyCanonical } from './anomaly.js'
import { denoise as denoiseCanonical } from './denoise.js'
import { superres as superresCanonical } from './superres.js'
import type { TaskContext, TaskName, TaskParams, TaskResult } from './task.js'
import { PipelineError } from './errors.js'
import { translate as translateCanonical } from './translate.js'

export * from './task.js'
export { PipelineError, describeTaskFailure, type FailureKind, type TaskFailure } from './errors.js'
export { selectModel } from './select-model.js'
export { upsampledGeometry, superresAxes, superresInputAxes } from './superres.js'
export { estimateNoise, immerkaer, waveletMad } from './noise-estimate.js'

type Runner = (v: Volume, p: TaskParams, c?: TaskContext) => Promise<TaskResult>

/**
 * Card planes are anatomical (src/engine/canonical.ts): every task runs on the input reordered to
 * the closest canonical LPS voxel order, as the engine's sampler and training do, and each output
 * comes back in the input's voxel order (a pure reordering: no resampling, geometry exact).
 */
function onCanonicalGrid(run: Runner): Runner {
  return async (input, params = {}, ctx = {}) => {
    const canon = toCanonical(input)
    const p = params.mask ? { ...params, mask: reorient(params.mask, canon.reorientation) } : params
    const res = await run(canon.volume, p, ctx)
    return { ...res, outputs: res.outputs.map((o) => ({ ...o, volume: canon.undo(o.volume) })) }
  }
}

export const denoise = onCanonicalGrid(denoiseCanonical)
export const superres = onCanonicalGrid(superresCanonical)
export const translate = onCanonicalGrid(translateCanonical)
export const anomaly = onCanonicalGrid(anomalyCanonical)

const RUNNERS: Record<TaskName, Runner> = { denoise, superres, translate, anomaly }

/** The one entry point both front ends (CLI, service) call. */
export async function runTask(task: TaskName, input: Volume, params: TaskParams = {}, ctx: TaskContext = {}): Promise<TaskResult> {
  const run = RUNNERS[task]
  if (!run) throw new PipelineError('UNKNOWN_TASK', `unknown task ${String(task)}`)
  const result = await run(input, params, ctx)
  // the job's report says what ran the model as plainly as the provenance does
  if (result.provenance.execution) result.report = { ...result.report, execution: result.provenance.execution }
  return result
}
