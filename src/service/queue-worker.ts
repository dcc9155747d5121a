import path from 'node:path'
import pino from 'pino'
import { defaultModelsDir } from '../engine/models-dir.js'
import { RedisJobQueue } from './queue-redis.js'
import { exitOnSignals } from './shutdown-signals.js'
import { prepareStorageRoot } from './storage.js'
import { openStore } from './store.js'

export interface QueueWorkerOptions {
  redisUrl: string
  /** The storage root the API processes use (shared filesystem across machines). */
  dataDir: string
  /** Local scratch space for temporary files (default $RADDIFF_SCRATCH_DIR or <dataDir>/tmp). */
  scratchDir?: string
  /** postgres://… (default $RADDIFF_DATABASE_URL); unset: SQLite in dataDir, one machine only. */
  databaseUrl?: string
  modelsDir?: string
  concurrency?: number
  maxAttempts?: number
  taskModule?: string
  workerId?: string
  queueLockMs?: number
  /** How long SIGTERM waits for running jobs before handing them back to the queue. */
  drainTimeoutMs?: number
  handleSignals?: boolean
  logger?: boolean
}

/**
 * A worker-only process for Redis mode (`raddiff serve --role worker`): no HTTP, takes jobs from
 * the shared BullMQ queue and runs them in its own forked inference workers. SIGTERM drains.
 */
export async function startQueueWorker(o: QueueWorkerOptions): Promise<{ queue: RedisJobQueue; stop: () => Promise<void> }> {
  const dataDir = path.resolve(o.dataDir)
  const log = pino({ level: o.logger ? 'info' : 'silent' })
  await prepareStorageRoot(dataDir)
  const store = await openStore({ databaseUrl: o.databaseUrl ?? (process.env.RADDIFF_DATABASE_URL || undefined), dataDir, log })
  const scratchDir = path.resolve(o.scratchDir ?? (process.env.RADDIFF_SCRATCH_DIR || path.join(dataDir, 'tmp')))
  const queue = new RedisJobQueue({
    scratchDir,
    url: o.redisUrl,
    role: 'worker',
    workerId: o.workerId,
    lockMs: o.queueLockMs,
    pool: {
      store,
      dataDir,
      modelsDir: path.resolve(o.modelsDir ?? defaultModelsDir()),
      concurrency: Math.max(1, o.concurrency ?? 1),
      maxAttempts: o.maxAttempts ?? 3,
      taskModule: o.taskModule,
      log,
    },
  })
  await queue.start()
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      log.info({}, 'draining: no new jobs, waiting for running ones')
      await queue.drain(o.drainTimeoutMs ?? 30_000)
      await store.close()
    })())
  if (o.handleSignals) exitOnSignals(stop)
  return { queue, stop }
}
