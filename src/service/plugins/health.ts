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
    queue: { type: 'object', properties: { queued: { type: 'integer' }, running: { type: 'integer' } } },
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
      { schema: { tags: ['health'], security: [], summary: 'Readiness: models loaded and sha256-verified, device, queue depth', response: { 200: readySchema, 503: readySchema } } },
      async (req, reply) => {
        const models = await ctx.readiness.models()
        const workers = ctx.pool.stats()
        const reasons: string[] = []
        if (!models.some((m) => m.verified)) reasons.push(`no verified model in the models folder`)
        if (workers.draining) reasons.push('shutting down')
        const body = {
          ready: reasons.length === 0,
          reasons,
          models,
          device: { requested: process.env.RADDIFF_DEVICE ?? 'auto', lastUsed: ctx.pool.lastDevice },
          queue: ctx.store.queueDepth(),
          workers,
        }
        return reply.code(body.ready ? 200 : 503).send(body)
      },
    )
  }
}
