import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Command } from 'commander'
import { addTaskOptions, taskParams, UsageError } from '../../src/cli/commands/task-options.js'
import { TASK_OUTPUTS, outputRoles } from '../../src/pipelines/task-outputs.js'
import type { TaskName } from '../../src/pipelines/task.js'
import { fixture, postJob, startTestServer, upload, type TestServer } from '../service/helpers.js'
import { runTask as stubRunTask } from '../service/stub-task.js'

/**
 * One contract: the CLI and the service accept and refuse the same parameters. Expectations are
 * written out here from the decisions (samples ≤ 32, scale 2–8, depth ≤ 999, no option a
 * task does not read), not read from the schemas under test.
 */
const CASES: [TaskName, Record<string, string | number>, boolean][] = [
  ['denoise', { steps: 1000, seed: 0, samples: 32, mode: 'mean', device: 'cpu' }, true],
  ['denoise', { samples: 33 }, false],
  ['denoise', { steps: 0 }, false],
  ['denoise', { steps: 1001 }, false],
  ['denoise', { scale: 2 }, false],
  ['denoise', { depth: 10 }, false],
  ['denoise', { device: 'tpu' }, false],
  ['superres', { scale: 8, axes: 'all', depth: 999, mode: 'sample' }, true],
  ['superres', { scale: 9 }, false],
  ['superres', { scale: 1 }, false],
  ['superres', { depth: 1000 }, false],
  ['translate', { depth: 999, mode: 'mean' }, true],
  ['translate', { noise: 'gaussian' }, false],
  ['anomaly', { depth: 300, noise: 'simplex', polarity: 'dark', samples: 3 }, true],
  ['anomaly', { polarity: 'up' }, false],
  ['anomaly', { mode: 'mean' }, false],
  ['anomaly', { seed: 2 ** 31 }, false],
]

/** What the CLI makes of these options: commander refuses an option the task command lacks. */
function cliAccepts(task: TaskName, params: Record<string, string>): boolean {
  const known = new Set(addTaskOptions(new Command(task), task).options.map((o) => o.attributeName()))
  if (Object.keys(params).some((k) => !known.has(k))) return false
  try {
    expect(taskParams(task, params)).toEqual(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, /^\d+$/.test(v) ? Number(v) : v])))
    return true
  } catch (e) {
    if (e instanceof UsageError) return false
    throw e
  }
}

describe('one task contract for the CLI and the service', () => {
  let srv: TestServer
  let scanId: string
  beforeAll(async () => {
    srv = await startTestServer({ runTask: stubRunTask, modelsDir: fixture('models') })
    scanId = ((await (await upload(srv.url, [fixture('nifti/ixi-t1-small.nii.gz')])).json()) as { scans: { id: string }[] }).scans[0].id
  })
  afterAll(async () => {
    await srv?.close()
  })

  it.each(CASES)('%s %j → accepted: %s', async (task, params, ok) => {
    const strings = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]))
    expect(cliAccepts(task, strings)).toBe(ok)
    const res = await postJob(srv.url, { scanId, task, params })
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(ok ? 202 : 400)
    if (!ok) expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST')
    // Cancel at once: the stub finishes in milliseconds anyway, and the per-user queue stays short.
    else await fetch(`${srv.url}/v1/jobs/${((await res.json()) as { id: string }).id}`, { method: 'DELETE' })
  })

  it('the CLI names the option and its limits', () => {
    expect(() => taskParams('denoise', { samples: '64' })).toThrow('--samples must be an integer from 1 to 32')
    expect(() => taskParams('superres', { scale: 'x2' })).toThrow('--scale must be an integer from 2 to 8')
    expect(() => taskParams('anomaly', { polarity: 'up' })).toThrow('--polarity must be one of bright, dark, both')
  })

  it('output roles are declared once: the CLI writes them, the viewer shows the enhanced one', () => {
    expect(outputRoles('anomaly')).toEqual(['healed', 'heatmap', 'mask'])
    expect(outputRoles('superres', 2)).toEqual(['superres', 'std'])
    for (const t of Object.keys(TASK_OUTPUTS) as TaskName[]) expect(TASK_OUTPUTS[t].always).toContain(TASK_OUTPUTS[t].enhanced)
  })
})
