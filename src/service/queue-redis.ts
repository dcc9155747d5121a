import { EventEmitter } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { Queue, WaitingError, Worker, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import type { QueueRole } from './config.js'
import { HttpError } from './errors.js'
import { QueueClaims } from './queue-claim.js'
import type { Store } from './store.js'
import { jobUpdate, WorkerPool, type JobUpdate, type PoolOptions } from './worker-pool.js'

export interface RedisQueueOptions {
  url: string
  /** api: enqueues and streams; worker: runs jobs; all: both. */
  role: QueueRole
  /** The local workers' options (roles all / worker); `external` and `tmpDir` are set here. */
  pool: Omit<PoolOptions, 'external' | 'tmpDir'>
  /** Recorded per run; default host:pid (RADDIFF_WORKER_ID overrides). */
  workerId?: string
  /** BullMQ lock: a worker silent this long is taken for dead and its job handed to another. */
  lockMs?: number
}

const QUEUE = 'raddiff-jobs'
const UPDATES = 'raddiff:job-updates'
const CANCELS = 'raddiff:job-cancels'
const ENQUEUE_TIMEOUT_MS = 5000

/**
 * Redis mode: the same job code, shared by several processes or machines. SQLite (in the shared
 * data folder) stays the record of every scan and job; BullMQ over Redis only says who runs which
 * job (BullMQ job id = our job id). Workers publish progress on a Redis channel, so any API
 * process's SSE streams see jobs running elsewhere; a cancel is written to SQLite and announced on
 * another channel, which the worker running the job turns into an abort (with a SQLite poll as a
 * safety net for a missed message). A worker that dies loses its BullMQ lock; BullMQ hands the job
 * to another worker, and QueueClaims lets it run only if SQLite says it has not finished.
 *
 * Where it runs: every process must open the same data folder. SQLite in WAL mode coordinates
 * processes on one machine (shared memory for the WAL index), which is what this mode supports:
 * e.g. one `--role api` and several `--role worker` processes, or containers on one host sharing a
 * volume. WAL does not work over network filesystems (NFS, SMB), so workers on other machines are
 * not supported by this design; that would need a networked record store. Redis should persist
 * (AOF) in production: a job whose BullMQ entry is lost waits in SQLite until an API process
 * restarts and re-enqueues it.
 */
export class RedisJobQueue extends EventEmitter {
  readonly workerId: string
  readonly claims: QueueClaims
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
    this.claims = new QueueClaims(this.store)
    this.workerId = o.workerId ?? process.env.RADDIFF_WORKER_ID ?? `${os.hostname()}:${process.pid}`
    if (o.role !== 'api') {
      const tmpDir = path.join(o.pool.dataDir, 'tmp', this.workerId.replace(/[^\w.-]/g, '_'))
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
    if (this.o.role !== 'worker') for (const id of this.claims.unfinishedIds()) await this.enqueue(id)
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
      for (const id of pool.busyJobIds()) if (this.store.jobById(id)?.state === 'cancelled') this.abortLocal(id)
    }, 1000)
    this.cancelPoll.unref()
  }

  /** BullMQ processor: claim in SQLite, run through the pool, hand interrupted jobs back to the queue. */
  private async process(job: Job, token?: string): Promise<string> {
    const id = job.id!
    const pool = this.pool!
    let claimed = false
    const state = await pool.run(() => {
      const j = this.claims.claim(id, this.workerId, this.o.pool.maxAttempts)
      if (j) {
        claimed = true
        this.o.pool.log.info({ job: id, worker: this.workerId, attempt: j.attempts }, 'job claimed from the redis queue')
      } else this.emitRecordRemote(id)
      return j
    })
    const now = this.store.jobById(id)?.state
    if (now === 'queued' || now === 'running') {
      // Drained or interrupted here: another worker (or this one, later) runs it again.
      if (claimed) this.claims.settle(id, 'interrupted')
      await job.moveToWait(token)
      throw new WaitingError()
    }
    if (claimed) this.claims.settle(id, state === 'skipped' ? (now ?? 'gone') : state)
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

  private emitRecordRemote(id: string): void {
    const j = this.store.jobById(id)
    if (j) void this.pub.publish(UPDATES, JSON.stringify(jobUpdate(j))).catch(() => undefined)
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
      this.store.finish(id, 'failed', 'QUEUE_UNAVAILABLE', 'the job queue could not be reached')
      throw new HttpError('QUEUE_UNAVAILABLE', 'the job queue could not be reached; retry shortly', 503, { 'retry-after': '10' })
    }
  }

  /** Cancels in SQLite, then tells whichever worker runs the job; a waiting job leaves the queue. */
  cancel(id: string): boolean {
    const changed = this.store.finish(id, 'cancelled', 'CANCELLED', 'the job was cancelled')
    if (changed) {
      void this.pub.publish(CANCELS, id).catch(() => undefined)
      this.emitRecordRemote(id)
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
