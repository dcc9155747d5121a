import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { EngineError } from '../../src/engine/errors.js'
import { releaseSessions } from '../../src/engine/index.js'
import { IoError } from '../../src/io/errors.js'
import { writeVolume } from '../../src/io/write.js'
import { PipelineError, describeTaskFailure } from '../../src/pipelines/errors.js'
import type { TaskContext, TaskName, TaskParams } from '../../src/pipelines/task.js'
import { createVolume, type Volume } from '../../src/volume/index.js'
import { fixture, postJob, startTestServer, upload, waitForState } from '../service/helpers.js'
import { croppedFixture, makeModelsDir } from './helpers.js'

// V8's own message when an ArrayBuffer cannot be allocated: a RangeError, like bad-input errors were.
const OOM = 'Array buffer allocation failed'
const oom = vi.hoisted(() => ({ on: false }))

// The real pipelines, with an allocation failure raised from inside the sampling loop (the first
// progress report of a step) while `oom.on` is set.
vi.mock('../../src/pipelines/index.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/pipelines/index.js')>()
  return {
    ...real,
    runTask: (task: TaskName, input: Volume, params: TaskParams, ctx: TaskContext = {}) =>
      real.runTask(task, input, params, {
        ...ctx,
        onProgress: (p) => {
          if (oom.on && p.step !== undefined) throw new RangeError(OOM)
          ctx.onProgress?.(p)
        },
      }),
  }
})

const { runCli } = await import('../cli/run-cli.js')
const { runTask } = await import('../../src/pipelines/index.js')

const tmp = mkdtempSync(path.join(os.tmpdir(), 'raddiff-failures-'))
let models: { dir: string; cleanup: () => Promise<void> }
let input: string

beforeAll(async () => {
  models = await makeModelsDir()
  input = path.join(tmp, 'in.nii.gz')
  await writeVolume(await croppedFixture([14, 14, 20], [16, 16, 2]), input)
})
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true })
  await models.cleanup()
  await releaseSessions()
})

describe('coded pipeline errors', () => {
  it('one map: pipeline and loader errors are the input, model set-up is set-up, anything else is internal', () => {
    expect(describeTaskFailure(new PipelineError('UNSUITABLE_INPUT', 'x'))).toMatchObject({ kind: 'input', code: 'UNSUITABLE_INPUT' })
    expect(describeTaskFailure(new PipelineError('UNSUITABLE_MODEL', 'x'))).toMatchObject({ kind: 'setup', code: 'UNSUITABLE_MODEL' })
    expect(describeTaskFailure(new IoError('TRUNCATED', 'x'))).toMatchObject({ kind: 'input', code: 'TRUNCATED' })
    expect(describeTaskFailure(new EngineError('MODEL_NOT_FOUND', 'x'))).toMatchObject({ kind: 'setup', code: 'MODEL_NOT_FOUND' })
    expect(describeTaskFailure(new EngineError('CANCELLED', 'x'))).toMatchObject({ kind: 'cancelled' })
    const f = describeTaskFailure(new RangeError(OOM))
    expect(f).toMatchObject({ kind: 'internal', code: 'INTERNAL' })
    expect(f.message).not.toContain(OOM)
  })

  it('a colour volume is refused with UNSUPPORTED_PIXEL_FORMAT (an input error) before any model is loaded', async () => {
    const rgb = createVolume({ data: new Uint8Array(4 * 4 * 2 * 3), size: [4, 4, 2], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1], components: 3 })
    await expect(runTask('denoise', rgb, {}, { modelsDir: models.dir })).rejects.toMatchObject({ code: 'UNSUPPORTED_PIXEL_FORMAT' })
    const e = await runTask('denoise', rgb, {}, { modelsDir: models.dir }).catch((x) => x)
    expect(describeTaskFailure(e).kind).toBe('input')
  })

  it('a depth past the model\'s schedule is INVALID_PARAMS, not the scheduler\'s RangeError', async () => {
    const v = await croppedFixture([14, 14, 20], [16, 16, 2])
    await expect(runTask('anomaly', v, { depth: 5000, steps: 1 }, { modelsDir: models.dir })).rejects.toMatchObject({ code: 'INVALID_PARAMS' })
  })

  it('CLI: out of memory inside a pipeline exits 1 (internal), coded INTERNAL, without the runtime text', async () => {
    oom.on = true
    try {
      const r = await runCli(['denoise', input, '-o', path.join(tmp, 'oom'), '--models-dir', models.dir, '--steps', '2', '--json'])
      expect(r.code).toBe(1)
      const line = JSON.parse(r.stdout.trim().split('\n')[0])
      expect(line).toMatchObject({ ok: false, error: { code: 'INTERNAL' } })
      expect(r.stdout + r.stderr).not.toContain(OOM)
    } finally {
      oom.on = false
    }
    // The same run without the failure succeeds: the mock is transparent.
    const ok = await runCli(['denoise', input, '-o', path.join(tmp, 'ok'), '--models-dir', models.dir, '--steps', '2', '--json'])
    expect(ok.code).toBe(0)
  })

  it('service: out of memory inside a pipeline fails the job as INTERNAL, not INVALID_REQUEST', async () => {
    const srv = await startTestServer({ runTask, modelsDir: models.dir })
    oom.on = true
    try {
      const up = (await (await upload(srv.url, [fixture('nifti/ixi-t1-small.nii.gz')])).json()) as { scans: { id: string }[] }
      const res = await postJob(srv.url, { scanId: up.scans[0].id, task: 'denoise', params: { steps: 2 } })
      expect(res.status).toBe(202)
      const job = await waitForState(srv.url, ((await res.json()) as { id: string }).id, ['failed', 'succeeded'], undefined, 120_000)
      expect(job.state).toBe('failed')
      expect(job.error.code).toBe('INTERNAL')
      expect(job.error.message).not.toContain(OOM)
    } finally {
      oom.on = false
      await srv.close()
    }
  })
})
