import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore, type Store } from '../../src/service/store.js'
import { serve, startProc, until, type Proc } from './cli-process.js'
import { auth, fixture, postJob, readEvents, stubModule, upload, waitForState } from './helpers.js'
import { freePort, hasPostgres, startTestPostgres, type TestPostgres } from './postgres-server.js'

const hasRedis = spawnSync('redis-server', ['--version']).status === 0

// The same suite over both record stores: SQLite in the shared data folder, and PostgreSQL.
const stores = ['sqlite', ...(hasPostgres ? ['postgres'] : [])] as const

describe.skipIf(!hasRedis).each(stores)('Redis mode (%s store): one API process, two worker processes, one redis-server', (kind) => {
  let tmp: string
  let dataDir: string
  let redis: Proc
  let api: Proc
  let url: string
  const workers: Record<string, Proc> = {}
  let scanId: string
  let pgServer: TestPostgres | undefined
  let databaseUrl: string | undefined
  let store: Store
  const runs = (id: string) => store.runs(id)
  const stage = async (id: string) => ((await store.jobById(id))?.stage === 'sampling' ? true : undefined)

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'raddiff-redis-'))
    dataDir = path.join(tmp, 'data')
    if (kind === 'postgres') {
      pgServer = await startTestPostgres()
      databaseUrl = await pgServer.createDatabase()
    }
    const port = await freePort()
    redis = await startProc('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp], {}, /Ready to accept connections/, 'stdout')
    const env = {
      RADDIFF_REDIS_URL: `redis://127.0.0.1:${port}`,
      RADDIFF_TASK_MODULE: stubModule,
      RADDIFF_STUB_STEP_MS: '300',
      RADDIFF_QUEUE_LOCK_MS: '3000',
      RADDIFF_TOKENS: '',
      RADDIFF_TOKENS_FILE: '',
      RADDIFF_DATABASE_URL: databaseUrl ?? '',
    }
    const common = ['--data', dataDir, '--models-dir', fixture('models'), '--concurrency', '1']
    // Each process has its own scratch folder: only the data folder (and the store) is shared.
    const scratch = (name: string) => ['--scratch', path.join(tmp, `scratch-${name}`)]
    const started = await Promise.all([
      serve(['--role', 'api', '--port', '0', ...common, ...scratch('api')], env, /listening on (\S+)/),
      serve(['--role', 'worker', ...common, ...scratch('w1')], { ...env, RADDIFF_WORKER_ID: 'w1' }, /worker (\S+) taking jobs/),
      serve(['--role', 'worker', ...common, ...scratch('w2')], { ...env, RADDIFF_WORKER_ID: 'w2' }, /worker (\S+) taking jobs/),
    ])
    api = started[0]
    url = api.match[1]
    workers.w1 = started[1]
    workers.w2 = started[2]
    scanId = (await (await upload(url, [fixture('nifti/ixi-t1-small.nii.gz')])).json() as any).scans[0].id
    store = await openStore({ databaseUrl, dataDir })
  }, 240_000)

  afterAll(async () => {
    await store?.close()
    for (const p of [api, ...Object.values(workers)]) if (p && p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
    redis?.child.kill('SIGTERM')
    await redis?.exited
    await pgServer?.destroy()
    await rm(tmp, { recursive: true, force: true })
  })

  it('both workers take jobs; SSE on the API process streams progress of a job run elsewhere', async () => {
    const ids: string[] = []
    for (let i = 0; i < 4; i++) {
      const res = await postJob(url, { scanId, task: 'denoise', params: { seed: i } })
      expect(res.status).toBe(202)
      ids.push((await res.json() as any).id)
    }
    const events = await readEvents(await fetch(`${url}/v1/jobs/${ids[0]}/events`, { headers: auth() }))
    const running = events.filter((e) => e.data.state === 'running' && e.data.stage === 'sampling')
    expect(running.length).toBeGreaterThan(2)
    expect(running.some((e) => e.data.progress > 0.05 && e.data.progress < 0.95)).toBe(true)
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { state: 'succeeded' } })

    const done = await Promise.all(ids.map((id) => waitForState(url, id, ['succeeded', 'failed', 'cancelled'], undefined, 90_000)))
    expect(done.map((j) => j.state)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded'])
    expect(done.map((j) => j.attempts)).toEqual([1, 1, 1, 1])
    const who = await Promise.all(ids.map((id) => runs(id)))
    await until(async () => ((await Promise.all(ids.map((id) => runs(id)))).every((r) => r.at(-1)?.outcome) ? true : undefined))
    for (const r of await Promise.all(ids.map((id) => runs(id)))) expect(r).toMatchObject([{ attempt: 1, outcome: 'succeeded' }])
    expect(new Set(who.map((r) => r[0].worker))).toEqual(new Set(['w1', 'w2']))
    const res = await (await fetch(`${url}/v1/jobs/${ids[3]}/results`)).json() as any
    expect(res.outputs.map((o: any) => o.role)).toEqual(['denoised'])
    expect((await fetch(`${url}/v1/jobs/${ids[3]}/results/denoised`)).status).toBe(200)
  }, 120_000)

  it('cancel from the API reaches the worker running the job', async () => {
    const { id } = await (await postJob(url, { scanId, task: 'denoise' })).json() as any
    await until(() => stage(id))
    const t0 = Date.now()
    expect((await fetch(`${url}/v1/jobs/${id}`, { method: 'DELETE' })).status).toBe(202)
    // The run ends when the worker's task stopped on its abort signal (a step is 300 ms), before
    // the forced kill that would only come after 5 s.
    const run = await until(async () => (await runs(id)).find((r) => r.outcome !== null))
    expect(Date.now() - t0).toBeLessThan(4500)
    expect(run.outcome).toBe('cancelled')
    const job = await (await fetch(`${url}/v1/jobs/${id}`)).json() as any
    expect(job).toMatchObject({ state: 'cancelled', error: { code: 'CANCELLED' } })
    expect(job.progress).toBeLessThan(0.95)
  }, 60_000)

  it('kill -9 of a worker mid-job: the other worker takes the job over and it completes once', async () => {
    const { id } = await (await postJob(url, { scanId, task: 'anomaly' })).json() as any
    const first = await until(async () => (await runs(id))[0])
    await until(() => stage(id))
    const victim = workers[first.worker]
    victim.child.kill('SIGKILL')
    await victim.exited
    const job = await waitForState(url, id, ['succeeded', 'failed', 'cancelled'], undefined, 60_000)
    expect(job.state).toBe('succeeded')
    expect(job.attempts).toBe(2)
    const other = first.worker === 'w1' ? 'w2' : 'w1'
    // The run's outcome is written just after the job's state.
    await until(async () => ((await runs(id)).at(-1)?.outcome ? true : undefined))
    expect(await runs(id)).toMatchObject([
      { attempt: 1, worker: first.worker, outcome: 'interrupted' },
      { attempt: 2, worker: other, outcome: 'succeeded' },
    ])
    const res = await (await fetch(`${url}/v1/jobs/${id}/results`)).json() as any
    expect(res.outputs.map((o: any) => o.role).sort()).toEqual(['healed', 'heatmap'])
  }, 120_000)

  it('SIGTERM on a busy worker drains: its running job finishes there, then it and the API exit 0', async () => {
    const alive = Object.entries(workers).filter(([, p]) => p.child.exitCode === null && p.child.signalCode === null)
    expect(alive).toHaveLength(1)
    const [name, worker] = alive[0]
    const { id } = await (await postJob(url, { scanId, task: 'denoise' })).json() as any
    await until(() => stage(id))
    worker.child.kill('SIGTERM')
    expect(await worker.exited).toBe(0)
    const job = await (await fetch(`${url}/v1/jobs/${id}`)).json() as any
    expect(job).toMatchObject({ state: 'succeeded', attempts: 1 })
    expect(await runs(id)).toMatchObject([{ worker: name, outcome: 'succeeded' }])
    api.child.kill('SIGTERM')
    expect(await api.exited).toBe(0)
  }, 60_000)

  it('a finished job delivered again is not run again (the store decides, not the queue)', async () => {
    const [done] = await store.listJobs('local', { state: 'succeeded', limit: 1 })
    expect(await store.claimRun(done.id, 'w3', 3)).toBeUndefined()
    expect(await store.jobById(done.id)).toMatchObject({ state: 'succeeded' })
    expect((await store.runs(done.id)).map((r) => r.worker)).not.toContain('w3')
  })
})
