import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { jobRow, now, outputRow, runRow, scanRow, type JobRecord, type JobRun, type JobState, type OutputRecord, type ScanRecord, type Store } from './store.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS scans (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, upload_id TEXT NOT NULL, series_index INTEGER NOT NULL,
  summary TEXT NOT NULL, bytes INTEGER NOT NULL, created TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS scans_owner ON scans(owner, created);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, scan_id TEXT NOT NULL, task TEXT NOT NULL, params TEXT NOT NULL,
  state TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, stage TEXT, error_code TEXT, error_message TEXT,
  attempts INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, started TEXT, finished TEXT,
  provenance TEXT, report TEXT);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, created);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, created);
CREATE TABLE IF NOT EXISTS outputs (
  job_id TEXT NOT NULL, role TEXT NOT NULL, label TEXT NOT NULL, file TEXT NOT NULL, bytes INTEGER NOT NULL,
  created TEXT NOT NULL, PRIMARY KEY (job_id, role));
CREATE TABLE IF NOT EXISTS job_runs (
  job_id TEXT NOT NULL, attempt INTEGER NOT NULL, worker TEXT NOT NULL, started TEXT NOT NULL,
  outcome TEXT, finished TEXT, PRIMARY KEY (job_id, attempt));
`

const RESERVE_BYTES = 2 * 1024 * 1024
const isDiskFull = (e: unknown): boolean => /^SQLITE_(FULL|IOERR)/.test((e as { code?: string })?.code ?? '')

/**
 * Scans, jobs and outputs in one SQLite file under the data folder: the embedded default. WAL lets
 * the API read while a job's progress is written; every state change is one statement or one
 * synchronous transaction, so a kill -9 leaves either the old or the new state, never half of one.
 * WAL needs shared memory between its processes: one machine only (store-postgres.ts for more).
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const
  readonly db: Database.Database

  /**
   * Ballast on the data disk: when it fills up, this file is given up so the job's final state
   * (failed, succeeded) can still be recorded instead of the process dying on SQLITE_FULL.
   */
  private readonly reserve: string

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true })
    this.reserve = path.join(dataDir, 'raddiff.sqlite.reserve')
    this.refillReserve()
    this.db = new Database(path.join(dataDir, 'raddiff.sqlite'))
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    this.db.pragma('busy_timeout = 5000')
    this.db.exec(SCHEMA)
  }

  private refillReserve(): void {
    if (existsSync(this.reserve)) return
    try {
      writeFileSync(this.reserve, Buffer.alloc(RESERVE_BYTES))
    } catch {
      rmSync(this.reserve, { force: true })
    }
  }

  /** Runs a write; on a full disk it frees the reserve and tries once more. */
  private write<T>(fn: () => T): T {
    try {
      const r = fn()
      this.refillReserve()
      return r
    } catch (e) {
      if (!isDiskFull(e) || !existsSync(this.reserve)) throw e
      rmSync(this.reserve, { force: true })
      return fn()
    }
  }

  // Compiled once: jobById and setProgress run for every progress tick and SSE update.
  private readonly statements = new Map<string, Database.Statement>()
  private sql(text: string): Database.Statement {
    let st = this.statements.get(text)
    if (!st) this.statements.set(text, (st = this.db.prepare(text)))
    return st
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }

  async ping(): Promise<boolean> {
    return this.db.open
  }

  async addScans(scans: ScanRecord[]): Promise<void> {
    const ins = this.sql('INSERT INTO scans (id, owner, upload_id, series_index, summary, bytes, created) VALUES (?, ?, ?, ?, ?, ?, ?)')
    this.db.transaction(() => {
      for (const s of scans) ins.run(s.id, s.owner, s.uploadId, s.seriesIndex, JSON.stringify(s.summary), s.bytes, s.created)
    })()
  }

  private scan(owner: string, id: string): ScanRecord | undefined {
    const r = this.sql('SELECT * FROM scans WHERE id = ? AND owner = ?').get(id, owner)
    return r ? scanRow(r) : undefined
  }

  async getScan(owner: string, id: string): Promise<ScanRecord | undefined> {
    return this.scan(owner, id)
  }

  async scanById(id: string): Promise<ScanRecord | undefined> {
    const r = this.sql('SELECT * FROM scans WHERE id = ?').get(id)
    return r ? scanRow(r) : undefined
  }

  async listScans(owner: string, limit = 100, offset = 0): Promise<ScanRecord[]> {
    return this.sql('SELECT * FROM scans WHERE owner = ? ORDER BY created DESC, id LIMIT ? OFFSET ?').all(owner, limit, offset).map(scanRow)
  }

  async deleteScan(owner: string, id: string): Promise<{ uploadId: string; uploadInUse: boolean } | undefined> {
    return this.db.transaction(() => {
      const s = this.scan(owner, id)
      if (!s) return undefined
      this.sql('DELETE FROM scans WHERE id = ?').run(id)
      const left = this.sql('SELECT COUNT(*) n FROM scans WHERE upload_id = ?').get(s.uploadId) as { n: number }
      return { uploadId: s.uploadId, uploadInUse: left.n > 0 }
    })()
  }

  async uploadIds(): Promise<Set<string>> {
    return new Set((this.sql('SELECT DISTINCT upload_id u FROM scans').all() as { u: string }[]).map((r) => r.u))
  }

  async usage(owner: string): Promise<number> {
    const up = this.sql('SELECT COALESCE(SUM(b), 0) n FROM (SELECT MAX(bytes) b FROM scans WHERE owner = ? GROUP BY upload_id)').get(owner) as { n: number }
    const out = this.sql('SELECT COALESCE(SUM(o.bytes), 0) n FROM outputs o JOIN jobs j ON j.id = o.job_id WHERE j.owner = ?').get(owner) as { n: number }
    return up.n + out.n
  }

  async addJob(j: Pick<JobRecord, 'id' | 'owner' | 'scanId' | 'task' | 'params'>): Promise<JobRecord> {
    this.sql("INSERT INTO jobs (id, owner, scan_id, task, params, state, created) VALUES (?, ?, ?, ?, ?, 'queued', ?)").run(j.id, j.owner, j.scanId, j.task, JSON.stringify(j.params), now())
    return this.job(j.id)!
  }

  async getJob(owner: string, id: string): Promise<JobRecord | undefined> {
    const r = this.sql('SELECT * FROM jobs WHERE id = ? AND owner = ?').get(id, owner)
    return r ? jobRow(r) : undefined
  }

  private job(id: string): JobRecord | undefined {
    const r = this.sql('SELECT * FROM jobs WHERE id = ?').get(id)
    return r ? jobRow(r) : undefined
  }

  async jobById(id: string): Promise<JobRecord | undefined> {
    return this.job(id)
  }

  async listJobs(owner: string, opts: { state?: JobState; limit?: number; offset?: number } = {}): Promise<JobRecord[]> {
    const where = opts.state ? 'AND state = ?' : ''
    const args: unknown[] = [owner, ...(opts.state ? [opts.state] : []), opts.limit ?? 100, opts.offset ?? 0]
    return this.sql(`SELECT * FROM jobs WHERE owner = ? ${where} ORDER BY created DESC, id LIMIT ? OFFSET ?`).all(...args).map(jobRow)
  }

  async activeJobs(owner: string): Promise<number> {
    return (this.sql("SELECT COUNT(*) n FROM jobs WHERE owner = ? AND state IN ('queued', 'running')").get(owner) as { n: number }).n
  }

  async queueDepth(): Promise<{ queued: number; running: number }> {
    const rows = this.sql("SELECT state, COUNT(*) n FROM jobs WHERE state IN ('queued', 'running') GROUP BY state").all() as { state: string; n: number }[]
    const get = (s: string) => rows.find((r) => r.state === s)?.n ?? 0
    return { queued: get('queued'), running: get('running') }
  }

  async claimNext(): Promise<JobRecord | undefined> {
    return this.write(this.db.transaction(() => {
      const r = this.sql("SELECT id FROM jobs WHERE state = 'queued' ORDER BY created, id LIMIT 1").get() as { id: string } | undefined
      if (!r) return undefined
      this.sql("UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ?, progress = 0, stage = 'starting' WHERE id = ?").run(now(), r.id)
      return this.job(r.id)
    }))
  }

  async setProgress(id: string, progress: number, stage: string): Promise<void> {
    try {
      this.sql("UPDATE jobs SET progress = ?, stage = ? WHERE id = ? AND state = 'running'").run(progress, stage, id)
    } catch (e) {
      // Progress is advisory (listeners get it from memory): a full disk must not take the
      // process down over it. The job's outcome is written later and fails loudly if it cannot be.
      if (!isDiskFull(e)) throw e
    }
  }

  async succeed(id: string, outputs: Omit<OutputRecord, 'jobId' | 'created'>[], provenance: unknown, report: unknown): Promise<boolean> {
    return this.write(this.db.transaction(() => {
      const r = this.sql("UPDATE jobs SET state = 'succeeded', progress = 1, stage = 'done', finished = ?, provenance = ?, report = ? WHERE id = ? AND state = 'running'")
        .run(now(), JSON.stringify(provenance ?? null), JSON.stringify(report ?? null), id)
      if (r.changes === 0) return false
      const ins = this.sql('INSERT OR REPLACE INTO outputs (job_id, role, label, file, bytes, created) VALUES (?, ?, ?, ?, ?, ?)')
      for (const o of outputs) ins.run(id, o.role, o.label, o.file, o.bytes, now())
      return true
    }))
  }

  private finishSync(id: string, state: 'failed' | 'cancelled', code: string | null, message: string | null): boolean {
    const r = this.write(() => this.sql("UPDATE jobs SET state = ?, error_code = ?, error_message = ?, finished = ? WHERE id = ? AND state IN ('queued', 'running')").run(state, code, message, now(), id))
    return r.changes > 0
  }

  async finish(id: string, state: 'failed' | 'cancelled', code: string | null, message: string | null): Promise<boolean> {
    return this.finishSync(id, state, code, message)
  }

  async requeueOrFail(id: string, maxAttempts: number, code: string, message: string): Promise<JobState | undefined> {
    return this.write(this.db.transaction(() => {
      const j = this.job(id)
      if (!j || j.state !== 'running') return j?.state
      if (j.attempts >= maxAttempts) {
        this.finishSync(id, 'failed', code, message)
        return 'failed'
      }
      this.sql("UPDATE jobs SET state = 'queued', progress = 0, stage = NULL WHERE id = ?").run(id)
      return 'queued' as const
    }))
  }

  async requeueUncounted(id: string): Promise<void> {
    this.write(() => this.sql("UPDATE jobs SET state = 'queued', progress = 0, stage = NULL, attempts = MAX(attempts - 1, 0) WHERE id = ? AND state = 'running'").run(id))
  }

  async runningJobIds(): Promise<string[]> {
    return (this.sql("SELECT id FROM jobs WHERE state = 'running'").all() as { id: string }[]).map((r) => r.id)
  }

  async deleteJob(owner: string, id: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.sql('DELETE FROM outputs WHERE job_id IN (SELECT id FROM jobs WHERE id = ? AND owner = ?)').run(id, owner)
      this.sql('DELETE FROM job_runs WHERE job_id IN (SELECT id FROM jobs WHERE id = ? AND owner = ?)').run(id, owner)
      return this.sql('DELETE FROM jobs WHERE id = ? AND owner = ?').run(id, owner).changes > 0
    })()
  }

  async outputs(jobId: string): Promise<OutputRecord[]> {
    return this.sql('SELECT * FROM outputs WHERE job_id = ? ORDER BY role').all(jobId).map(outputRow)
  }

  async claimRun(id: string, worker: string, maxAttempts: number): Promise<JobRecord | undefined> {
    return this.write(this.db.transaction(() => {
      const j = this.job(id)
      if (!j || (j.state !== 'queued' && j.state !== 'running')) return undefined
      if (j.state === 'running') {
        // The previous run never reported back: its process died (BullMQ saw its lock expire).
        this.sql("UPDATE job_runs SET outcome = 'interrupted', finished = ? WHERE job_id = ? AND outcome IS NULL").run(now(), id)
        if (j.attempts >= maxAttempts) {
          this.finishSync(id, 'failed', 'WORKER_CRASHED', `the worker stopped while running the job (${maxAttempts} attempts used)`)
          return undefined
        }
      }
      const t = now()
      this.sql("UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ?, progress = 0, stage = 'starting' WHERE id = ?").run(t, id)
      this.sql('INSERT OR REPLACE INTO job_runs (job_id, attempt, worker, started) VALUES (?, ?, ?, ?)').run(id, j.attempts + 1, worker, t)
      return this.job(id)
    }))
  }

  async settleRun(id: string, outcome: string): Promise<void> {
    this.write(() => this.sql('UPDATE job_runs SET outcome = ?, finished = ? WHERE job_id = ? AND outcome IS NULL').run(outcome, now(), id))
  }

  async runs(id: string): Promise<JobRun[]> {
    return this.sql('SELECT * FROM job_runs WHERE job_id = ? ORDER BY attempt').all(id).map(runRow)
  }

  async unfinishedIds(): Promise<string[]> {
    return (this.sql("SELECT id FROM jobs WHERE state IN ('queued', 'running') ORDER BY created").all() as { id: string }[]).map((r) => r.id)
  }
}
