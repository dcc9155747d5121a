import type { DicomwebServerConfig } from './dicomweb-servers.js'
import { readFileSync } from 'node:fs'
import type { RunTaskFn } from './execute-job.js'

export interface ServiceLimits {
  /** Bytes of one uploaded file. */
  maxFileBytes: number
  /** Files in one upload. */
  maxFiles: number
  /** Multipart parts (files + fields) in one upload. */
  maxParts: number
  /** Bytes of one whole upload. */
  maxUploadBytes: number
  /** JSON body bytes. */
  maxBodyBytes: number
  /** Queued + running jobs one user may have. */
  maxActiveJobsPerUser: number
  /** Requests per user (or address) per window on /v1. */
  rateLimitMax: number
  rateLimitWindowMs: number
  /** Bytes of uploads + results one user may hold (507 beyond). */
  userQuotaBytes: number
  /** Free bytes the data disk must keep (507 when an upload would eat into them). */
  minFreeBytes: number
}

function envNumber(name: string, fallback: number): number {
  const n = Number(process.env[name])
  return process.env[name] && Number.isFinite(n) && n > 0 ? n : fallback
}

export function defaultServiceLimits(): ServiceLimits {
  return {
    maxFileBytes: envNumber('RADDIFF_MAX_FILE_BYTES', 1024 ** 3),
    maxFiles: envNumber('RADDIFF_MAX_UPLOAD_FILES', 5000),
    maxParts: envNumber('RADDIFF_MAX_UPLOAD_PARTS', 5100),
    maxUploadBytes: envNumber('RADDIFF_MAX_UPLOAD_BYTES', 4 * 1024 ** 3),
    maxBodyBytes: envNumber('RADDIFF_MAX_BODY_BYTES', 64 * 1024),
    maxActiveJobsPerUser: envNumber('RADDIFF_MAX_ACTIVE_JOBS', 20),
    rateLimitMax: envNumber('RADDIFF_RATE_LIMIT', 600),
    rateLimitWindowMs: envNumber('RADDIFF_RATE_WINDOW_MS', 60_000),
    userQuotaBytes: envNumber('RADDIFF_USER_QUOTA_BYTES', 50 * 1024 ** 3),
    minFreeBytes: envNumber('RADDIFF_MIN_FREE_BYTES', 1024 ** 3),
  }
}

export interface ServiceOptions {
  /**
   * The storage root: uploads and results, and the SQLite store when there is no database URL
   * (default ./data). Nodes of one service all mount the same root (docs: "Scaling out").
   */
  dataDir: string
  /**
   * This node's local scratch space for temporary files (default $RADDIFF_SCRATCH_DIR or
   * <dataDir>/tmp). raddiff owns it: it is emptied on start, so give it a folder of its own.
   */
  scratchDir?: string
  /** postgres://… makes PostgreSQL the record store (default $RADDIFF_DATABASE_URL; unset: SQLite in dataDir). */
  databaseUrl?: string
  modelsDir?: string
  /** token → user. Absent or empty: one local user, loopback only. */
  tokens?: Record<string, string>
  limits?: Partial<ServiceLimits>
  /** Jobs run at once. */
  concurrency?: number
  maxAttempts?: number
  /** In-process task runner (tests); otherwise forked workers import `taskModule` (default: the pipelines). */
  runTask?: RunTaskFn
  taskModule?: string
  /** Fastify logger: false for silence, or pino options (redaction is always added). */
  logger?: boolean | Record<string, unknown>
  /** Redis mode (default $RADDIFF_REDIS_URL): BullMQ dispatches jobs to every process sharing the data folder. */
  redisUrl?: string
  /** Redis mode only: 'api' enqueues without running jobs, 'all' (default) does both; see queue-worker.ts for 'worker'. */
  role?: QueueRole
  /** Redis mode: this process's name in each job's run records (default host:pid, or $RADDIFF_WORKER_ID). */
  workerId?: string
  /** Redis mode: how long a silent worker keeps its job before another takes it over (default 30 s). */
  queueLockMs?: number
  /** DICOMweb servers for import / push, by name (default: RADDIFF_DICOMWEB_SERVERS_FILE). */
  dicomwebServers?: Record<string, DicomwebServerConfig>
}

export type QueueRole = 'all' | 'api' | 'worker'

/**
 * Tokens from RADDIFF_TOKENS_FILE (JSON {"token": "user"}) or RADDIFF_TOKENS ("user:token,…").
 * Undefined when neither is set: the service then serves one local user on loopback only.
 */
export function tokensFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> | undefined {
  if (env.RADDIFF_TOKENS_FILE) {
    const raw = JSON.parse(readFileSync(env.RADDIFF_TOKENS_FILE, 'utf8')) as unknown
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !Object.values(raw).every((u) => typeof u === 'string' && u.length > 0)) {
      throw new Error('RADDIFF_TOKENS_FILE must hold a JSON object {"token": "user", …}')
    }
    return raw as Record<string, string>
  }
  if (env.RADDIFF_TOKENS) {
    const out: Record<string, string> = {}
    for (const pair of env.RADDIFF_TOKENS.split(',').map((s) => s.trim()).filter(Boolean)) {
      const i = pair.indexOf(':')
      if (i <= 0 || i === pair.length - 1) throw new Error('RADDIFF_TOKENS must be "user:token,user:token"')
      out[pair.slice(i + 1)] = pair.slice(0, i)
    }
    return out
  }
  return undefined
}
