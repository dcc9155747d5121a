import path from 'node:path'
import multipart from '@fastify/multipart'
import rateLimit from '@fastify/rate-limit'
import Fastify, { type FastifyInstance } from 'fastify'
import { defaultModelsDir } from '../engine/models-dir.js'
import { defaultServiceLimits, type ServiceOptions } from './config.js'
import type { JobRunner, ServiceContext } from './context.js'
import { HttpError } from './errors.js'
import { authPlugin } from './plugins/auth.js'
import { registerDocs } from './plugins/docs.js'
import { errorHandlerPlugin } from './plugins/error-handler.js'
import { healthPlugin } from './plugins/health.js'
import { jobsPlugin } from './plugins/jobs.js'
import { modelsPlugin } from './plugins/models.js'
import { pacsPlugin } from './plugins/pacs.js'
import { resolveServers, serversFromEnv } from './dicomweb-servers.js'
import { resultsPlugin } from './plugins/results.js'
import { scansPlugin } from './plugins/scans.js'
import { segMaskPlugin } from './plugins/seg-mask.js'
import { viewerPlugin } from './plugins/viewer.js'
import { RedisJobQueue } from './queue-redis.js'
import { Readiness } from './readiness.js'
import { errorSchema, jobSchema, outputSchema, scanSchema } from './schemas.js'
import { prepareStorageRoot } from './storage.js'
import { openStore } from './store.js'
import { WorkerPool } from './worker-pool.js'

declare module 'fastify' {
  interface FastifyInstance {
    raddiff: ServiceContext
  }
}

/** Never log credentials or bodies; request logs carry method, URL (ids only), status and timing. */
const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'req.body', 'body', 'headers.authorization']

function loggerOption(logger: ServiceOptions['logger']): boolean | Record<string, unknown> {
  if (logger === false || logger === undefined) return false
  const base = logger === true ? {} : logger
  return {
    level: 'info',
    ...base,
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: {
      // The path holds only ids; the query string holds whatever a user typed (names included).
      req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url.split('?')[0] }),
    },
  }
}

/**
 * The HTTP service: scans, jobs, results, health and docs over one SQLite store and a pool of
 * inference workers, or with a Redis URL a BullMQ queue shared with other processes (queue-redis.ts).
 * Call `app.raddiff.pool.drain()` before `app.close()` for a graceful stop.
 */
export async function buildApp(opts: ServiceOptions): Promise<FastifyInstance> {
  const dataDir = path.resolve(opts.dataDir)
  const limits = { ...defaultServiceLimits(), ...opts.limits }
  const modelsDir = path.resolve(opts.modelsDir ?? defaultModelsDir())
  const scratchDir = path.resolve(opts.scratchDir ?? (process.env.RADDIFF_SCRATCH_DIR || path.join(dataDir, 'tmp')))
  if (opts.role === 'worker') throw new Error("role 'worker' serves no HTTP: use startQueueWorker")
  const log = loggerOption(opts.logger)
  await prepareStorageRoot(dataDir)
  // The store's connection warnings go to the app's logger, which exists only after the store.
  let logTo: FastifyInstance | undefined
  const store = await openStore({
    databaseUrl: opts.databaseUrl ?? (process.env.RADDIFF_DATABASE_URL || undefined),
    dataDir,
    log: { warn: (obj, msg) => logTo?.log.warn(obj, msg) },
  })
  const app = Fastify({
    logger: log,
    bodyLimit: limits.maxBodyBytes,
    // discriminator: a job body's task picks its parameter schema, and errors name only that task's.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, discriminator: true } },
    // Routes take UUIDs; longer ids are guesses.
    routerOptions: { maxParamLength: 200 },
  })
  logTo = app
  const poolOptions = {
    store,
    dataDir,
    modelsDir,
    concurrency: Math.max(1, opts.concurrency ?? 1),
    maxAttempts: opts.maxAttempts ?? 3,
    runTask: opts.runTask,
    taskModule: opts.taskModule,
    tmpDir: scratchDir,
    log: app.log,
  }
  const redisUrl = opts.redisUrl ?? process.env.RADDIFF_REDIS_URL
  const pool: JobRunner = redisUrl
    ? new RedisJobQueue({ url: redisUrl, role: opts.role ?? 'all', pool: poolOptions, scratchDir, workerId: opts.workerId, lockMs: opts.queueLockMs })
    : new WorkerPool(poolOptions)
  const ctx: ServiceContext = { dataDir, scratchDir, modelsDir, limits, store, pool, readiness: new Readiness(modelsDir), localOnly: !opts.tokens || Object.keys(opts.tokens).length === 0 }
  app.decorate('raddiff', ctx)
  app.addHook('onClose', async () => {
    await pool.close()
    await store.close()
  })

  await app.register(errorHandlerPlugin)
  await app.register(authPlugin, { tokens: opts.tokens })
  await app.register(multipart, {
    throwFileSizeLimit: true,
    limits: { fileSize: limits.maxFileBytes, files: limits.maxFiles, parts: limits.maxParts, fields: 50, fieldSize: 4096 },
  })
  await app.register(rateLimit, {
    global: true,
    max: limits.rateLimitMax,
    timeWindow: limits.rateLimitWindowMs,
    // After auth (onRequest), so the limit is per user, not per address behind one proxy.
    hook: 'preHandler',
    keyGenerator: (req) => req.user || req.ip,
    allowList: (req) => !req.url.startsWith('/v1'),
    errorResponseBuilder: (_req, c) => new HttpError('RATE_LIMITED', `rate limit exceeded; retry in ${c.after}`, 429),
  })
  await registerDocs(app)
  for (const s of [errorSchema, scanSchema, jobSchema, outputSchema]) app.addSchema(s)

  await app.register(viewerPlugin(ctx))
  await app.register(healthPlugin(ctx))
  await app.register(scansPlugin(ctx))
  await app.register(jobsPlugin(ctx))
  await app.register(resultsPlugin(ctx))
  await app.register(segMaskPlugin(ctx))
  await app.register(modelsPlugin(ctx))
  await app.register(pacsPlugin(ctx, opts.dicomwebServers ? resolveServers(opts.dicomwebServers) : serversFromEnv()))
  await pool.start()
  return app
}
