import type { TaskContext, TaskName, TaskParams, TaskResult } from '../../src/pipelines/task.js'
import { createVolume, withFloatData, type Volume } from '../../src/volume/volume.js'
import { runTask as stub } from '../service/stub-task.js'

/**
 * The service stub, but its outputs are large noisy float volumes, so gzip-writing them takes a
 * second or more: a window in which a test can kill the server during an output write.
 */
export async function runTask(task: TaskName, input: Volume, params: TaskParams, ctx: TaskContext): Promise<TaskResult> {
  const r = await stub(task, input, params, ctx)
  const size: [number, number, number] = [192, 192, 128]
  let seed = 12345
  const noise = () => new Float32Array(size[0] * size[1] * size[2]).map(() => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 1000)
  const big = createVolume({ data: noise(), size, spacing: [1, 1, 1], modality: input.modality })
  r.outputs = (['healed', 'heatmap', 'std'] as const).map((role) => ({ role, volume: withFloatData(big, noise()), label: `slow ${role}` }))
  return r
}
