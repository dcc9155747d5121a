import pg from 'pg'
import { StoreUnavailableError } from './errors.js'
import { jobRow, now, outputRow, runRow, scanRow, type JobRecord, type JobRun, type JobState, type OutputRecord, type ScanRecord, type Store } from './store.js'

type Query = (text: string, args?: unknown[]) => Promise<pg.QueryResult<any>>

/**
 * Versioned schema changes, applied in order on start. Append only: a released migration never
 * changes, because nodes that already ran it will not run it again.
 */
const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'scans, jobs, outputs, job runs',
    sql: `
CREATE TABLE scans (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, upload_id TEXT NOT NULL, series_index INTEGER NOT NULL,
  summary TEXT NOT NULL, bytes BIGINT NOT NULL, created TEXT NOT NULL);
CREATE INDEX scans_owner ON scans(owner, created);
CREATE INDEX scans_upload ON scans(upload_id);
CREATE TABLE jobs (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, scan_id TEXT NOT NULL, task TEXT NOT NULL, params TEXT NOT NULL,
  state TEXT NOT NULL, progress DOUBLE PRECISION NOT NULL DEFAULT 0, stage TEXT, error_code TEXT, error_message TEXT,
  attempts INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, started TEXT, finished TEXT,
  provenance TEXT, report TEXT);
CREATE INDEX jobs_owner ON jobs(owner, created);
CREATE INDEX jobs_state ON jobs(state, created);
CREATE TABLE outputs (
  job_id TEXT NOT NULL, role TEXT NOT NULL, label TEXT NOT NULL, file TEXT NOT NULL, bytes BIGINT NOT NULL,
  created TEXT NOT NULL, PRIMARY KEY (job_id, role));
CREATE TABLE job_runs (
  job_id TEXT NOT NULL, attempt INTEGER NOT NULL, worker TEXT NOT NULL, started TEXT NOT NULL,
  outcome TEXT, finished TEXT, PRIMARY KEY (job_id, attempt));
`,
  },
]

/** Any fixed number: every raddiff node takes this advisory lock while it migrates. */
const MIGRATION_LOCK = 0x72616464

/** SQLSTATE classes and client errors that mean "the server is away", not "the statement is wrong". */
function isTransient(e: unknown): boolean {
  const code = (e as { code?: string })?.code ?? ''
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) return true
  // 08: connection exception; 57P01-03: admin shutdown, crash shutdown, cannot connect now; 53300: too many connections.
  if (/^08/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true
  const msg = (e as Error)?.message ?? ''
  return !code && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(msg)
}

/** A COMMIT whose answer was lost: it may or may not have landed, so it must not be replayed. */
class AmbiguousCommit extends StoreUnavailableError {}

export interface PostgresStoreOptions {
  url: string
  /** Connections this process may hold (default $RADDIFF_DATABASE_POOL or 10). */
  poolSize?: number
  /** How long a statement keeps retrying while the server is away (default $RADDIFF_DATABASE_RETRY_MS or 20 s). */
  retryMs?: number
  log?: { warn(obj: object, msg?: string): void }
}

const envInt = (name: string, fallback: number): number => {
  const n = Number(process.env[name])
  return Number.isInteger(n) && n > 0 ? n : fallback
}

/**
 * The networked record store: the same tables as SQLite in PostgreSQL, for API and worker nodes
 * on several machines. Where SQLite relied on its single writer, multi-statement changes run in
 * transactions with row locks (a claim locks the job row; claimNext skips rows another node holds).
 * The pool reconnects by itself after a server restart; a statement that failed because the server
 * was away is retried for `retryMs`, except a COMMIT whose outcome is unknown, which surfaces as
 * STORE_UNAVAILABLE rather than risk applying twice.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const
  private closed = false

  private constructor(
    private readonly pool: pg.Pool,
    private readonly retryMs: number,
  ) {}

  static async open(o: PostgresStoreOptions): Promise<PostgresStore> {
    const pool = new pg.Pool({
      connectionString: o.url,
      max: o.poolSize ?? envInt('RADDIFF_DATABASE_POOL', 10),
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'raddiff',
    })
    // An idle connection dropped by a server restart is reported here; without a listener it
    // would crash the process. The pool replaces it on the next checkout.
    pool.on('error', (e) => o.log?.warn({ err: { code: (e as { code?: string }).code } }, 'database connection lost; reconnecting on demand'))
    const store = new PostgresStore(pool, o.retryMs ?? envInt('RADDIFF_DATABASE_RETRY_MS', 20_000))
    try {
      await store.retrying(() => store.migrate())
    } catch (e) {
      await pool.end().catch(() => undefined)
      throw e
    }
    return store
  }

  /**
   * Brings the schema to the newest version. Several nodes may start at once: the advisory lock
   * lets one migrate while the others wait, then find nothing left to do.
   */
  private async migrate(): Promise<void> {
    const c = await this.pool.connect()
    let broken: Error | undefined
    try {
      await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
      try {
        await c.query('CREATE TABLE IF NOT EXISTS raddiff_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)')
        const done = new Set((await c.query('SELECT version FROM raddiff_migrations')).rows.map((r) => Number(r.version)))
        for (const m of MIGRATIONS) {
          if (done.has(m.version)) continue
          await c.query('BEGIN')
          try {
            await c.query(m.sql)
            await c.query('INSERT INTO raddiff_migrations (version, name, applied) VALUES ($1, $2, $3)', [m.version, m.name, now()])
            await c.query('COMMIT')
          } catch (e) {
            await c.query('ROLLBACK').catch(() => undefined)
            throw e
          }
        }
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined)
      }
    } catch (e) {
      if (isTransient(e)) broken = e as Error
      throw e
    } finally {
      c.release(broken)
    }
  }

  /** Schema versions applied, oldest first (tests, diagnostics). */
  async schemaVersions(): Promise<number[]> {
    return (await this.q('SELECT version FROM raddiff_migrations ORDER BY version')).rows.map((r) => Number(r.version))
  }

  /** Runs `fn`, retrying while the server is away, up to `retryMs`; then STORE_UNAVAILABLE. */
  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    const end = Date.now() + this.retryMs
    for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
      try {
        return await fn()
      } catch (e) {
        if (e instanceof AmbiguousCommit) throw e
        if (!isTransient(e)) throw e
        if (this.closed || Date.now() + wait > end) throw new StoreUnavailableError(undefined, { cause: e })
        await new Promise((r) => setTimeout(r, wait))
      }
    }
  }

  private q: Query = (text, args) => this.retrying(() => this.pool.query(text, args))

  /** One transaction on one connection; retried whole when the server went away before COMMIT. */
  private tx<T>(fn: (q: Query) => Promise<T>): Promise<T> {
    return this.retrying(async () => {
      const c = await this.pool.connect()
      let committing = false
      let broken: Error | undefined
      try {
        await c.query('BEGIN')
        const r = await fn((text, args) => c.query(text, args))
        committing = true
        await c.query('COMMIT')
        return r
      } catch (e) {
        if (isTransient(e)) broken = e as Error
        else await c.query('ROLLBACK').catch(() => undefined)
        if (committing && broken) throw new AmbiguousCommit('the record store went away while saving; check the state and retry', { cause: e })
        throw e
      } finally {
        c.release(broken)
      }
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.pool.end()
  }

  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1')
      return true
    } catch {
      return false
    }
  }

  async addScans(scans: ScanRecord[]): Promise<void> {
    await this.tx(async (q) => {
      for (const s of scans) {
        await q('INSERT INTO scans (id, owner, upload_id, series_index, summary, bytes, created) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
          s.id, s.owner, s.uploadId, s.seriesIndex, JSON.stringify(s.summary), s.bytes, s.created,
        ])
      }
    })
  }

  async getScan(owner: string, id: string): Promise<ScanRecord | undefined> {
    const r = (await this.q('SELECT * FROM scans WHERE id = $1 AND owner = $2', [id, owner])).rows[0]
    return r ? scanRow(r) : undefined
  }

  async scanById(id: string): Promise<ScanRecord | undefined> {
    const r = (await this.q('SELECT * FROM scans WHERE id = $1', [id])).rows[0]
    return r ? scanRow(r) : undefined
  }

  async listScans(owner: string, limit = 100, offset = 0): Promise<ScanRecord[]> {
    return (await this.q('SELECT * FROM scans WHERE owner = $1 ORDER BY created DESC, id LIMIT $2 OFFSET $3', [owner, limit, offset])).rows.map(scanRow)
  }

  async deleteScan(owner: string, id: string): Promise<{ uploadId: string; uploadInUse: boolean } | undefined> {
    return this.tx(async (q) => {
      const s = (await q('SELECT upload_id FROM scans WHERE id = $1 AND owner = $2 FOR UPDATE', [id, owner])).rows[0] as { upload_id: string } | undefined
      if (!s) return undefined
      // Two scans of one upload deleted at once must not both see the other still there (and
      // leave the folder behind): deletes of one upload take turns.
      await q('SELECT pg_advisory_xact_lock(hashtext($1))', [s.upload_id])
      await q('DELETE FROM scans WHERE id = $1', [id])
      const left = (await q('SELECT COUNT(*)::int n FROM scans WHERE upload_id = $1', [s.upload_id])).rows[0] as { n: number }
      return { uploadId: s.upload_id, uploadInUse: left.n > 0 }
    })
  }

  async uploadIds(): Promise<Set<string>> {
    return new Set((await this.q('SELECT DISTINCT upload_id u FROM scans')).rows.map((r) => r.u as string))
  }

  async usage(owner: string): Promise<number> {
    const r = await this.q(
      `SELECT (SELECT COALESCE(SUM(b), 0) FROM (SELECT MAX(bytes) b FROM scans WHERE owner = $1 GROUP BY upload_id) u)
            + (SELECT COALESCE(SUM(o.bytes), 0) FROM outputs o JOIN jobs j ON j.id = o.job_id WHERE j.owner = $1) AS n`,
      [owner],
    )
    return Number(r.rows[0].n)
  }

  async addJob(j: Pick<JobRecord, 'id' | 'owner' | 'scanId' | 'task' | 'params'>): Promise<JobRecord> {
    const r = await this.q("INSERT INTO jobs (id, owner, scan_id, task, params, state, created) VALUES ($1, $2, $3, $4, $5, 'queued', $6) RETURNING *", [
      j.id, j.owner, j.scanId, j.task, JSON.stringify(j.params), now(),
    ])
    return jobRow(r.rows[0])
  }

  async getJob(owner: string, id: string): Promise<JobRecord | undefined> {
    const r = (await this.q('SELECT * FROM jobs WHERE id = $1 AND owner = $2', [id, owner])).rows[0]
    return r ? jobRow(r) : undefined
  }

  async jobById(id: string): Promise<JobRecord | undefined> {
    const r = (await this.q('SELECT * FROM jobs WHERE id = $1', [id])).rows[0]
    return r ? jobRow(r) : undefined
  }

  async listJobs(owner: string, opts: { state?: JobState; limit?: number; offset?: number } = {}): Promise<JobRecord[]> {
    const args: unknown[] = [owner, opts.limit ?? 100, opts.offset ?? 0]
    if (opts.state) args.push(opts.state)
    const where = opts.state ? 'AND state = $4' : ''
    return (await this.q(`SELECT * FROM jobs WHERE owner = $1 ${where} ORDER BY created DESC, id LIMIT $2 OFFSET $3`, args)).rows.map(jobRow)
  }

  async activeJobs(owner: string): Promise<number> {
    return (await this.q("SELECT COUNT(*)::int n FROM jobs WHERE owner = $1 AND state IN ('queued', 'running')", [owner])).rows[0].n
  }

  async queueDepth(): Promise<{ queued: number; running: number }> {
    const rows = (await this.q("SELECT state, COUNT(*)::int n FROM jobs WHERE state IN ('queued', 'running') GROUP BY state")).rows as { state: string; n: number }[]
    const get = (s: string) => rows.find((r) => r.state === s)?.n ?? 0
    return { queued: get('queued'), running: get('running') }
  }

  async claimNext(): Promise<JobRecord | undefined> {
    return this.tx(async (q) => {
      // SKIP LOCKED: a row another node is claiming right now is not waited for, the next one is taken.
      const r = (await q("SELECT id FROM jobs WHERE state = 'queued' ORDER BY created, id LIMIT 1 FOR UPDATE SKIP LOCKED")).rows[0] as { id: string } | undefined
      if (!r) return undefined
      const u = await q("UPDATE jobs SET state = 'running', attempts = attempts + 1, started = $1, progress = 0, stage = 'starting' WHERE id = $2 RETURNING *", [now(), r.id])
      return jobRow(u.rows[0])
    })
  }

  async setProgress(id: string, progress: number, stage: string): Promise<void> {
    try {
      // No retry: progress is advisory (listeners get it from memory), and the next tick supersedes it.
      await this.pool.query("UPDATE jobs SET progress = $1, stage = $2 WHERE id = $3 AND state = 'running'", [progress, stage, id])
    } catch (e) {
      if (!isTransient(e)) throw e
    }
  }

  async succeed(id: string, outputs: Omit<OutputRecord, 'jobId' | 'created'>[], provenance: unknown, report: unknown): Promise<boolean> {
    return this.tx(async (q) => {
      const r = await q("UPDATE jobs SET state = 'succeeded', progress = 1, stage = 'done', finished = $1, provenance = $2, report = $3 WHERE id = $4 AND state = 'running'", [
        now(), JSON.stringify(provenance ?? null), JSON.stringify(report ?? null), id,
      ])
      if (r.rowCount === 0) return false
      for (const o of outputs) {
        await q(
          'INSERT INTO outputs (job_id, role, label, file, bytes, created) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id, role) DO UPDATE SET label = EXCLUDED.label, file = EXCLUDED.file, bytes = EXCLUDED.bytes, created = EXCLUDED.created',
          [id, o.role, o.label, o.file, o.bytes, now()],
        )
      }
      return true
    })
  }

  async finish(id: string, state: 'failed' | 'cancelled', code: string | null, message: string | null): Promise<boolean> {
    const r = await this.q("UPDATE jobs SET state = $1, error_code = $2, error_message = $3, finished = $4 WHERE id = $5 AND state IN ('queued', 'running')", [state, code, message, now(), id])
    return (r.rowCount ?? 0) > 0
  }

  async requeueOrFail(id: string, maxAttempts: number, code: string, message: string): Promise<JobState | undefined> {
    return this.tx(async (q) => {
      const j = (await q('SELECT state, attempts FROM jobs WHERE id = $1 FOR UPDATE', [id])).rows[0] as { state: JobState; attempts: number } | undefined
      if (!j || j.state !== 'running') return j?.state
      if (j.attempts >= maxAttempts) {
        await q("UPDATE jobs SET state = 'failed', error_code = $1, error_message = $2, finished = $3 WHERE id = $4", [code, message, now(), id])
        return 'failed'
      }
      await q("UPDATE jobs SET state = 'queued', progress = 0, stage = NULL WHERE id = $1", [id])
      return 'queued'
    })
  }

  async requeueUncounted(id: string): Promise<void> {
    await this.q("UPDATE jobs SET state = 'queued', progress = 0, stage = NULL, attempts = GREATEST(attempts - 1, 0) WHERE id = $1 AND state = 'running'", [id])
  }

  async runningJobIds(): Promise<string[]> {
    return (await this.q("SELECT id FROM jobs WHERE state = 'running'")).rows.map((r) => r.id as string)
  }

  async deleteJob(owner: string, id: string): Promise<boolean> {
    return this.tx(async (q) => {
      const j = await q('DELETE FROM jobs WHERE id = $1 AND owner = $2', [id, owner])
      if (j.rowCount === 0) return false
      await q('DELETE FROM outputs WHERE job_id = $1', [id])
      await q('DELETE FROM job_runs WHERE job_id = $1', [id])
      return true
    })
  }

  async outputs(jobId: string): Promise<OutputRecord[]> {
    return (await this.q('SELECT * FROM outputs WHERE job_id = $1 ORDER BY role', [jobId])).rows.map(outputRow)
  }

  async claimRun(id: string, worker: string, maxAttempts: number): Promise<JobRecord | undefined> {
    return this.tx(async (q) => {
      // The row lock makes a second delivery of the same job wait for this claim, then see it running.
      const row = (await q('SELECT * FROM jobs WHERE id = $1 FOR UPDATE', [id])).rows[0]
      const j = row ? jobRow(row) : undefined
      if (!j || (j.state !== 'queued' && j.state !== 'running')) return undefined
      const t = now()
      if (j.state === 'running') {
        // The previous run never reported back: its process died (BullMQ saw its lock expire).
        await q("UPDATE job_runs SET outcome = 'interrupted', finished = $1 WHERE job_id = $2 AND outcome IS NULL", [t, id])
        if (j.attempts >= maxAttempts) {
          await q("UPDATE jobs SET state = 'failed', error_code = 'WORKER_CRASHED', error_message = $1, finished = $2 WHERE id = $3", [
            `the worker stopped while running the job (${maxAttempts} attempts used)`, t, id,
          ])
          return undefined
        }
      }
      const u = await q("UPDATE jobs SET state = 'running', attempts = attempts + 1, started = $1, progress = 0, stage = 'starting' WHERE id = $2 RETURNING *", [t, id])
      await q(
        'INSERT INTO job_runs (job_id, attempt, worker, started) VALUES ($1, $2, $3, $4) ON CONFLICT (job_id, attempt) DO UPDATE SET worker = EXCLUDED.worker, started = EXCLUDED.started, outcome = NULL, finished = NULL',
        [id, j.attempts + 1, worker, t],
      )
      return jobRow(u.rows[0])
    })
  }

  async settleRun(id: string, outcome: string): Promise<void> {
    await this.q('UPDATE job_runs SET outcome = $1, finished = $2 WHERE job_id = $3 AND outcome IS NULL', [outcome, now(), id])
  }

  async runs(id: string): Promise<JobRun[]> {
    return (await this.q('SELECT * FROM job_runs WHERE job_id = $1 ORDER BY attempt', [id])).rows.map(runRow)
  }

  async unfinishedIds(): Promise<string[]> {
    return (await this.q("SELECT id FROM jobs WHERE state IN ('queued', 'running') ORDER BY created")).rows.map((r) => r.id as string)
  }
}
