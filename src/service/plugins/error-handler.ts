import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { describeError } from '../errors.js'

/**
 * Every failure answers {error: {code, message}}. Logs get the code and status only: library
 * messages and stacks can carry tag values, so they are logged only with RADDIFF_DEBUG set.
 * A fastify-plugin so the handlers apply to the whole app, not only inside this plugin's scope.
 */
async function errorHandling(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((err, req, reply) => {
    const d = describeError(err)
    const fields = { code: d.code, status: d.status, ...(process.env.RADDIFF_DEBUG ? { err } : {}) }
    if (d.status >= 500) req.log.error(fields, 'request failed')
    else req.log.info(fields, 'request rejected')
    for (const [k, v] of Object.entries(d.headers)) reply.header(k, v)
    if (d.status === 429 && !reply.hasHeader('retry-after')) reply.header('retry-after', '30')
    return reply.code(d.status).type('application/json').send({ error: { code: d.code, message: d.message } })
  })
  app.setNotFoundHandler((req, reply) => {
    return reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'no such route' } })
  })
}

export const errorHandlerPlugin = fp(errorHandling, { name: 'raddiff-error-handler', fastify: '5.x' })
