/**
 * A pool of reusable child processes (scripts/fuzz-worker.ts) that load inputs through the
 * public loader. The parent enforces what a child cannot enforce on itself: a per-input time
 * limit (a synchronous hang never yields) and a hard RSS ceiling (checked from /proc), and it
 * restarts a child after a crash, a kill, or a peak that would hide the next input's peak.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Limits } from '../src/io/limits.js'
import type { Untyped, WorkerJob, WorkerResult } from './fuzz-worker.js'

const here = path.dirname(fileURLToPath(import.meta.url))
export const repoRoot = path.resolve(here, '..')

export type FailureKind = 'crash' | 'hang' | 'memory' | 'untyped' | 'bad-volume' | 'leak'

export interface LoadReport {
  outcome: 'loaded' | 'typed' | 'failure'
  failure?: { kind: FailureKind; detail: string; stack?: string[] }
  codes: string[]
  ms: number
  peakAboveBaselineMB: number
  arrayBuffersMB: number
}

export interface PoolOptions {
  size?: number
  timeoutMs?: number
  /** Peak RSS a single input may add above the idle worker. */
  memCapMB?: number
  /** Where zips are extracted (cleaned by the loader). */
  tmpDir?: string
  /** Lets ".selftest-KIND" paths sabotage the worker (harness tests only). */
  selfTest?: boolean
}

function vmRssMB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : 0
  } catch {
    return 0
  }
}

class Worker {
  child!: ChildProcess
  baselineMB = 0
  private ready!: Promise<void>

  constructor(private readonly pool: LoaderPool) {
    this.start()
  }

  start(): void {
    this.child = fork(path.join(here, 'fuzz-worker.ts'), [], {
      cwd: repoRoot,
      execArgv: ['--import', 'tsx', '--max-old-space-size=1024'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
      env: { ...process.env, RADDIFF_FUZZ_SELFTEST: this.pool.opts.selfTest ? '1' : '0' },
    })
    this.child.stderr?.resume() // loaders' stray console noise is not our signal
    this.ready = new Promise((resolve, reject) => {
      const onMsg = (m: { ready?: boolean; baselineMB: number }) => {
        if (!m.ready) return
        this.baselineMB = m.baselineMB
        this.child.off('message', onMsg)
        resolve()
      }
      this.child.on('message', onMsg)
      this.child.once('exit', (code) => reject(new Error(`fuzz worker exited during start (${code})`)))
    })
  }

  kill(): void {
    this.child.removeAllListeners()
    this.child.kill('SIGKILL')
  }

  restart(): Promise<void> {
    this.kill()
    this.start()
    return this.ready
  }

  async run(paths: string[], limits?: Partial<Limits>): Promise<LoadReport> {
    await this.ready
    const { timeoutMs, memCapMB, tmpDir } = this.pool.opts
    const job: WorkerJob = { id: this.pool.nextId++, paths, limits, tmpDir }
    const t0 = performance.now()
    const report = await new Promise<LoadReport | { failure: LoadReport['failure'] }>((resolve) => {
      const done = (r: LoadReport | { failure: LoadReport['failure'] }) => {
        clearTimeout(timer)
        clearInterval(watch)
        this.child.off('message', onMsg)
        this.child.off('exit', onExit)
        resolve(r)
      }
      const onMsg = (m: WorkerResult | { crash: { kind: string; error: Untyped } }) => {
        if ('crash' in m) done({ failure: { kind: 'crash', detail: `${m.crash.kind}: ${m.crash.error.name}: ${m.crash.error.message}`, stack: m.crash.error.stack } })
        else if (m.id === job.id) done(classify(m, memCapMB))
      }
      const onExit = (code: number | null, signal: string | null) =>
        done({ failure: { kind: 'crash', detail: `worker exited (code ${code}, signal ${signal})` } })
      const timer = setTimeout(() => done({ failure: { kind: 'hang', detail: `no answer within ${timeoutMs} ms` } }), timeoutMs)
      // A hard ceiling well above the cap: the machine is shared, so a blow-up is stopped early.
      const watch = setInterval(() => {
        const rss = vmRssMB(this.child.pid!)
        if (rss - this.baselineMB > memCapMB * 2) done({ failure: { kind: 'memory', detail: `RSS reached ${rss.toFixed(0)} MB (killed)` } })
      }, 25)
      this.child.on('message', onMsg)
      this.child.once('exit', onExit)
      this.child.send(job)
    })
    if ('outcome' in report) {
      // Peak RSS only grows: after a high-water input, restart so the next input is measured too.
      if (report.peakAboveBaselineMB > memCapMB / 2) await this.restart()
      return report
    }
    await this.restart()
    return { outcome: 'failure', failure: report.failure, codes: [], ms: performance.now() - t0, peakAboveBaselineMB: NaN, arrayBuffersMB: NaN }
  }
}

function classify(r: WorkerResult, memCapMB: number): LoadReport {
  const base = { codes: r.codes, ms: r.ms, peakAboveBaselineMB: r.peakAboveBaselineMB, arrayBuffersMB: r.arrayBuffersMB }
  const fail = (kind: FailureKind, detail: string, stack?: string[]): LoadReport => ({ ...base, outcome: 'failure', failure: { kind, detail, stack } })
  if (r.untyped) return fail('untyped', `${r.untyped.name}: ${r.untyped.message}`, r.untyped.stack)
  if (r.peakGrowthMB > 0 && r.peakAboveBaselineMB > memCapMB) return fail('memory', `peak RSS ${r.peakAboveBaselineMB.toFixed(0)} MB above idle`)
  if (r.arrayBuffersMB > memCapMB) return fail('memory', `${r.arrayBuffersMB.toFixed(0)} MB of ArrayBuffers still held after the input`)
  if (r.badVolume) return fail('bad-volume', r.badVolume)
  if (r.leak) return fail('leak', r.leak)
  return { ...base, outcome: r.outcome === 'loaded' ? 'loaded' : 'typed' }
}

export class LoaderPool {
  readonly opts: Required<Omit<PoolOptions, 'tmpDir'>> & { tmpDir?: string }
  nextId = 0
  private readonly idle: Worker[] = []
  private readonly waiting: ((w: Worker) => void)[] = []
  private readonly all: Worker[] = []

  constructor(opts: PoolOptions = {}) {
    this.opts = { size: 1, timeoutMs: 10_000, memCapMB: 512, selfTest: false, ...opts }
    for (let i = 0; i < this.opts.size; i++) {
      const w = new Worker(this)
      this.all.push(w)
      this.idle.push(w)
    }
  }

  async load(paths: string[], limits?: Partial<Limits>): Promise<LoadReport> {
    const w = this.idle.pop() ?? (await new Promise<Worker>((r) => this.waiting.push(r)))
    try {
      return await w.run(paths, limits)
    } finally {
      const next = this.waiting.shift()
      if (next) next(w)
      else this.idle.push(w)
    }
  }

  close(): void {
    for (const w of this.all) w.kill()
  }
}
