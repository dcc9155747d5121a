import { EngineError } from '../../src/engine/errors.js'
import type { TaskContext, TaskName, TaskParams, TaskResult } from '../../src/pipelines/task.js'
import { toFloat32, withFloatData, type Volume } from '../../src/volume/volume.js'

/** Where the stub's anomaly sits (voxel index) and how wide it is: the golden images show it. */
export const BLOB = { centre: [30, 36, 22] as const, sigma: 5 }

/** 3×3×3 box mean, edges clamped: a visible, deterministic "enhancement". */
function smooth(v: Volume): Float32Array {
  const [nx, ny, nz] = v.size
  const src = toFloat32(v)
  const out = new Float32Array(src.length)
  const c = (a: number, n: number) => Math.min(n - 1, Math.max(0, a))
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        let s = 0
        for (let dz = -1; dz <= 1; dz++)
          for (let dy = -1; dy <= 1; dy++)
            for (let dx = -1; dx <= 1; dx++) s += src[c(x + dx, nx) + nx * (c(y + dy, ny) + ny * c(z + dz, nz))]
        out[x + nx * (y + ny * z)] = s / 27
      }
  return out
}

function blob(v: Volume): Float32Array {
  const [nx, ny, nz] = v.size
  const out = new Float32Array(nx * ny * nz)
  const [cx, cy, cz] = BLOB.centre
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const r2 = (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2
        out[x + nx * (y + ny * z)] = Math.exp(-r2 / (2 * BLOB.sigma ** 2))
      }
  return out
}

/**
 * The e2e tests' task runner: fast and exactly reproducible. Enhanced = the input smoothed,
 * heatmap = a Gaussian blob of peak 1, mask = heatmap > 0.5; ten progress steps of 30 ms.
 * RADDIFF_E2E_HOLD=1: after its first step the job waits until it is cancelled (a cancel test
 * then needs no race against the clock).
 */
export async function runTask(task: TaskName, input: Volume, params: TaskParams, ctx: TaskContext): Promise<TaskResult> {
  for (let s = 1; s <= 10; s++) {
    if (ctx.signal?.aborted) throw new EngineError('CANCELLED', 'the job was cancelled')
    const hold = s === 2 && process.env.RADDIFF_E2E_HOLD === '1'
    await new Promise<void>((r) => {
      const t = hold ? undefined : setTimeout(r, Number(process.env.RADDIFF_E2E_STEP_MS ?? 30))
      ctx.signal?.addEventListener('abort', () => (clearTimeout(t), r()), { once: true })
    })
    if (ctx.signal?.aborted) throw new EngineError('CANCELLED', 'the job was cancelled')
    ctx.onProgress?.({ stage: 'sampling', fraction: s / 10, step: s, totalSteps: 10 })
  }
  const role = task === 'superres' ? 'superres' : task === 'translate' ? 'synthct' : task === 'anomaly' ? 'healed' : 'denoised'
  const outputs: TaskResult['outputs'] = [{ role, volume: withFloatData(input, smooth(input)), label: `stub ${task}` }]
  if (task === 'anomaly') {
    const heat = blob(input)
    outputs.push({ role: 'heatmap', volume: withFloatData(input, heat), label: 'stub heatmap' })
    outputs.push({ role: 'mask', volume: withFloatData(input, heat.map((h) => (h > 0.5 ? 1 : 0))), label: 'stub mask' })
  }
  return {
    outputs,
    provenance: {
      task,
      model: { name: 'e2e-stub', version: '1.0.0', sha256: '0'.repeat(64) },
      steps: 10,
      seed: params.seed ?? 0,
      samples: 1,
      device: 'cpu',
      params: { ...params },
      raddiffVersion: 'test',
      notice: 'NOT FOR CLINICAL USE',
    },
    // a method asked for is echoed with a threshold, as the real pipeline's report states its choice
    report: { stub: true, ...(task === 'anomaly' && params.method ? { method: params.method, methodSource: 'caller', threshold: 0.5, thresholdSource: 'card', calibration: 'stub calibration' } : {}) },
  }
}
