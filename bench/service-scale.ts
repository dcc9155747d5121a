/**
 * `npm run bench:service -- --database postgres://USER@HOST:PORT/DB [--jobs 40] [--seconds 10] [--connections 10]`
 * The scale-out topology on this machine, once per record store, side by side: SQLite (the data
 * folder) and PostgreSQL (a fresh database created next to the one named, dropped at the end).
 * Each run starts its own redis-server, two `--role api` and two `--role worker` nodes (the stub
 * task: ten 0-ms steps, so the figures are the service's own overhead, not inference), then
 * measures (1) jobs/s: `--jobs` jobs submitted alternately through both API nodes, from the first
 * POST to the last `succeeded`; (2) status polling: autocannon on GET /v1/jobs/:id against both
 * API nodes at once (connections split), requests/s and latency p50 / p99.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
// @ts-expect-error autocannon ships no type declarations (@types/autocannon is not installed)
import autocannon from 'autocannon'
import pg from 'pg'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : dflt
}
const baseUrl = opt('--database', '')
const jobs = Number(opt('--jobs', '40'))
const seconds = Number(opt('--seconds', '10'))
const connections = Number(opt('--connections', '10'))
if (!/^postgres(ql)?:\/\//.test(baseUrl)) throw new Error('--database must be a postgres:// URL')
if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('redis-server is needed (Debian package redis-server)')

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })

function start(cmd: string, argv: string[], env: Record<string, string>, ready: RegExp, stream: 'stdout' | 'stderr'): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(cmd, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolve, reject) => {
    let buf = ''
    child[stream]!.on('data', (d) => {
      buf += d
      const m = ready.exec(buf)
      if (m) resolve({ child, match: m })
    })
    child[stream === 'stdout' ? 'stderr' : 'stdout']!.resume()
    child.on('exit', (c) => reject(new Error(`${cmd} exited (${c}): ${buf.slice(-400)}`)))
  })
}

const cli = `const { main } = await import(${JSON.stringify(path.join(root, 'src/cli/main.ts'))}); process.exitCode = await main(process.argv.slice(1))`
const serve = (argv: string[], env: Record<string, string>, ready: RegExp) => start(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', cli, 'serve', ...argv], env, ready, 'stderr')


async function runOnce(kind: 'sqlite' | 'postgres', databaseUrl: string | undefined) {
  const work = await mkdtemp(path.join(os.tmpdir(), 'raddiff-bench-scale-'))
  const procs: ChildProcess[] = []
  try {
    const port = await freePort()
    procs.push((await start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], {}, /Ready to accept connections/, 'stdout')).child)
    const env = {
      RADDIFF_REDIS_URL: `redis://127.0.0.1:${port}`,
      RADDIFF_DATABASE_URL: databaseUrl ?? '',
      RADDIFF_TASK_MODULE: path.join(root, 'tests/service/stub-task.ts'),
      RADDIFF_STUB_STEP_MS: '0',
      RADDIFF_TOKENS: '',
      RADDIFF_TOKENS_FILE: '',
      RADDIFF_RATE_LIMIT: '100000000',
      RADDIFF_MAX_ACTIVE_JOBS: '100000',
    }
    const node = (name: string) => ['--data', path.join(work, 'shared'), '--scratch', path.join(work, `scratch-${name}`), '--models-dir', path.join(root, 'fixtures/models')]
    const started = await Promise.all([
      serve(['--role', 'api', '--port', '0', ...node('api1')], env, /listening on (\S+)/),
      serve(['--role', 'api', '--port', '0', ...node('api2')], env, /listening on (\S+)/),
      serve(['--role', 'worker', ...node('w1')], { ...env, RADDIFF_WORKER_ID: 'w1' }, /taking jobs/),
      serve(['--role', 'worker', ...node('w2')], { ...env, RADDIFF_WORKER_ID: 'w2' }, /taking jobs/),
    ])
    procs.push(...started.map((s) => s.child))
    const urls = [started[0].match[1], started[1].match[1]]
    const form = new FormData()
    form.append('files', new Blob([await readFile(path.join(root, 'fixtures/nifti/ixi-t1-small.nii.gz'))]), 'ixi-t1-small.nii.gz')
    const scanId = ((await (await fetch(`${urls[0]}/v1/scans`, { method: 'POST', body: form })).json()) as any).scans[0].id
    // One job first, so both workers have loaded their task module before the clock starts.
    const post = (u: string) => fetch(`${u}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scanId, task: 'denoise' }) }).then((r) => r.json() as Promise<any>)
    const waitAll = async (ids: string[]) => {
      const left = new Set(ids)
      while (left.size > 0) {
        for (const id of [...left]) {
          const j = (await (await fetch(`${urls[1]}/v1/jobs/${id}`)).json()) as any
          if (j.state === 'succeeded') left.delete(id)
          else if (j.state === 'failed' || j.state === 'cancelled') throw new Error(`job ${j.state}: ${j.error?.code}`)
        }
        if (left.size) await new Promise((r) => setTimeout(r, 20))
      }
    }
    await waitAll(await Promise.all([post(urls[0]), post(urls[1])]).then((js) => js.map((j) => j.id)))
    const t0 = performance.now()
    const ids = (await Promise.all(Array.from({ length: jobs }, (_, i) => post(urls[i % 2])))).map((j) => j.id)
    await waitAll(ids)
    const jobsPerS = jobs / ((performance.now() - t0) / 1000)

    const each = Math.max(1, Math.floor(connections / 2))
    const results = await Promise.all(urls.map((u, i) => autocannon({ url: `${u}/v1/jobs/${ids[i]}`, connections: each, duration: seconds })))
    const reqs = results.reduce((s: number, r: any) => s + r.requests.average, 0)
    const non2xx = results.reduce((s: number, r: any) => s + r.non2xx + r.errors, 0)
    // Per-node latency percentiles; the figure is the worse of the two nodes.
    const p50 = Math.max(...results.map((r: any) => r.latency.p50))
    const p99 = Math.max(...results.map((r: any) => r.latency.p99))
    return { kind, jobsPerS, reqs, p50, p99, non2xx }
  } finally {
    for (const p of procs) p.kill('SIGKILL')
    await rm(work, { recursive: true, force: true })
  }
}

// A fresh database beside the one named: the bench leaves nothing in it.
const admin = new pg.Client({ connectionString: baseUrl })
await admin.connect()
const dbName = `raddiff_bench_${Date.now()}`
await admin.query(`CREATE DATABASE ${dbName}`)
const u = new URL(baseUrl)
u.pathname = `/${dbName}`
const rows = []
try {
  rows.push(await runOnce('sqlite', undefined))
  rows.push(await runOnce('postgres', u.toString()))
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined)
  await admin.end()
}
console.log(`scale-out on this machine (${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}): 2 API + 2 worker nodes, redis, stub task; ${jobs} jobs; status polling ${seconds} s × ${connections} connections over both API nodes`)
console.log('store     | jobs/s | status req/s | p50 ms | p99 ms | non-2xx+errors')
for (const r of rows) console.log(`${r.kind.padEnd(9)} | ${r.jobsPerS.toFixed(1).padStart(6)} | ${r.reqs.toFixed(0).padStart(12)} | ${String(r.p50).padStart(6)} | ${String(r.p99).padStart(6)} | ${r.non2xx}`)

