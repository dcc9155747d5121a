import path from 'node:path'
import type { QueueRole } from '../../service/config.js'
import { startQueueWorker } from '../../service/queue-worker.js'
import { startServer } from '../../service/server.js'
import { isPostgresUrl } from '../../service/store.js'
import { EXIT } from '../exit-codes.js'

export interface ServeCliOptions {
  port?: string
  host?: string
  data?: string
  scratch?: string
  database?: string
  modelsDir?: string
  concurrency?: string
  redisUrl?: string
  role?: string
}

const ROLES: readonly QueueRole[] = ['all', 'api', 'worker']

/**
 * `raddiff serve`: the HTTP API (and later the viewer); runs until SIGTERM / SIGINT, which drain.
 * With a Redis URL (--redis-url or $RADDIFF_REDIS_URL) jobs go through a shared BullMQ queue and
 * --role picks what this process does: all (API + worker), api, or worker (no HTTP).
 */
export async function serveCommand(o: ServeCliOptions): Promise<number> {
  const port = Number(o.port ?? process.env.PORT ?? 8080)
  const concurrency = Number(o.concurrency ?? process.env.RADDIFF_CONCURRENCY ?? 1)
  const role = (o.role ?? process.env.RADDIFF_ROLE ?? 'all') as QueueRole
  const redisUrl = o.redisUrl ?? (process.env.RADDIFF_REDIS_URL || undefined)
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isInteger(concurrency) || concurrency < 1) {
    process.stderr.write('raddiff serve: --port must be 0–65535 and --concurrency a positive integer\n')
    return EXIT.USAGE
  }
  if (!ROLES.includes(role) || (role !== 'all' && !redisUrl)) {
    process.stderr.write('raddiff serve: --role must be all, api or worker; api and worker need --redis-url (or $RADDIFF_REDIS_URL)\n')
    return EXIT.USAGE
  }
  const databaseUrl = o.database ?? (process.env.RADDIFF_DATABASE_URL || undefined)
  if (databaseUrl && !isPostgresUrl(databaseUrl)) {
    process.stderr.write('raddiff serve: --database must be a postgres:// URL (leave it out for the embedded SQLite store)\n')
    return EXIT.USAGE
  }
  const dataDir = path.resolve(o.data ?? process.env.RADDIFF_DATA_DIR ?? 'data')
  const scratchDir = o.scratch ?? (process.env.RADDIFF_SCRATCH_DIR || undefined)
  const lockMs = Number(process.env.RADDIFF_QUEUE_LOCK_MS) > 0 ? Number(process.env.RADDIFF_QUEUE_LOCK_MS) : undefined
  if (role === 'worker') {
    const { queue } = await startQueueWorker({ redisUrl: redisUrl!, dataDir, scratchDir, databaseUrl, modelsDir: o.modelsDir, concurrency, queueLockMs: lockMs, logger: true, handleSignals: true })
    process.stderr.write(`raddiff serve: worker ${queue.workerId} taking jobs from the Redis queue (data ${dataDir})\n`)
    return EXIT.OK
  }
  const { url } = await startServer({
    port,
    host: o.host ?? process.env.HOST ?? '127.0.0.1',
    dataDir,
    scratchDir,
    databaseUrl,
    modelsDir: o.modelsDir,
    concurrency,
    redisUrl,
    role,
    queueLockMs: lockMs,
    logger: true,
    handleSignals: true,
  })
  process.stderr.write(`raddiff serve: listening on ${url} (API docs at ${url}/docs)${redisUrl ? ` [redis mode, role ${role}]` : ''}${databaseUrl ? ' [postgres store]' : ''}\n`)
  return EXIT.OK
}
