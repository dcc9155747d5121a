import path from 'node:path'
import pino from 'pino'
import { defaultModelsDir } from '../engine/models-dir.js'
import { RedisJobQueue } from './queue-redis.js'
import { exitOnSignals } from './shutdown-signals.js'
import { Store } from './store.js'

export interface QueueWorkerOptions {
  redisUrl: string
  /** The data folder the API processes use (shared filesystem across machines). */
  dataDir: string
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
  const store = new Store(dataDir)
  const queue = new RedisJobQueue({
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
      store.close()
    })())
  if (o.handleSignals) exitOnSignals(stop)
  return { queue, stop }
}
