import type { SeriesSummary } from '../io/summary.js'

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'
export const TERMINAL: readonly JobState[] = ['succeeded', 'failed', 'cancelled']

export interface ScanRecord {
  id: string
  owner: string
  uploadId: string
  /** Position of the series in openInputs(upload folder): the worker re-opens the folder and takes this one. */
  seriesIndex: number
  summary: SeriesSummary
  bytes: number
  created: string
}

export interface JobRecord {
  id: string
  owner: string
  scanId: string
  task: string
  params: Record<string, unknown>
  state: JobState
  progress: number
  stage: string | null
  errorCode: string | null
  errorMessage: string | null
  attempts: number
  created: string
  started: string | null
  finished: string | null
  provenance: Record<string, unknown> | null
  report: Record<string, unknown> | null
}

export interface OutputRecord {
  jobId: string
  role: string
  label: string
  /** Relative to the storage root. */
  file: string
  bytes: number
  created: string
}

/** One start of a job in Redis mode: who ran it and how the run ended. */
export interface JobRun {
  jobId: string
  attempt: number
  /** Who ran it: RADDIFF_WORKER_ID, or host:pid. */
  worker: string
  started: string
  /** The state the run left the job in; null while running, or when its worker died. */
  outcome: string | null
  finished: string | null
}

export type StoreKind = 'sqlite' | 'postgres'

/**
 * The record of every scan, job, output and run: SQLite in the data folder (one machine, the
 * default) or PostgreSQL (several machines). Every state change is guarded by the state it
 * expects, so a late or repeated write (a redelivered job, a retried statement) changes nothing.
 */
export interface Store {
  readonly kind: StoreKind
  close(): Promise<void>
  /** Whether the database answers now (health checks). */
  ping(): Promise<boolean>

  addScans(scans: ScanRecord[]): Promise<void>
  /** Owner-scoped: another user's id reads as absent. */
  getScan(owner: string, id: string): Promise<ScanRecord | undefined>
  scanById(id: string): Promise<ScanRecord | undefined>
  listScans(owner: string, limit?: number, offset?: number): Promise<ScanRecord[]>
  /** Deletes the record; answers whether other scans still use the same upload folder. */
  deleteScan(owner: string, id: string): Promise<{ uploadId: string; uploadInUse: boolean } | undefined>
  uploadIds(): Promise<Set<string>>
  /** Bytes a user holds: uploads (counted once per folder) and outputs. */
  usage(owner: string): Promise<number>

  addJob(j: Pick<JobRecord, 'id' | 'owner' | 'scanId' | 'task' | 'params'>): Promise<JobRecord>
  getJob(owner: string, id: string): Promise<JobRecord | undefined>
  jobById(id: string): Promise<JobRecord | undefined>
  listJobs(owner: string, opts?: { state?: JobState; limit?: number; offset?: number }): Promise<JobRecord[]>
  activeJobs(owner: string): Promise<number>
  queueDepth(): Promise<{ queued: number; running: number }>
  /** Atomically takes the oldest queued job (FIFO) and marks it running. */
  claimNext(): Promise<JobRecord | undefined>
  setProgress(id: string, progress: number, stage: string): Promise<void>
  /** Outputs and the success state land in one transaction, after the files were renamed into place. */
  succeed(id: string, outputs: Omit<OutputRecord, 'jobId' | 'created'>[], provenance: unknown, report: unknown): Promise<boolean>
  finish(id: string, state: 'failed' | 'cancelled', code: string | null, message: string | null): Promise<boolean>
  /** A running job whose worker went away: back to the queue, or failed once it has used its attempts. */
  requeueOrFail(id: string, maxAttempts: number, code: string, message: string): Promise<JobState | undefined>
  /** A drained job did not fail: it goes back without using up an attempt. */
  requeueUncounted(id: string): Promise<void>
  runningJobIds(): Promise<string[]>
  deleteJob(owner: string, id: string): Promise<boolean>
  outputs(jobId: string): Promise<OutputRecord[]>

  /**
   * Redis mode: BullMQ decides which worker gets a job, the store whether it may run: only a
   * queued job, or a running one whose worker BullMQ found stalled (it died), never a finished one
   * — so a job delivered twice is not executed twice. Every start is recorded with the worker.
   */
  claimRun(id: string, worker: string, maxAttempts: number): Promise<JobRecord | undefined>
  /** Records how the latest run of a job ended. */
  settleRun(id: string, outcome: string): Promise<void>
  runs(id: string): Promise<JobRun[]>
  /** Jobs the queue should hold (re-enqueued when an API process starts). */
  unfinishedIds(): Promise<string[]>
}

export const now = (): string => new Date().toISOString()

/** Row (snake_case, JSON as text) → record; the same columns in both databases. */
export function scanRow(r: any): ScanRecord {
  return { id: r.id, owner: r.owner, uploadId: r.upload_id, seriesIndex: Number(r.series_index), summary: JSON.parse(r.summary), bytes: Number(r.bytes), created: r.created }
}

const json = <T>(s: string | null): T | null => (s === null ? null : (JSON.parse(s) as T))

export function jobRow(r: any): JobRecord {
  return {
    id: r.id,
    owner: r.owner,
    scanId: r.scan_id,
    task: r.task,
    params: JSON.parse(r.params),
    state: r.state,
    progress: Number(r.progress),
    stage: r.stage,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    attempts: Number(r.attempts),
    created: r.created,
    started: r.started,
    finished: r.finished,
    provenance: json(r.provenance),
    report: json(r.report),
  }
}

export function outputRow(r: any): OutputRecord {
  return { jobId: r.job_id, role: r.role, label: r.label, file: r.file, bytes: Number(r.bytes), created: r.created }
}

export function runRow(r: any): JobRun {
  return { jobId: r.job_id, attempt: Number(r.attempt), worker: r.worker, started: r.started, outcome: r.outcome, finished: r.finished }
}

export interface OpenStoreOptions {
  /** postgres://… selects PostgreSQL; absent: SQLite in `dataDir`. */
  databaseUrl?: string
  dataDir: string
  /** PostgreSQL connections this process may hold (default $RADDIFF_DATABASE_POOL or 10). */
  poolSize?: number
  log?: { warn(obj: object, msg?: string): void }
}

export const isPostgresUrl = (url: string | undefined): url is string => !!url && /^postgres(ql)?:\/\//i.test(url)

/** The store the options name; PostgreSQL runs its migrations before this resolves. */
export async function openStore(o: OpenStoreOptions): Promise<Store> {
  if (o.databaseUrl && !isPostgresUrl(o.databaseUrl)) throw new Error('the database URL must start with postgres:// (leave it unset for the embedded SQLite store)')
  if (isPostgresUrl(o.databaseUrl)) {
    const { PostgresStore } = await import('./store-postgres.js')
    return PostgresStore.open({ url: o.databaseUrl, poolSize: o.poolSize, log: o.log })
  }
  const { SqliteStore } = await import('./store-sqlite.js')
  return new SqliteStore(o.dataDir)
}
