import type { ServiceLimits } from './config.js'
import type { Readiness } from './readiness.js'
import type { Store } from './store.js'
import type { JobUpdate } from './worker-pool.js'

/** Runs jobs: the SQLite-queue WorkerPool, or RedisJobQueue in Redis mode. */
export interface JobRunner {
  readonly lastDevice: string | null
  start(): Promise<void>
  /** A job was recorded as queued. */
  notify(id: string): void | Promise<void>
  cancel(id: string): Promise<boolean>
  outDir(id: string): string
  stats(): { workers: number; busy: number; mode: string; draining: boolean }
  workerPids(): number[]
  /** The outside services this runner needs and whether each answers now (Redis mode: redis). */
  dependencies?(): Promise<Record<string, boolean>>
  drain(timeoutMs: number): Promise<void>
  close(): Promise<void>
  on(event: 'update', fn: (u: JobUpdate) => void): unknown
  off(event: 'update', fn: (u: JobUpdate) => void): unknown
}

/** What the route plugins share. */
export interface ServiceContext {
  /** The storage root: uploads and results (shared by every node in a multi-node setup). */
  dataDir: string
  /** This node's scratch space: temporary files only, never anything another node reads. */
  scratchDir: string
  modelsDir: string
  limits: ServiceLimits
  store: Store
  pool: JobRunner
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
