import type { FastifyInstance } from 'fastify'
import type { ServiceContext } from '../context.js'

const readySchema = {
  type: 'object',
  properties: {
    ready: { type: 'boolean' },
    reasons: { type: 'array', items: { type: 'string' } },
    models: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, version: { type: 'string' }, tasks: { type: 'array', items: { type: 'string' } }, verified: { type: 'boolean' }, error: { type: 'string' } },
      },
    },
    device: { type: 'object', properties: { requested: { type: 'string' }, lastUsed: { type: ['string', 'null'] } } },
    queue: { type: ['object', 'null'], properties: { queued: { type: 'integer' }, running: { type: 'integer' } } },
    dependencies: {
      type: 'object',
      description: 'Each outside service this node needs (database: the record store; redis in Redis mode) and whether it answers now',
      properties: { database: { type: 'object', properties: { kind: { type: 'string' }, up: { type: 'boolean' } } }, redis: { type: 'object', properties: { up: { type: 'boolean' } } } },
    },
    workers: { type: 'object', properties: { workers: { type: 'integer' }, busy: { type: 'integer' }, mode: { type: 'string' }, draining: { type: 'boolean' } } },
  },
} as const

/** Liveness (the process answers) and readiness (verified models, workers, queue), no auth. */
export function healthPlugin(ctx: ServiceContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get(
      '/healthz',
      { schema: { tags: ['health'], summary: 'Liveness', security: [], response: { 200: { type: 'object', properties: { status: { type: 'string' }, uptime: { type: 'number' } } } } } },
      async () => ({ status: 'ok', uptime: process.uptime() }),
    )
    app.get(
      '/readyz',
      { schema: { tags: ['health'], security: [], summary: 'Readiness: models loaded and sha256-verified, database and redis up, device, queue depth', response: { 200: readySchema, 503: readySchema } } },
      async (req, reply) => {
        const models = await ctx.readiness.models()
        const workers = ctx.pool.stats()
        const [dbUp, others] = await Promise.all([ctx.store.ping(), ctx.pool.dependencies?.() ?? Promise.resolve({} as Record<string, boolean>)])
        const reasons: string[] = []
        if (!dbUp) reasons.push('the record store does not answer')
        for (const [name, up] of Object.entries(others)) if (!up) reasons.push(`${name} does not answer`)
        if (!models.some((m) => m.verified)) reasons.push(`no verified model in the models folder`)
        if (workers.draining) reasons.push('shutting down')
        const body = {
          ready: reasons.length === 0,
          reasons,
          models,
          device: { requested: process.env.RADDIFF_DEVICE ?? 'auto', lastUsed: ctx.pool.lastDevice },
          queue: dbUp ? await ctx.store.queueDepth().catch(() => null) : null,
          dependencies: { database: { kind: ctx.store.kind, up: dbUp }, ...Object.fromEntries(Object.entries(others).map(([k, up]) => [k, { up }])) },
          workers,
        }
        return reply.code(body.ready ? 200 : 503).send(body)
      },
    )
  }
}
