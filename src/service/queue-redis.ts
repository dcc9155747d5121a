import { EventEmitter } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { DelayedError, Queue, WaitingError, Worker, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import type { QueueRole } from './config.js'
import { HttpError, StoreUnavailableError } from './errors.js'
import { sweepPartialUploads } from './storage.js'
import type { Store } from './store.js'
import { jobUpdate, WorkerPool, type JobUpdate, type PoolOptions } from './worker-pool.js'

export interface RedisQueueOptions {
  url: string
  /** api: enqueues and streams; worker: runs jobs; all: both. */
  role: QueueRole
  /** The local workers' options (roles all / worker); `external` and `tmpDir` are set here. */
  pool: Omit<PoolOptions, 'external' | 'tmpDir'>
  /** Local scratch space for this process's temporary files (default: under the data folder). */
  scratchDir?: string
  /** Recorded per run; default host:pid (RADDIFF_WORKER_ID overrides). */
  workerId?: string
  /** BullMQ lock: a worker silent this long is taken for dead and its job handed to another. */
  lockMs?: number
}

const QUEUE = 'raddiff-jobs'
const UPDATES = 'raddiff:job-updates'
const CANCELS = 'raddiff:job-cancels'
const ENQUEUE_TIMEOUT_MS = 5000
const PARTIAL_UPLOAD_MAX_AGE_MS = 24 * 3600_000

/**
 * Redis mode: the same job code, shared by several processes or machines. The record store
 * (store.ts) stays the record of every scan and job; BullMQ over Redis only says who runs which
 * job (BullMQ job id = our job id). Workers publish progress on a Redis channel, so any API
 * process's SSE streams see jobs running elsewhere; a cancel is written to the store and announced
 * on another channel, which the worker running the job turns into an abort (with a store poll as a
 * safety net for a missed message). A worker that dies loses its BullMQ lock; BullMQ hands the job
 * to another worker, and the store's claim (claimRun) lets it run only if it has not finished.
 *
 * Where it runs: every process must see the same store and the same storage root. With SQLite
 * (WAL needs shared memory) that means one machine; with PostgreSQL (--database postgres://…)
 * the API and worker nodes can be on any number of machines that mount the storage root. Redis
 * should persist (AOF) in production: a job whose BullMQ entry is lost waits in the store until
 * an API process restarts and re-enqueues it.
 */
export class RedisJobQueue extends EventEmitter {
  readonly workerId: string
  readonly pool?: WorkerPool
  private readonly store: Store
  private readonly queue: Queue
  private readonly pub: Redis
  private readonly sub: Redis
  private worker?: Worker
  private draining = false
  private closing?: Promise<void>
  private cancelPoll?: NodeJS.Timeout
  private cancelSent = new Set<string>()

  constructor(private readonly o: RedisQueueOptions) {
    super()
    this.setMaxListeners(0)
    this.store = o.pool.store
    this.workerId = o.workerId ?? process.env.RADDIFF_WORKER_ID ?? `${os.hostname()}:${process.pid}`
    if (o.role !== 'api') {
      const tmpDir = path.join(o.scratchDir ?? path.join(o.pool.dataDir, 'tmp'), this.workerId.replace(/[^\w.-]/g, '_'))
      this.pool = new WorkerPool({ ...o.pool, external: true, tmpDir })
    }
    this.queue = new Queue(QUEUE, { connection: new Redis(o.url, { maxRetriesPerRequest: 2 }) })
    this.pub = new Redis(o.url)
    this.sub = new Redis(o.url)
    for (const c of [this.pub, this.sub]) c.on('error', (e) => o.pool.log.warn({ err: { code: (e as NodeJS.ErrnoException).code } }, 'redis connection error'))
    this.queue.on('error', (e) => o.pool.log.warn({ err: { name: e.name } }, 'redis queue error'))
  }

  get lastDevice(): string | null {
    return this.pool?.lastDevice ?? null
  }

  async start(): Promise<void> {
    this.sub.on('message', (channel: string, msg: string) => this.onMessage(channel, msg))
    await this.sub.subscribe(UPDATES, CANCELS)
    if (this.pool) await this.startWorker(this.pool)
    if (this.o.role === 'worker') return
    for (const id of await this.store.unfinishedIds()) await this.enqueue(id)
    // Other API nodes may be receiving uploads right now: only day-old partial ones are abandoned.
    await sweepPartialUploads(this.o.pool.dataDir, PARTIAL_UPLOAD_MAX_AGE_MS)
  }

  private async startWorker(pool: WorkerPool): Promise<void> {
    await pool.start()
    pool.on('update', (u: JobUpdate) => void this.pub.publish(UPDATES, JSON.stringify(u)).catch(() => undefined))
    const lockDuration = this.o.lockMs ?? 30_000
    this.worker = new Worker(QUEUE, (job, token) => this.process(job, token), {
      connection: new Redis(this.o.url, { maxRetriesPerRequest: null }),
      concurrency: this.o.pool.concurrency,
      lockDuration,
      stalledInterval: Math.max(500, Math.round(lockDuration / 2)),
      // Attempts are counted in SQLite (QueueClaims); BullMQ must not give up before it does.
      maxStalledCount: this.o.pool.maxAttempts + 1,
    })
    this.worker.on('error', (e) => this.o.pool.log.warn({ err: { name: e.name } }, 'redis worker error'))
    this.cancelPoll = setInterval(() => {
      for (const id of pool.busyJobIds()) {
        void this.store.jobById(id).then((j) => j?.state === 'cancelled' && this.abortLocal(id), () => undefined)
      }
    }, 1000)
    this.cancelPoll.unref()
  }

  /** BullMQ processor: claim in SQLite, run through the pool, hand interrupted jobs back to the queue. */
  private async process(job: Job, token?: string): Promise<string> {
    try {
      return await this.processClaimed(job, token)
    } catch (e) {
      if (!(e instanceof StoreUnavailableError)) throw e
      // The record store is away (restarting): the job is neither lost nor failed, it comes back
      // to the queue shortly and the claim decides then whether it still has to run.
      this.o.pool.log.warn({ job: job.id, err: { code: e.code } }, 'record store unavailable; job delayed')
      await job.moveToDelayed(Date.now() + 2000, token)
      throw new DelayedError()
    }
  }

  private async processClaimed(job: Job, token?: string): Promise<string> {
    const id = job.id!
    const pool = this.pool!
    let claimed = false
    const state = await pool.run(async () => {
      const j = await this.store.claimRun(id, this.workerId, this.o.pool.maxAttempts)
      if (j) {
        claimed = true
        this.o.pool.log.info({ job: id, worker: this.workerId, attempt: j.attempts }, 'job claimed from the redis queue')
      } else await this.emitRecordRemote(id)
      return j
    })
    const now = (await this.store.jobById(id))?.state
    if (now === 'queued' || now === 'running') {
      // Drained or interrupted here: another worker (or this one, later) runs it again.
      if (claimed) await this.store.settleRun(id, 'interrupted')
      await job.moveToWait(token)
      throw new WaitingError()
    }
    if (claimed) await this.store.settleRun(id, state === 'skipped' ? (now ?? 'gone') : state)
    this.cancelSent.delete(id)
    return now ?? 'gone'
  }

  private onMessage(channel: string, msg: string): void {
    if (channel === UPDATES) {
      try {
        this.emit('update', JSON.parse(msg) as JobUpdate)
      } catch {
        // Not ours: ignore.
      }
    } else if (channel === CANCELS && this.pool?.busyJobIds().includes(msg)) this.abortLocal(msg)
  }

  private abortLocal(id: string): void {
    if (this.cancelSent.has(id)) return
    this.cancelSent.add(id)
    this.pool?.cancel(id)
  }

  private async emitRecordRemote(id: string): Promise<void> {
    const j = await this.store.jobById(id).catch(() => undefined)
    if (j) await this.pub.publish(UPDATES, JSON.stringify(jobUpdate(j))).catch(() => undefined)
  }

  private async enqueue(id: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('enqueue timed out')), ENQUEUE_TIMEOUT_MS)))
    try {
      await Promise.race([this.queue.add('job', {}, { jobId: id, removeOnComplete: { age: 3600 }, removeOnFail: { age: 7 * 86400 } }), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** A new job was recorded: hand it to the queue, or fail it when Redis cannot be reached. */
  async notify(id?: string): Promise<void> {
    if (!id) return
    try {
      await this.enqueue(id)
    } catch {
      await this.store.finish(id, 'failed', 'QUEUE_UNAVAILABLE', 'the job queue could not be reached')
      throw new HttpError('QUEUE_UNAVAILABLE', 'the job queue could not be reached; retry shortly', 503, { 'retry-after': '10' })
    }
  }

  /** Cancels in SQLite, then tells whichever worker runs the job; a waiting job leaves the queue. */
  async cancel(id: string): Promise<boolean> {
    const changed = await this.store.finish(id, 'cancelled', 'CANCELLED', 'the job was cancelled')
    if (changed) {
      void this.pub.publish(CANCELS, id).catch(() => undefined)
      void this.emitRecordRemote(id)
      // Fails for an active (locked) job, which the worker stops instead.
      void this.queue.remove(id).catch(() => undefined)
    }
    return changed
  }

  outDir(id: string): string {
    return path.join(this.o.pool.dataDir, 'results', id)
  }

  stats(): { workers: number; busy: number; mode: string; draining: boolean } {
    const s = this.pool?.stats() ?? { workers: 0, busy: 0, mode: 'none' }
    return { workers: s.workers, busy: s.busy, mode: `redis-${this.o.role}-${s.mode}`, draining: this.draining }
  }

  async dependencies(): Promise<Record<string, boolean>> {
    const ping = this.pub.ping().then(
      (r) => r === 'PONG',
      () => false,
    )
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), 1000).unref())
    return { redis: await Promise.race([ping, timeout]) }
  }

  workerPids(): number[] {
    return this.pool?.workerPids() ?? []
  }

  /** Stops taking jobs, lets running ones finish up to `timeoutMs`, hands the rest back to the queue. */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true
    await this.worker?.pause(true)
    await this.pool?.drain(timeoutMs)
    await this.close()
  }

  close(): Promise<void> {
    return (this.closing ??= (async () => {
      clearInterval(this.cancelPoll)
      await this.pool?.close()
      // Waits for the processors, which hand interrupted jobs back to the queue.
      await this.worker?.close()
      await this.queue.close()
      this.sub.disconnect()
      this.pub.disconnect()
    })())
  }
}
