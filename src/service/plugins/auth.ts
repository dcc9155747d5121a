import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { HttpError } from '../errors.js'

export const LOCAL_USER = 'local'

const digest = (t: string): string => createHash('sha256').update(t).digest('hex')

export interface AuthOptions {
  /** token → user; none: every request is the one local user (the server then binds to loopback). */
  tokens?: Record<string, string>
}

/**
 * Bearer tokens, one user each, on every /v1 route. Tokens are looked up by their sha256 so the
 * comparison's timing says nothing about a token's prefix. A fastify-plugin so the hook and the
 * `user` decoration reach every route plugin registered after it (plain plugins are encapsulated).
 */
async function auth(app: FastifyInstance, opts: AuthOptions): Promise<void> {
  const byDigest = new Map(Object.entries(opts.tokens ?? {}).map(([t, u]) => [digest(t), u]))
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

export const authPlugin = fp(auth, { name: 'raddiff-auth', fastify: '5.x' })
