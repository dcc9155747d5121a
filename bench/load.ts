/**
 * `tsx bench/load.ts [--seconds 20] [--connections 16] [--uploads 200] [--json]` (npm run bench:load)
 *
 * Loopback load on the service run as its own process (stub task, 30 ms a step, so jobs really
 * run): concurrent uploads of the small NIfTI fixture, job submissions past the per-user queue
 * limit, and job-status polling, all at once with autocannon. Reports requests/s, p50 / p99,
 * errors, non-2xx by status, and the server's RSS growth between the first and last tenth of the
 * run. Back-pressure is checked on every response: a non-2xx must be 429 or 503 with Retry-After.
 * Bounded: polling and submissions stop after --seconds, uploads after --uploads requests.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
// @ts-expect-error autocannon ships no type declarations (@types/autocannon is not installed)
import autocannon from 'autocannon'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

export interface LoadOptions {
  seconds: number
  connections: number
  uploads: number
  /** Queued + running jobs the one user may hold (the queue bound under test). */
  maxActiveJobs?: number
  /** Requests per user per rateWindowMs. */
  rateLimit?: number
  rateWindowMs?: number
}

export interface PhaseReport {
  requests: number
  rps: number
  p50: number
  p99: number
  errors: number
  timeouts: number
  statuses: Record<string, number>
}

export interface LoadReport {
  seconds: number
  phases: Record<'uploads' | 'submit' | 'poll', PhaseReport>
  /** Non-2xx responses that were not 429 / 503 with a Retry-After header. */
  badBackpressure: string[]
  rssFirstTenthMiB: number
  rssLastTenthMiB: number
  rssGrowthMiB: number
  rssPeakMiB: number
  /** Queue depth at the end and the most seen while polling /readyz. */
  maxQueueSeen: number
  serverAlive: boolean
  serverExitCode: number | null
}

function startServer(dataDir: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'tests/service/server-main.ts')], {
    cwd: root,
    env: { ...process.env, RADDIFF_DATA_DIR: dataDir, RADDIFF_TASK_MODULE: path.join(root, 'tests/service/stub-task.ts'), RADDIFF_TOKENS: '', RADDIFF_TOKENS_FILE: '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    let buf = ''
    child.stdout!.on('data', (d) => {
      buf += d
      const m = /LISTENING (\S+)/.exec(buf)
      if (m) resolve({ child, url: m[1] })
    })
    child.on('exit', (code) => reject(new Error(`server exited early (${code})`)))
  })
}

const rssMiB = (pid: number): Promise<number> => readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+)/.exec(s)![1]) / 1024)

function multipart(name: string, bytes: Buffer): { body: Buffer; type: string } {
  const b = '----raddiffload'
  const body = Buffer.concat([
    Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="files"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${b}--\r\n`),
  ])
  return { body, type: `multipart/form-data; boundary=${b}` }
}

function phase(r: any, statuses: Record<string, number>): PhaseReport {
  return {
    requests: r.requests.total,
    rps: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors,
    timeouts: r.timeouts,
    statuses,
  }
}

export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'raddiff-load-'))
  const maxActive = o.maxActiveJobs ?? 8
  const { child, url } = await startServer(path.join(work, 'data'), {
    RADDIFF_STUB_STEP_MS: '30',
    RADDIFF_MAX_ACTIVE_JOBS: String(maxActive),
    RADDIFF_RATE_LIMIT: String(o.rateLimit ?? 20_000),
    RADDIFF_RATE_WINDOW_MS: String(o.rateWindowMs ?? 10_000),
    RADDIFF_MIN_FREE_BYTES: String(64 * 1024 * 1024),
  })
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
  try {
    const nifti = await readFile(path.join(root, 'fixtures/nifti/ixi-t1-small.nii.gz'))
    const mp = multipart('ixi.nii.gz', nifti)
    const first = (await (await fetch(`${url}/v1/scans`, { method: 'POST', body: mp.body, headers: { 'content-type': mp.type } })).json()) as any
    const scanId: string = first.scans[0].id
    const seedJob = (await (await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scanId, task: 'denoise' }) })).json()) as any
    const jobIds: string[] = [seedJob.id]

    const badBackpressure: string[] = []
    const counts = { uploads: {} as Record<string, number>, submit: {} as Record<string, number>, poll: {} as Record<string, number> }
    const onResponse = (which: keyof typeof counts) => (status: number, body: string, _ctx: unknown, headers: unknown) => {
      counts[which][status] = (counts[which][status] ?? 0) + 1
      if (status >= 200 && status < 300) {
        if (which === 'submit') {
          const id = /"id":"([0-9a-f-]{36})"/.exec(body)?.[1]
          if (id && jobIds.length < 200) jobIds.push(id)
        }
        return
      }
      const h = Array.isArray(headers) ? headers : Object.entries((headers ?? {}) as Record<string, string>).flat()
      const ra = h.findIndex((x, i) => i % 2 === 0 && String(x).toLowerCase() === 'retry-after')
      if (!((status === 429 || status === 503) && ra >= 0 && Number(h[ra + 1]) > 0) && badBackpressure.length < 20) {
        badBackpressure.push(`${which} ${status} ${body.slice(0, 160)}`)
      }
    }

    // RSS and queue depth sampled through the run.
    const rss: number[] = []
    let maxQueueSeen = 0
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        rss.push(await rssMiB(child.pid!).catch(() => NaN))
        const q = (await fetch(`${url}/readyz`).then((r) => r.json()).catch(() => undefined)) as any
        if (q?.queue) maxQueueSeen = Math.max(maxQueueSeen, q.queue.queued + q.queue.running)
        await new Promise((r) => setTimeout(r, 200))
      }
    })()

    let poll = 0
    const runs = await Promise.all([
      autocannon({
        url,
        connections: Math.min(4, o.uploads),
        amount: o.uploads,
        timeout: 30,
        requests: [{ method: 'POST', path: '/v1/scans', headers: { 'content-type': mp.type }, body: mp.body, onResponse: onResponse('uploads') }],
      }),
      autocannon({
        url,
        connections: 2,
        duration: o.seconds,
        overallRate: 40,
        timeout: 30,
        requests: [{ method: 'POST', path: '/v1/jobs', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scanId, task: 'denoise' }), onResponse: onResponse('submit') }],
      }),
      autocannon({
        url,
        connections: o.connections,
        duration: o.seconds,
        timeout: 30,
        requests: [
          {
            method: 'GET',
            setupRequest: (req: Record<string, unknown>) => ({ ...req, path: poll++ % 5 === 4 ? '/v1/jobs?state=running&limit=20' : `/v1/jobs/${jobIds[poll % jobIds.length]}` }),
            onResponse: onResponse('poll'),
          },
        ],
      }),
    ])
    sampling = false
    await sampler
    const tenth = Math.max(1, Math.floor(rss.length / 10))
    const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length
    const firstT = mean(rss.slice(0, tenth))
    const lastT = mean(rss.slice(-tenth))
    const alive = (await fetch(`${url}/healthz`).then((r) => r.status).catch(() => 0)) === 200
    return {
      seconds: o.seconds,
      phases: { uploads: phase(runs[0], counts.uploads), submit: phase(runs[1], counts.submit), poll: phase(runs[2], counts.poll) },
      badBackpressure,
      rssFirstTenthMiB: Math.round(firstT * 10) / 10,
      rssLastTenthMiB: Math.round(lastT * 10) / 10,
      rssGrowthMiB: Math.round((lastT - firstT) * 10) / 10,
      rssPeakMiB: Math.round(Math.max(...rss.filter(Number.isFinite)) * 10) / 10,
      maxQueueSeen,
      serverAlive: alive && child.exitCode === null,
      serverExitCode: child.exitCode,
    }
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGKILL')
      await exited
    }
    await rm(work, { recursive: true, force: true })
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2)
  const opt = (name: string, dflt: number): number => {
    const i = args.indexOf(name)
    return i >= 0 ? Number(args[i + 1]) : dflt
  }
  const report = await runLoad({ seconds: opt('--seconds', 20), connections: opt('--connections', 16), uploads: opt('--uploads', 200) })
  if (args.includes('--json')) console.log(JSON.stringify(report, null, 2))
  else {
    console.log(`raddiff load, ${report.seconds} s on loopback (server RSS ${report.rssFirstTenthMiB} → ${report.rssLastTenthMiB} MiB, growth ${report.rssGrowthMiB} MiB, peak ${report.rssPeakMiB} MiB)`)
    console.log('phase     requests  req/s  p50 ms  p99 ms  errors  statuses')
    for (const [k, p] of Object.entries(report.phases)) {
      console.log(`${k.padEnd(9)} ${String(p.requests).padStart(8)} ${String(p.rps).padStart(6)} ${String(p.p50).padStart(7)} ${String(p.p99).padStart(7)} ${String(p.errors).padStart(7)}  ${JSON.stringify(p.statuses)}`)
    }
    console.log(`queue depth max seen: ${report.maxQueueSeen}; server alive: ${report.serverAlive}; back-pressure violations: ${report.badBackpressure.length}`)
    for (const b of report.badBackpressure) console.log(`  ${b}`)
  }
  process.exit(report.serverAlive && report.badBackpressure.length === 0 ? 0 : 1)
}
