import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { tokensFromEnv, type ServiceOptions } from './config.js'
import { exitOnSignals } from './shutdown-signals.js'

export interface ServeOptions extends Omit<ServiceOptions, 'tokens'> {
  port: number
  host: string
  tokens?: Record<string, string>
  /** How long SIGTERM waits for running jobs before re-queueing them and exiting. */
  drainTimeoutMs?: number
  /** Install SIGTERM / SIGINT handlers (the CLI does; tests that embed the server do not). */
  handleSignals?: boolean
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])
const CLOSE_GRACE_MS = 10_000

/**
 * Starts the service. Without tokens there is no way to tell users apart, so it refuses to be
 * reachable from other machines: it binds to 127.0.0.1 whatever host was asked for, and says so.
 */
export async function startServer(o: ServeOptions): Promise<{ app: FastifyInstance; url: string; stop: () => Promise<void> }> {
  const tokens = o.tokens ?? tokensFromEnv()
  const app = await buildApp({ ...o, tokens })
  let host = o.host
  if (!tokens || Object.keys(tokens).length === 0) {
    if (!LOOPBACK.has(host)) host = '127.0.0.1'
    app.log.warn({ host }, 'no API tokens configured (RADDIFF_TOKENS or RADDIFF_TOKENS_FILE): one local user, bound to loopback only')
  }
  await app.listen({ port: o.port, host })
  const addr = app.server.address()
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${typeof addr === 'object' && addr ? addr.port : o.port}`
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      app.log.info({}, 'draining: no new jobs, waiting for running ones')
      await app.raddiff.pool.drain(o.drainTimeoutMs ?? 30_000)
      // In-flight requests get a grace period; a connection still open after it (a client that
      // stopped reading) must not keep the process from exiting.
      const force = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS)
      force.unref()
      await app.close()
      clearTimeout(force)
    })())
  if (o.handleSignals) exitOnSignals(stop)
  return { app, url, stop }
}
