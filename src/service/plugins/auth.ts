import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { HttpError } from '../errors.js'

export const LOCAL_USER = 'local'

const digest = (t: string): string => createHash('sha256').update(t).digest('hex')

/**
 * Bearer tokens, one user each, on every /v1 route. Tokens are looked up by their sha256 so the
 * comparison's timing says nothing about a token's prefix. Without tokens every request is the
 * one local user (the server then binds to loopback only).
 */
export function installAuth(app: FastifyInstance, tokens: Record<string, string> | undefined): void {
  const byDigest = new Map(Object.entries(tokens ?? {}).map(([t, u]) => [digest(t), u]))
  app.decorateRequest('user', '')
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/v1')) return
    if (byDigest.size === 0) {
      req.user = LOCAL_USER
      return
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
    const user = m ? byDigest.get(digest(m[1])) : undefined
    if (!user) throw new HttpError('UNAUTHORIZED', 'a valid API token is required (Authorization: Bearer <token>)', 401, { 'www-authenticate': 'Bearer' })
    req.user = user
  })
}
