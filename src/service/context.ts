import type { ServiceLimits } from './config.js'
import type { Readiness } from './readiness.js'
import type { Store } from './store.js'
import type { WorkerPool } from './worker-pool.js'

/** What the route plugins share. */
export interface ServiceContext {
  dataDir: string
  modelsDir: string
  limits: ServiceLimits
  store: Store
  pool: WorkerPool
  readiness: Readiness
  /** True when no tokens are configured (one local user). */
  localOnly: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated owner of everything this request touches. */
    user: string
  }
}
