/**
 * `tsx bench/service.ts [--seconds 10] [--connections 10] [--uploads 5]` (npm run bench:service);
 * with `--database postgres://…` the scale-out comparison of bench/service-scale.ts instead.
 * Starts the service as its own process on loopback with a temp data folder and the tiny test model
 * (card rewritten to serve denoise, sha256 unchanged), then measures: upload throughput of the
 * 30-file MR series (../shared/data/dicom/mr_series_vs_seg), job-status polling req/s and latency
 * with autocannon while a real denoise job runs in a worker, and the server's RSS before and after.
 * Bounded: every phase has a time or count limit; the server is killed at the end.
 */
import { spawn } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
// @ts-expect-error autocannon ships no type declarations (@types/autocannon is not installed)
import autocannon from 'autocannon'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
if (args.includes('--database')) {
  // Two API nodes and two workers per store, SQLite beside PostgreSQL: bench/service-scale.ts.
  await import('./service-scale.js')
  process.exit(0)
}
const seconds = opt('--seconds', 10)
const connections = opt('--connections', 10)
const uploads = opt('--uploads', 5)
const seriesDir = path.resolve(root, '../shared/data/dicom/mr_series_vs_seg')

function rssMiB(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+)/.exec(s)![1]) / 1024)
}

const work = await mkdtemp(path.join(os.tmpdir(), 'raddiff-bench-svc-'))
const dataDir = path.join(work, 'data')
const modelsDir = path.join(work, 'models')
await mkdir(modelsDir)
const card = JSON.parse(await readFile(path.join(root, 'fixtures/models/tiny-eps.json'), 'utf8'))
await writeFile(path.join(modelsDir, 'tiny-eps.json'), JSON.stringify({ ...card, tasks: ['denoise'] }))
await copyFile(path.join(root, 'fixtures/models/tiny-eps.onnx'), path.join(modelsDir, 'tiny-eps.onnx'))

const boot = `import('./src/service/server.ts').then((m) => m.startServer({ port: 0, host: '127.0.0.1', dataDir: process.env.BENCH_DATA, modelsDir: process.env.BENCH_MODELS, logger: false, handleSignals: true })).then((r) => console.log('LISTENING ' + r.url))`
const server = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', boot], {
  cwd: root,
  env: { ...process.env, BENCH_DATA: dataDir, BENCH_MODELS: modelsDir, RADDIFF_TOKENS: '', RADDIFF_TOKENS_FILE: '', RADDIFF_RATE_LIMIT: '100000000' },
  stdio: ['ignore', 'pipe', 'inherit'],
})
const kill = setTimeout(() => server.kill('SIGKILL'), (seconds + 120) * 1000)
try {
  const url = await new Promise<string>((resolve, reject) => {
    let buf = ''
    server.stdout!.on('data', (d) => {
      buf += d
      const m = /LISTENING (\S+)/.exec(buf)
      if (m) resolve(m[1])
    })
    server.on('exit', (c) => reject(new Error(`server exited (${c})`)))
  })
  await new Promise((r) => setTimeout(r, 500))
  const rssStart = await rssMiB(server.pid!)
  console.log(`server: ${url}, pid ${server.pid}, RSS at start ${rssStart.toFixed(1)} MiB`)

  const names = (await readdir(seriesDir).catch(() => [] as string[])).sort()
  if (names.length === 0) throw new Error(`no series at ${seriesDir}`)
  const files = await Promise.all(names.map(async (n) => ({ n, b: await readFile(path.join(seriesDir, n)) })))
  const bytes = files.reduce((s, f) => s + f.b.length, 0)
  let scanId = ''
  const times: number[] = []
  for (let i = 0; i < uploads; i++) {
    const form = new FormData()
    for (const f of files) form.append('files', new Blob([f.b]), f.n)
    const t0 = performance.now()
    const res = await fetch(`${url}/v1/scans`, { method: 'POST', body: form })
    const body = (await res.json()) as any
    times.push(performance.now() - t0)
    if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${JSON.stringify(body)}`)
    scanId = body.scans[0].id
  }
  const med = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]
  console.log(
    `upload: ${files.length} files, ${(bytes / 1048576).toFixed(1)} MiB, median ${med.toFixed(0)} ms over ${uploads} uploads → ${(bytes / 1048576 / (med / 1000)).toFixed(1)} MiB/s, ${(files.length / (med / 1000)).toFixed(0)} files/s (includes header scan of the series)`,
  )

  const job = (await (await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scanId, task: 'denoise', params: { steps: 1000, seed: 0 } }) })).json()) as any
  for (let i = 0; i < 200; i++) {
    const j = (await (await fetch(`${url}/v1/jobs/${job.id}`)).json()) as any
    if (j.state !== 'queued') break
    await new Promise((r) => setTimeout(r, 50))
  }
  const rssJob = await rssMiB(server.pid!)
  const result = await autocannon({ url: `${url}/v1/jobs/${job.id}`, connections, duration: seconds })
  const after = (await (await fetch(`${url}/v1/jobs/${job.id}`)).json()) as any
  console.log(
    `status polling while the job runs (${connections} connections, ${seconds} s): ${result.requests.average.toFixed(0)} req/s, latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms, non-2xx ${result.non2xx}, errors ${result.errors}`,
  )
  console.log(`job during polling: state ${after.state}, progress ${(after.progress * 100).toFixed(1)}%, stage ${after.stage}`)
  await fetch(`${url}/v1/jobs/${job.id}`, { method: 'DELETE' })
  await new Promise((r) => setTimeout(r, 500))
  const rssEnd = await rssMiB(server.pid!)
  console.log(`server RSS: start ${rssStart.toFixed(1)} MiB, with job queued ${rssJob.toFixed(1)} MiB, after ${rssEnd.toFixed(1)} MiB (workers are separate processes)`)
} finally {
  clearTimeout(kill)
  server.kill('SIGKILL')
  await rm(work, { recursive: true, force: true })
}
