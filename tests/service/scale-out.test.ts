import { spawnSync } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadVolumes } from '../../src/io/load.js'
import { openStore, type Store } from '../../src/service/store.js'
import { toFloat32 } from '../../src/volume/volume.js'
import ref from '../reference/service-fixtures.json' with { type: 'json' }
import { serve, startProc, until, type Proc } from './cli-process.js'
import { fixture, postJob, readEvents, stubModule, upload, waitForState } from './helpers.js'
import { freePort, hasPostgres, startTestPostgres, type TestPostgres } from './postgres-server.js'

const hasRedis = spawnSync('redis-server', ['--version']).status === 0
const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0)
const FINAL = ['succeeded', 'failed', 'cancelled']

/**
 * The multi-machine topology on one host: two API nodes and two worker nodes, each with its own
 * scratch folder, sharing only the storage root, one PostgreSQL and one redis-server.
 */
describe.skipIf(!hasRedis || !hasPostgres)('scale-out: two API nodes, two worker nodes, PostgreSQL, Redis, one shared storage root', () => {
  let tmp: string
  let root: string
  let pgServer: TestPostgres
  let redis: Proc
  const api: Proc[] = []
  const workers: Record<string, Proc> = {}
  let urls: string[]
  let store: Store
  let scanId: string

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'raddiff-scale-'))
    root = path.join(tmp, 'shared')
    pgServer = await startTestPostgres()
    const databaseUrl = await pgServer.createDatabase()
    const port = await freePort()
    redis = await startProc('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp], {}, /Ready to accept connections/, 'stdout')
    const env = {
      RADDIFF_REDIS_URL: `redis://127.0.0.1:${port}`,
      RADDIFF_DATABASE_URL: databaseUrl,
      RADDIFF_TASK_MODULE: stubModule,
      RADDIFF_STUB_STEP_MS: '300',
      RADDIFF_QUEUE_LOCK_MS: '5000',
      // A short retry window, so the outage below is seen (503) rather than waited out.
      RADDIFF_DATABASE_RETRY_MS: '1000',
      RADDIFF_TOKENS: '',
      RADDIFF_TOKENS_FILE: '',
    }
    const node = (name: string) => ['--data', root, '--scratch', path.join(tmp, `scratch-${name}`), '--models-dir', fixture('models'), '--concurrency', '1']
    const started = await Promise.all([
      serve(['--role', 'api', '--port', '0', ...node('api1')], env, /listening on (\S+)/),
      serve(['--role', 'api', '--port', '0', ...node('api2')], env, /listening on (\S+)/),
      serve(['--role', 'worker', ...node('w1')], { ...env, RADDIFF_WORKER_ID: 'w1' }, /worker (\S+) taking jobs/),
      serve(['--role', 'worker', ...node('w2')], { ...env, RADDIFF_WORKER_ID: 'w2' }, /worker (\S+) taking jobs/),
    ])
    api.push(started[0], started[1])
    urls = api.map((p) => p.match[1])
    workers.w1 = started[2]
    workers.w2 = started[3]
    store = await openStore({ databaseUrl, dataDir: root })
    const res = await upload(urls[0], [fixture('nifti/ixi-t1-small.nii.gz')])
    expect(res.status).toBe(201)
    scanId = ((await res.json()) as any).scans[0].id
  }, 300_000)

  afterAll(async () => {
    await store?.close()
    for (const p of [...api, ...Object.values(workers)]) if (p.alive()) p.child.kill('SIGKILL')
    redis?.child.kill('SIGTERM')
    await redis?.exited
    await pgServer?.destroy()
    await rm(tmp, { recursive: true, force: true })
  })

  it('jobs submitted through API 1 run on both workers; API 2 streams their progress and serves the results', async () => {
    const ids: string[] = []
    for (let i = 0; i < 4; i++) {
      const res = await postJob(urls[0], { scanId, task: 'denoise', params: { seed: i } })
      expect(res.status).toBe(202)
      ids.push(((await res.json()) as any).id)
    }
    const events = await readEvents(await fetch(`${urls[1]}/v1/jobs/${ids[0]}/events`))
    expect(events.filter((e) => e.data.state === 'running' && e.data.stage === 'sampling').length).toBeGreaterThan(2)
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { state: 'succeeded' } })
    const done = await Promise.all(ids.map((id) => waitForState(urls[1], id, FINAL, undefined, 60_000)))
    expect(done.map((j) => j.state)).toEqual(ids.map(() => 'succeeded'))
    const runs = await Promise.all(ids.map((id) => store.runs(id)))
    expect(new Set(runs.map((r) => r[0].worker))).toEqual(new Set(['w1', 'w2']))

    // The result, written by a worker into the shared root, read back through the other API node (nibabel's sum).
    const res = await fetch(`${urls[1]}/v1/jobs/${ids[3]}/results/denoised?format=nifti`)
    expect(res.status).toBe(200)
    const file = path.join(tmp, 'denoised.nii.gz')
    await writeFile(file, Buffer.from(await res.arrayBuffer()))
    const [v] = await loadVolumes([file])
    expect(sum(toFloat32(v.volume))).toBeCloseTo(ref.nifti.sum, -2)
    // No node's temp files in the shared root.
    expect((await readdir(root)).sort()).toEqual(['incoming', 'results', 'uploads'])
  }, 120_000)

  it('a cancel sent to API 2 stops a job submitted through API 1 on whichever worker runs it', async () => {
    const { id } = (await (await postJob(urls[0], { scanId, task: 'denoise' })).json()) as any
    await until(async () => ((await store.jobById(id))?.stage === 'sampling' ? true : undefined), 30_000)
    expect((await fetch(`${urls[1]}/v1/jobs/${id}`, { method: 'DELETE' })).status).toBe(202)
    const run = await until(async () => (await store.runs(id)).find((r) => r.outcome !== null), 15_000)
    expect(run.outcome).toBe('cancelled')
    expect(await waitForState(urls[0], id, FINAL)).toMatchObject({ state: 'cancelled', error: { code: 'CANCELLED' } })
  }, 60_000)

  it('kill -9 of a worker mid-job: the other worker finishes it, once', async () => {
    const { id } = (await (await postJob(urls[0], { scanId, task: 'anomaly' })).json()) as any
    const first = await until(async () => (await store.runs(id))[0], 30_000)
    await until(async () => ((await store.jobById(id))?.stage === 'sampling' ? true : undefined), 30_000)
    const victim = workers[first.worker]
    victim.child.kill('SIGKILL')
    await victim.exited
    const job = await waitForState(urls[1], id, FINAL, undefined, 60_000)
    expect(job).toMatchObject({ state: 'succeeded', attempts: 2 })
    const other = first.worker === 'w1' ? 'w2' : 'w1'
    // The run's outcome is written just after the job's state.
    await until(async () => ((await store.runs(id)).at(-1)?.outcome ? true : undefined))
    expect(await store.runs(id)).toMatchObject([
      { attempt: 1, worker: first.worker, outcome: 'interrupted' },
      { attempt: 2, worker: other, outcome: 'succeeded' },
    ])
    const res = (await (await fetch(`${urls[0]}/v1/jobs/${id}/results`)).json()) as any
    expect(res.outputs.map((o: any) => o.role).sort()).toEqual(['healed', 'heatmap'])
  }, 90_000)

  it('PostgreSQL restarted mid-job: readiness reports it, the job still finishes, nothing is lost', async () => {
    const { id } = (await (await postJob(urls[0], { scanId, task: 'denoise' })).json()) as any
    const before = ((await (await fetch(`${urls[0]}/v1/jobs?limit=100`)).json()) as any).jobs.length
    await until(async () => ((await store.jobById(id))?.stage === 'sampling' ? true : undefined), 30_000)
    await pgServer.stop('SIGINT')
    const ready = await fetch(`${urls[1]}/readyz`)
    expect(ready.status).toBe(503)
    expect(((await ready.json()) as any).dependencies).toMatchObject({ database: { kind: 'postgres', up: false }, redis: { up: true } })
    const during = await fetch(`${urls[1]}/v1/jobs/${id}`)
    expect(during.status).toBe(503)
    expect(((await during.json()) as any).error.code).toBe('STORE_UNAVAILABLE')
    await new Promise((r) => setTimeout(r, 2000))
    await pgServer.start()
    const job = await waitForState(urls[1], id, FINAL, undefined, 60_000)
    expect(job.state).toBe('succeeded')
    expect((await fetch(`${urls[0]}/readyz`)).status).toBe(200)
    const after = ((await (await fetch(`${urls[0]}/v1/jobs?limit=100`)).json()) as any).jobs.length
    expect(after).toBe(before)
    // And new work is accepted and done.
    const next = (await (await postJob(urls[1], { scanId, task: 'denoise' })).json()) as any
    expect((await waitForState(urls[0], next.id, FINAL, undefined, 60_000)).state).toBe('succeeded')
  }, 120_000)

  it('kill -9 of an API node mid-upload: the client gets an error and no half-stored scan is listed anywhere', async () => {
    const scansBefore = ((await (await fetch(`${urls[0]}/v1/scans`)).json()) as any).scans.map((s: any) => s.id).sort()
    const uploadsBefore = (await readdir(path.join(root, 'uploads'))).sort()
    const victim = api[1]
    // A multipart body that sends its first megabyte, then waits: the node dies while reading it.
    const boundary = 'raddiffboundary'
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent === 0) c.enqueue(new TextEncoder().encode(`--${boundary}\r\ncontent-disposition: form-data; name="files"; filename="big.dcm"\r\ncontent-type: application/octet-stream\r\n\r\n`))
        if (sent < 1 << 20) {
          c.enqueue(new Uint8Array(64 * 1024))
          sent += 64 * 1024
        } else await new Promise((r) => setTimeout(r, 60_000))
      },
    })
    // Settled as soon as it fails, so the rejection is never unhandled while the node is killed.
    const pending = fetch(`${urls[1]}/v1/scans`, { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, duplex: 'half' } as RequestInit).then(
      (r) => ({ ok: true as const, status: r.status }),
      (e: unknown) => ({ ok: false as const, error: e }),
    )
    await until(async () => ((await readdir(path.join(root, 'incoming')).catch(() => [])).length > 0 ? true : undefined), 30_000)
    victim.child.kill('SIGKILL')
    await victim.exited
    expect(await pending).toMatchObject({ ok: false })
    const scansAfter = ((await (await fetch(`${urls[0]}/v1/scans`)).json()) as any).scans.map((s: any) => s.id).sort()
    expect(scansAfter).toEqual(scansBefore)
    expect((await readdir(path.join(root, 'uploads'))).sort()).toEqual(uploadsBefore)
    // Every stored scan still opens and runs.
    expect((await waitForState(urls[0], ((await (await postJob(urls[0], { scanId, task: 'denoise' })).json()) as any).id, FINAL, undefined, 60_000)).state).toBe('succeeded')
  }, 120_000)
})
