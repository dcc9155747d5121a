import { spawn, type ChildProcess } from 'node:child_process'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { auth, fixture, postJob, readEvents, repoRoot, startTestServer, storeKinds, stubModule, testDatabases, upload, waitForState, type TestServer } from './helpers.js'

interface Proc {
  child: ChildProcess
  url: string
  exited: Promise<number | null>
}

/** Starts tests/service/server-main.ts as its own process (real kill -9 / SIGTERM). */
function startServerProcess(dataDir: string, env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'tests/service/server-main.ts')], {
    cwd: repoRoot,
    env: { ...process.env, RADDIFF_DATA_DIR: dataDir, RADDIFF_TASK_MODULE: stubModule, RADDIFF_TOKENS: '', RADDIFF_TOKENS_FILE: '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  return new Promise((resolve, reject) => {
    let buf = ''
    child.stdout!.on('data', (d) => {
      buf += d
      const m = /LISTENING (\S+)/.exec(buf)
      if (m) resolve({ child, url: m[1], exited })
    })
    child.on('exit', (code) => reject(new Error(`server exited early (${code})`)))
  })
}

const databases = testDatabases()
/** Each of these starts one or two service processes; on a loaded 2-core machine a start alone can take 20 s. */
const PROCESS_TEST_MS = 180_000

function killAndWait(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    c.once('exit', () => resolve())
    c.kill('SIGKILL')
  })
}

describe.each(storeKinds)('jobs survive the server process (%s store)', (kind) => {
  let dataDir: string
  const procs: ChildProcess[] = []
  let db: Record<string, string> = {}
  const startProcess = (dir: string, env: Record<string, string> = {}) => startServerProcess(dir, { ...env, ...db })
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'raddiff-svc-proc-'))
    const url = await databases.url(kind)
    if (url) db = { RADDIFF_DATABASE_URL: url }
  })
  // A test that failed half-way must not leave its server running on the data folder the next test uses.
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => killAndWait(p)))
  })
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true })
  })

  it('kill -9 mid-job: after a restart the job is re-queued and completes', async () => {
    const slow = { RADDIFF_STUB_STEP_MS: '250' }
    const first = await startProcess(dataDir, slow)
    procs.push(first.child)
    const { scans } = await (await upload(first.url, [fixture('nifti/ixi-t1-small.nii.gz')])).json() as any
    const { id } = await (await postJob(first.url, { scanId: scans[0].id, task: 'denoise' })).json() as any
    await waitForState(first.url, id, ['running'])
    first.child.kill('SIGKILL')
    await first.exited

    const second = await startProcess(dataDir, { RADDIFF_STUB_STEP_MS: '20' })
    procs.push(second.child)
    const job = await waitForState(second.url, id, ['succeeded', 'failed'], undefined, 90_000)
    expect(job.state).toBe('succeeded')
    expect(job.attempts).toBe(2)
    const res = await (await fetch(`${second.url}/v1/jobs/${id}/results`)).json() as any
    expect(res.outputs.map((o: any) => o.role)).toEqual(['denoised'])
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  }, PROCESS_TEST_MS)

  it('SIGTERM drains: new jobs are refused, the running one finishes, then the process exits 0', async () => {
    const p = await startProcess(dataDir, { RADDIFF_STUB_STEP_MS: '150' })
    procs.push(p.child)
    const { scans } = await (await fetch(`${p.url}/v1/scans`)).json() as any
    const { id } = await (await postJob(p.url, { scanId: scans[0].id, task: 'anomaly' })).json() as any
    await waitForState(p.url, id, ['running'])
    const events = fetch(`${p.url}/v1/jobs/${id}/events`).then(readEvents)
    p.child.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 100))
    const refused = await postJob(p.url, { scanId: scans[0].id, task: 'denoise' })
    expect(refused.status).toBe(503)
    expect((await refused.json() as any).error.code).toBe('SHUTTING_DOWN')
    expect((await events).at(-1)!.data.state).toBe('succeeded')
    expect(await p.exited).toBe(0)
  }, PROCESS_TEST_MS)

  it('SIGTERM past the drain timeout: the job goes back to the queue, its open event stream ends, the process exits 0', async () => {
    const p = await startProcess(dataDir, { RADDIFF_STUB_STEP_MS: '2000', RADDIFF_DRAIN_MS: '300' })
    procs.push(p.child)
    const { scans } = await (await upload(p.url, [fixture('nifti/ixi-t1-small.nii.gz')])).json() as any
    const { id } = await (await postJob(p.url, { scanId: scans[0].id, task: 'denoise' })).json() as any
    await waitForState(p.url, id, ['running'])
    const res = await fetch(`${p.url}/v1/jobs/${id}/events`)
    const reader = res.body!.getReader()
    // the first event is written right before the stream subscribes to the pool (same tick)
    let text = new TextDecoder().decode((await reader.read()).value)
    p.child.kill('SIGTERM')
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += new TextDecoder().decode(value)
    }
    const last = JSON.parse(/data: (.*)\n\n$/.exec(text)![1])
    expect(last.state).toBe('queued')
    expect(await p.exited).toBe(0)
  }, PROCESS_TEST_MS)
})

describe('forked workers', () => {
  let srv: TestServer
  let scanId: string
  beforeAll(async () => {
    process.env.RADDIFF_STUB_STEP_MS = '150'
    try {
      srv = await startTestServer({ taskModule: stubModule, concurrency: 1 })
    } finally {
      delete process.env.RADDIFF_STUB_STEP_MS
    }
    scanId = (await (await upload(srv.url, [fixture('nifti/ixi-t1-small.nii.gz')])).json() as any).scans[0].id
  })
  afterAll(async () => {
    await srv?.close()
  })

  it('cancel reaches the worker: the job stops, the worker lives on and takes the next job', async () => {
    await waitUntil(() => srv.app.raddiff.pool.workerPids().length === 1 && srv.app.raddiff.pool.stats().busy === 0)
    const [pid] = srv.app.raddiff.pool.workerPids()
    const { id } = await (await postJob(srv.url, { scanId, task: 'denoise' })).json() as any
    await waitForState(srv.url, id, ['running'])
    expect((await fetch(`${srv.url}/v1/jobs/${id}`, { method: 'DELETE', headers: auth() })).status).toBe(202)
    await waitUntil(() => srv.app.raddiff.pool.stats().busy === 0, 15_000)
    expect(srv.app.raddiff.pool.workerPids()).toEqual([pid])
    const next = await (await postJob(srv.url, { scanId, task: 'denoise' })).json() as any
    expect((await waitForState(srv.url, next.id, ['succeeded', 'failed'])).state).toBe('succeeded')
  })

  it('a worker killed mid-job is replaced and the job re-queued', async () => {
    const { id } = await (await postJob(srv.url, { scanId, task: 'denoise' })).json() as any
    await waitForState(srv.url, id, ['running'])
    const [pid] = srv.app.raddiff.pool.workerPids()
    process.kill(pid, 'SIGKILL')
    const job = await waitForState(srv.url, id, ['succeeded', 'failed'])
    expect(job.state).toBe('succeeded')
    expect(job.attempts).toBe(2)
    expect(srv.app.raddiff.pool.workerPids()).not.toContain(pid)
  })
})

async function waitUntil(ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error('condition not reached')
    await new Promise((r) => setTimeout(r, 25))
  }
}

const real = await import('../../src/pipelines/index.js').catch(() => undefined)

describe.skipIf(!real)('real runTask in forked workers with the tiny test model', () => {
  let dataDir: string
  let modelsDir: string
  let p: Proc | undefined
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'raddiff-svc-real-'))
    modelsDir = await mkdtemp(path.join(os.tmpdir(), 'raddiff-svc-models-'))
    // The card is rewritten to serve denoise; the ONNX bytes (and so its sha256) stay the same.
    const card = JSON.parse(await (await import('node:fs/promises')).readFile(fixture('models/tiny-eps.json'), 'utf8'))
    await (await import('node:fs/promises')).writeFile(path.join(modelsDir, 'tiny-eps.json'), JSON.stringify({ ...card, tasks: ['denoise'], modality: 'OT' }))
    await copyFile(fixture('models/tiny-eps.onnx'), path.join(modelsDir, 'tiny-eps.onnx'))
    p = await startServerProcess(dataDir, { RADDIFF_TASK_MODULE: '', RADDIFF_MODELS_DIR: modelsDir })
  })
  afterAll(async () => {
    p?.child.kill('SIGKILL')
    await rm(dataDir, { recursive: true, force: true })
    await rm(modelsDir, { recursive: true, force: true })
  })

  it('denoises an uploaded NIfTI and serves the result', async () => {
    const ready = await (await fetch(`${p!.url}/readyz`)).json() as any
    expect(ready.ready).toBe(true)
    expect(ready.models[0]).toMatchObject({ name: 'tiny-eps', verified: true })
    const { scans } = await (await upload(p!.url, [fixture('nifti/ixi-t1-small.nii.gz')])).json() as any
    const { id } = await (await postJob(p!.url, { scanId: scans[0].id, task: 'denoise', params: { steps: 2, seed: 3, mode: 'sample' } })).json() as any
    const events = await readEvents(await fetch(`${p!.url}/v1/jobs/${id}/events`))
    const end = events.at(-1)!.data
    const job = await (await fetch(`${p!.url}/v1/jobs/${id}`)).json() as any
    expect(end.state, JSON.stringify(job.error)).toBe('succeeded')
    expect(job.provenance.model).toMatchObject({ name: 'tiny-eps' })
    expect(job.provenance.steps).toBe(2)
    const res = await (await fetch(`${p!.url}/v1/jobs/${id}/results`)).json() as any
    expect(res.outputs.length).toBeGreaterThan(0)
    const nii = await fetch(`${p!.url}/v1/jobs/${id}/results/${res.outputs[0].role}`)
    expect(nii.status).toBe(200)
    expect((await nii.arrayBuffer()).byteLength).toBeGreaterThan(1000)
    const after = await (await fetch(`${p!.url}/readyz`)).json() as any
    expect(after.device.lastUsed).toBe('cpu')
  })
})
