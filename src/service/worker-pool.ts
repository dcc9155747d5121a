import { fork, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { readdir, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { EngineError } from '../engine/errors.js'
import type { TaskName, TaskParams } from '../pipelines/task.js'
import { executeJob, type JobDone, type JobSpec, type RunTaskFn } from './execute-job.js'
import { jobFailure } from './errors.js'
import { sweepPartialUploads } from './storage.js'
import type { JobRecord, JobState, Store } from './store.js'
import type { FromWorker, ToWorker } from './worker-protocol.js'

export interface PoolLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface PoolOptions {
  store: Store
  dataDir: string
  modelsDir: string
  /** Jobs run at once (one worker each). */
  concurrency: number
  /** Starts a job may get before an interrupted one is failed instead of re-queued. */
  maxAttempts: number
  /** In-process runner (tests): no child processes. */
  runTask?: RunTaskFn
  /** Module exporting runTask for forked workers (default: the pipelines). */
  taskModule?: string
  log: PoolLogger
  /** How long a cancelled job may take to stop before its worker is killed. */
  cancelGraceMs?: number
  /**
   * Jobs come from an outside queue (Redis mode) through run(), not from the SQLite queue. Other
   * processes share the data folder then, so start() leaves their running jobs, uploads and temp
   * files alone and this pool keeps its temp files in `tmpDir`.
   */
  external?: boolean
  tmpDir?: string
}

/** What SSE listeners get on every change. */
export interface JobUpdate {
  id: string
  state: JobState
  progress: number
  stage: string | null
  errorCode?: string | null
}

export function jobUpdate(j: JobRecord): JobUpdate {
  return { id: j.id, state: j.state, progress: j.progress, stage: j.stage, errorCode: j.errorCode }
}

interface Slot {
  child?: ChildProcess
  ready: boolean
  /** Taken by run() while it claims a job for this slot. */
  reserved?: boolean
  job?: { id: string; abort?: AbortController; cancelTimer?: NodeJS.Timeout; lastWrite: number; lastStage: string }
}

const here = fileURLToPath(import.meta.url)
const isTs = here.endsWith('.ts')

/** The worker entry beside this file; under tsx/vitest it is TypeScript and needs tsx's loader. */
let command: { entry: string; execArgv: string[] } | undefined
function workerCommand(): { entry: string; execArgv: string[] } {
  return (command ??= resolveWorkerCommand())
}

function resolveWorkerCommand(): { entry: string; execArgv: string[] } {
  const entry = path.join(path.dirname(here), `worker-entry${isTs ? '.ts' : '.js'}`)
  if (!isTs) return { entry, execArgv: [] }
  const tsxDir = path.dirname(createRequire(import.meta.url).resolve('tsx/package.json'))
  return { entry, execArgv: ['--import', pathToFileURL(path.join(tsxDir, 'dist/loader.mjs')).href] }
}

/**
 * Runs queued jobs outside the request path: `concurrency` forked workers, each taking one job
 * at a time from the SQLite queue. The database is the queue, so a restart finds every job where
 * the last process left it.
 */
export class WorkerPool extends EventEmitter {
  private slots: Slot[] = []
  private draining = false
  private closed = false
  private timer?: NodeJS.Timeout
  private waiters = new Map<string, (state: JobState) => void>()
  private pumping = false
  private pumpAgain = false
  private emitting = new Set<Promise<void>>()
  lastDevice: string | null = null

  constructor(private readonly o: PoolOptions) {
    super()
    this.setMaxListeners(0)
  }

  get mode(): 'inline' | 'fork' {
    return this.o.runTask ? 'inline' : 'fork'
  }

  /** Recovers jobs a previous process left running, clears temp files, starts the workers. */
  async start(): Promise<void> {
    const { store, maxAttempts } = this.o
    if (this.o.external) {
      await rm(this.tmpDir, { recursive: true, force: true })
      for (let i = 0; i < this.o.concurrency; i++) this.slots.push(this.spawn({ ready: false }))
      return
    }
    for (const id of await store.runningJobIds()) {
      const state = await store.requeueOrFail(id, maxAttempts, 'INTERRUPTED', `the service stopped while the job ran (${maxAttempts} attempts used)`)
      await rm(this.outDir(id), { recursive: true, force: true })
      this.o.log.warn({ job: id, state }, 'recovered a job interrupted by a restart')
    }
    await rm(this.tmpDir, { recursive: true, force: true })
    await this.removeOrphanUploads()
    // Alone on this storage root (no queue shared with other nodes): nothing is in flight.
    await sweepPartialUploads(this.o.dataDir, 0)
    for (let i = 0; i < this.o.concurrency; i++) this.slots.push(this.spawn({ ready: false }))
    this.timer = setInterval(() => this.pump(), 1000)
    this.timer.unref()
    this.pump()
  }

  private get tmpDir(): string {
    return this.o.tmpDir ?? path.join(this.o.dataDir, 'tmp')
  }

  /** Upload folders no scan refers to: uploads cut off by a crash. */
  private async removeOrphanUploads(): Promise<void> {
    const dir = path.join(this.o.dataDir, 'uploads')
    const used = await this.o.store.uploadIds()
    const names = await readdir(dir).catch(() => [] as string[])
    for (const n of names) if (!used.has(n)) await rm(path.join(dir, n), { recursive: true, force: true })
  }

  outDir(jobId: string): string {
    return path.join(this.o.dataDir, 'results', jobId)
  }

  /** A new job was queued. */
  notify(_id?: string): void {
    setImmediate(() => this.pump())
  }

  /**
   * External mode: waits for a free worker, then calls `claim` (which marks the job running in
   * SQLite, or answers undefined when it must not run) and runs it. Resolves with the job's state
   * once the worker let go of it: terminal, or 'queued' when it was interrupted and should run again.
   */
  async run(claim: () => Promise<JobRecord | undefined>): Promise<JobState | 'skipped'> {
    for (;;) {
      if (this.draining || this.closed) return 'skipped'
      const slot = this.slots.find((s) => s.ready && !s.job && !s.reserved)
      if (slot) {
        slot.reserved = true
        let job: JobRecord | undefined
        try {
          job = await claim()
        } finally {
          slot.reserved = false
        }
        if (!job) return 'skipped'
        const id = job.id
        const done = new Promise<JobState>((resolve) => this.waiters.set(id, resolve))
        await this.dispatch(slot, job)
        return done
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** Ids of the jobs this pool's workers are running. */
  busyJobIds(): string[] {
    return this.slots.flatMap((s) => (s.job ? [s.job.id] : []))
  }

  private async settle(id: string): Promise<void> {
    const resolve = this.waiters.get(id)
    if (!resolve) return
    this.waiters.delete(id)
    // Unknown (store away): 'queued' makes the queue hand the job out again; the claim decides then.
    resolve(await this.o.store.jobById(id).then((j) => j?.state ?? 'failed', () => 'queued' as const))
  }

  stats(): { workers: number; busy: number; mode: string; draining: boolean } {
    return { workers: this.slots.length, busy: this.slots.filter((s) => s.job).length, mode: this.mode, draining: this.draining }
  }

  /** Process ids of the forked workers (tests, diagnostics). */
  workerPids(): number[] {
    return this.slots.map((s) => s.child?.pid).filter((p): p is number => p !== undefined)
  }

  private spawn(slot: Slot): Slot {
    if (this.mode === 'inline') {
      slot.ready = true
      return slot
    }
    const { entry, execArgv } = workerCommand()
    const env = { ...process.env, ...(this.o.taskModule ? { RADDIFF_TASK_MODULE: this.o.taskModule } : {}) }
    const child = fork(entry, [], { execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    slot.child = child
    slot.ready = false
    child.on('message', (m: FromWorker) => this.onMessage(slot, m))
    child.on('exit', (code, signal) => this.onExit(slot, child, code, signal))
    child.on('error', (e) => this.o.log.error({ err: { name: e.name, code: (e as NodeJS.ErrnoException).code } }, 'worker process error'))
    return slot
  }

  private onExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return
    slot.child = undefined
    slot.ready = false
    const job = slot.job
    slot.job = undefined
    if (job) {
      clearTimeout(job.cancelTimer)
      void this.recoverCrashed(job.id)
    }
    if (this.closed) return
    this.o.log.warn({ code, signal }, 'inference worker exited; starting another')
    setTimeout(() => {
      if (!this.closed) this.spawn(slot)
    }, 200).unref()
  }

  /** The worker died holding a job: back to the queue (or failed), then tell the listeners. */
  private async recoverCrashed(id: string): Promise<void> {
    try {
      const cur = await this.o.store.jobById(id)
      if (cur?.state === 'running') {
        if (this.draining) await this.o.store.requeueUncounted(id)
        else await this.o.store.requeueOrFail(id, this.o.maxAttempts, 'WORKER_CRASHED', 'the inference worker stopped while running the job')
        await rm(this.outDir(id), { recursive: true, force: true })
      }
    } catch (e) {
      this.storeFailed(e, id)
    }
    this.emitRecord(id)
    await this.settle(id)
  }

  /** A store write that failed even after its retries: logged by code; the job's record stays as it was. */
  private storeFailed(e: unknown, id?: string): void {
    this.o.log.error({ job: id, err: { code: (e as { code?: string })?.code ?? 'INTERNAL' } }, 'record store write failed')
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    if (m.type === 'ready') {
      slot.ready = true
      this.pump()
      return
    }
    if (!slot.job || slot.job.id !== m.id) return
    if (m.type === 'progress') this.onProgress(slot, m.progress.fraction, m.progress.stage)
    else if (m.type === 'done') void this.onDone(slot, m)
    else if (m.type === 'failed') void this.onFailed(slot, m.code, m.message)
    else if (m.type === 'cancelled') void this.onCancelled(slot)
  }

  /** Fills free workers from the queue; one pass at a time (claims are awaited), a call meanwhile runs another. */
  private pump(): void {
    if (this.draining || this.closed || this.o.external) return
    if (this.pumping) {
      this.pumpAgain = true
      return
    }
    this.pumping = true
    void this.fill()
      .catch((e) => this.storeFailed(e))
      .finally(() => {
        this.pumping = false
        if (this.pumpAgain) {
          this.pumpAgain = false
          this.pump()
        }
      })
  }

  private async fill(): Promise<void> {
    for (const slot of this.slots) {
      if (this.draining || this.closed) return
      if (slot.job || !slot.ready) continue
      const job = await this.o.store.claimNext()
      if (!job) return
      await this.dispatch(slot, job)
    }
  }

  private async dispatch(slot: Slot, job: JobRecord): Promise<void> {
    // The slot is taken before the first await, so nothing else hands it a second job.
    slot.job = { id: job.id, lastWrite: 0, lastStage: 'starting' }
    let scan: Awaited<ReturnType<Store['scanById']>>
    try {
      scan = await this.o.store.scanById(job.scanId)
    } catch (e) {
      // Store away: the job goes back where it was and is taken again later.
      slot.job = undefined
      await this.o.store.requeueUncounted(job.id).catch(() => undefined)
      await this.settle(job.id)
      throw e
    }
    if (!scan) {
      slot.job = undefined
      await this.o.store.finish(job.id, 'failed', 'NOT_FOUND', 'the scan was deleted before the job ran')
      this.emitRecord(job.id)
      await this.settle(job.id)
      return
    }
    const spec: JobSpec = {
      id: job.id,
      task: job.task as TaskName,
      params: job.params as TaskParams,
      uploadDir: path.join(this.o.dataDir, 'uploads', scan.uploadId),
      seriesIndex: scan.seriesIndex,
      expectSize: scan.summary.size,
      outDir: this.outDir(job.id),
      tmpDir: this.tmpDir,
      modelsDir: this.o.modelsDir,
    }
    if (this.closed || this.draining) {
      slot.job = undefined
      await this.o.store.requeueUncounted(job.id)
      await this.settle(job.id)
      return
    }
    this.emitRecord(job.id)
    this.o.log.info({ job: job.id, task: job.task, attempt: job.attempts }, 'job started')
    if (slot.child) {
      slot.child.send({ type: 'run', job: spec } satisfies ToWorker)
      return
    }
    const ac = new AbortController()
    slot.job.abort = ac
    executeJob(spec, this.o.runTask!, ac.signal, (p) => this.onProgress(slot, p.fraction, p.stage))
      .then((done) => this.onDone(slot, { id: job.id, ...done }))
      .catch((e) => {
        if (ac.signal.aborted || (e instanceof EngineError && e.code === 'CANCELLED')) return this.onCancelled(slot)
        else {
          const f = jobFailure(e)
          return this.onFailed(slot, f.code, f.message)
        }
      })
  }

  private onProgress(slot: Slot, fraction: number, stage: string): void {
    const job = slot.job
    if (!job || this.closed) return
    // Progress goes to SSE listeners at once, to the database a few times a second.
    const t = Date.now()
    if (stage !== job.lastStage || t - job.lastWrite > 250) {
      // A late write cannot touch a finished job (the store updates running rows only); an SSE
      // stream never shows progress going backwards (jobs.ts).
      void this.o.store.setProgress(job.id, fraction, stage).catch(() => undefined)
      job.lastWrite = t
      job.lastStage = stage
    }
    this.emit('update', { id: job.id, state: 'running', progress: fraction, stage } satisfies JobUpdate)
  }

  private async onDone(slot: Slot, m: { id: string } & JobDone): Promise<void> {
    // After close() the store is gone; the job was re-queued by drain() and runs again.
    if (this.closed) return
    const rel = (f: string) => path.relative(this.o.dataDir, f)
    let ok: boolean
    try {
      ok = await this.o.store.succeed(m.id, m.outputs.map((o) => ({ role: o.role, label: o.label, file: rel(o.file), bytes: o.bytes })), m.provenance, m.report)
    } catch (e) {
      // Not recorded: the job stays 'running' and is run again (Redis mode at once, else on restart).
      this.storeFailed(e, m.id)
      return this.release(slot, m.id)
    }
    // Cancelled while finishing: the files were renamed into place but are no one's results.
    if (!ok) await this.discardOutputs(m.id)
    const device = (m.provenance as { device?: string } | null)?.device
    if (typeof device === 'string') this.lastDevice = device
    this.o.log.info({ job: m.id, state: ok ? 'succeeded' : 'cancelled' }, 'job finished')
    this.release(slot, m.id)
  }

  private async onFailed(slot: Slot, code: string, message: string): Promise<void> {
    const id = slot.job!.id
    // A job aborted by close() goes back to the queue (drain), it did not fail.
    if (!this.closed) await this.o.store.finish(id, 'failed', code, message).catch((e) => this.storeFailed(e, id))
    await this.discardOutputs(id)
    this.o.log.warn({ job: id, code }, 'job failed')
    this.release(slot, id)
  }

  private async onCancelled(slot: Slot): Promise<void> {
    const id = slot.job!.id
    if (!this.closed) await this.o.store.finish(id, 'cancelled', 'CANCELLED', 'the job was cancelled').catch((e) => this.storeFailed(e, id))
    await this.discardOutputs(id)
    this.release(slot, id)
  }

  /**
   * Removes the files of a run that does not count. Not when the job succeeded: in Redis mode a
   * worker that stalled past its lock can still be running a job another worker already finished,
   * and the folder (on the shared root) holds that run's results.
   */
  private async discardOutputs(id: string): Promise<void> {
    const state = await this.o.store.jobById(id).then((j) => j?.state, () => 'unknown')
    if (state !== 'succeeded' && state !== 'unknown') await rm(this.outDir(id), { recursive: true, force: true })
  }

  private release(slot: Slot, id: string): void {
    if (slot.job?.id === id) {
      clearTimeout(slot.job.cancelTimer)
      slot.job = undefined
    }
    this.emitRecord(id)
    void this.settle(id)
    this.emit('idle')
    this.pump()
  }

  private emitRecord(id: string): void {
    if (this.closed) return
    const p: Promise<void> = this.o.store.jobById(id).then(
      (j) => {
        if (j) this.emit('update', jobUpdate(j))
      },
      () => undefined,
    )
    // drain() waits for these before closing: a job's last update must reach its listeners.
    this.emitting.add(p)
    void p.finally(() => this.emitting.delete(p))
  }

  /** Cancels a queued or running job; the abort reaches the worker, which is killed if it does not stop in time. */
  async cancel(id: string): Promise<boolean> {
    const changed = await this.o.store.finish(id, 'cancelled', 'CANCELLED', 'the job was cancelled')
    const slot = this.slots.find((s) => s.job?.id === id)
    if (slot?.job) {
      if (slot.child) {
        slot.child.send({ type: 'cancel', id } satisfies ToWorker)
        const child = slot.child
        slot.job.cancelTimer = setTimeout(() => {
          if (slot.job?.id === id && slot.child === child) child.kill('SIGKILL')
        }, this.o.cancelGraceMs ?? 5000)
        slot.job.cancelTimer.unref()
      } else slot.job.abort?.abort()
    }
    if (changed) this.emitRecord(id)
    return changed
  }

  /** Stops taking jobs, waits for running ones up to `timeoutMs`, then re-queues what is left. */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true
    const deadline = Date.now() + timeoutMs
    while (this.slots.some((s) => s.job) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100))
    }
    for (const s of this.slots) if (s.job) await this.o.store.requeueUncounted(s.job.id).catch((e) => this.storeFailed(e, s.job?.id))
    await Promise.all([...this.emitting])
    await this.close()
    for (const id of [...this.waiters.keys()]) await this.settle(id)
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.timer)
    const exits = this.slots.map((s) => {
      s.job?.abort?.abort()
      const c = s.child
      if (!c || c.exitCode !== null || c.signalCode !== null) return Promise.resolve()
      return new Promise<void>((resolve) => {
        c.once('exit', () => resolve())
        c.kill('SIGKILL')
      })
    })
    await Promise.all(exits)
  }
}
