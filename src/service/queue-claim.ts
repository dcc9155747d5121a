import type { JobRecord, Store } from './store.js'

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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS job_runs (
  job_id TEXT NOT NULL, attempt INTEGER NOT NULL, worker TEXT NOT NULL, started TEXT NOT NULL,
  outcome TEXT, finished TEXT, PRIMARY KEY (job_id, attempt));
`

/**
 * The SQLite side of Redis mode. BullMQ decides which worker gets a job; SQLite decides whether it
 * may run: only a queued job, or a running one whose worker BullMQ found stalled (it died), and
 * never a finished one — so a job delivered twice is not executed twice. Every start is recorded
 * with the worker's identity.
 */
export class QueueClaims {
  constructor(private readonly store: Store) {
    store.db.exec(SCHEMA)
  }

  claim(id: string, worker: string, maxAttempts: number): JobRecord | undefined {
    const db = this.store.db
    return db.transaction(() => {
      const j = this.store.jobById(id)
      if (!j || (j.state !== 'queued' && j.state !== 'running')) return undefined
      if (j.state === 'running') {
        // The previous run never reported back: its process died (BullMQ saw its lock expire).
        db.prepare("UPDATE job_runs SET outcome = 'interrupted', finished = ? WHERE job_id = ? AND outcome IS NULL").run(new Date().toISOString(), id)
        if (j.attempts >= maxAttempts) {
          this.store.finish(id, 'failed', 'WORKER_CRASHED', `the worker stopped while running the job (${maxAttempts} attempts used)`)
          return undefined
        }
      }
      const t = new Date().toISOString()
      db.prepare("UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ?, progress = 0, stage = 'starting' WHERE id = ?").run(t, id)
      db.prepare('INSERT OR REPLACE INTO job_runs (job_id, attempt, worker, started) VALUES (?, ?, ?, ?)').run(id, j.attempts + 1, worker, t)
      return this.store.jobById(id)
    })()
  }

  /** Records how the latest run of a job ended. */
  settle(id: string, outcome: string): void {
    this.store.db.prepare('UPDATE job_runs SET outcome = ?, finished = ? WHERE job_id = ? AND outcome IS NULL').run(outcome, new Date().toISOString(), id)
  }

  runs(id: string): JobRun[] {
    return (this.store.db.prepare('SELECT * FROM job_runs WHERE job_id = ? ORDER BY attempt').all(id) as any[]).map((r) => ({
      jobId: r.job_id,
      attempt: r.attempt,
      worker: r.worker,
      started: r.started,
      outcome: r.outcome,
      finished: r.finished,
    }))
  }

  /**
   * Jobs the queue should hold, re-enqueued when an API process starts: a process may have died
   * between insert and enqueue, or Redis lost its data. BullMQ ignores ids it still has, and a
   * running job whose entry was lost is taken over like a stalled one.
   */
  unfinishedIds(): string[] {
    return (this.store.db.prepare("SELECT id FROM jobs WHERE state IN ('queued', 'running') ORDER BY created").all() as { id: string }[]).map((r) => r.id)
  }
}
