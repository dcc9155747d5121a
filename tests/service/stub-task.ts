import { EngineError } from '../../src/engine/errors.js'
import type { TaskContext, TaskName, TaskParams, TaskResult } from '../../src/pipelines/task.js'
import { toFloat32, withFloatData, type Volume } from '../../src/volume/volume.js'

/**
 * A fast, deterministic stand-in for the pipelines: 'denoised' (or the task's role) is the input's
 * real values unchanged, anomaly adds a float heatmap. RADDIFF_STUB_STEP_MS slows each of its 10
 * steps (for cancel and restart tests); the abort signal is honoured between steps.
 */
export async function runTask(task: TaskName, input: Volume, params: TaskParams, ctx: TaskContext): Promise<TaskResult> {
  const stepMs = Number(process.env.RADDIFF_STUB_STEP_MS ?? 0)
  const steps = 10
  for (let s = 1; s <= steps; s++) {
    if (ctx.signal?.aborted) throw new EngineError('CANCELLED', 'the job was cancelled')
    if (stepMs > 0) await new Promise((r) => setTimeout(r, stepMs))
    ctx.onProgress?.({ stage: 'sampling', fraction: s / steps, step: s, totalSteps: steps })
  }
  const base = withFloatData(input, Float32Array.from(toFloat32(input)))
  const role = task === 'superres' ? 'superres' : task === 'translate' ? 'synthct' : task === 'anomaly' ? 'healed' : 'denoised'
  const outputs: TaskResult['outputs'] = [{ role, volume: base, label: `stub ${task}` }]
  if (task === 'anomaly') {
    const heat = new Float32Array(base.data.length).map((_, i) => (i % 7) / 7)
    outputs.push({ role: 'heatmap', volume: withFloatData(input, heat), label: 'stub heatmap' })
  }
  return {
    outputs,
    provenance: {
      task,
      model: { name: 'stub', version: '0', sha256: '0'.repeat(64) },
      steps,
      seed: params.seed ?? 0,
      samples: 1,
      device: 'cpu',
      params: { ...params },
      raddiffVersion: 'test',
      notice: 'NOT FOR CLINICAL USE',
    },
    report: { stub: true },
  }
}
