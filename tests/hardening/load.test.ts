import { describe, expect, it } from 'vitest'
import { runLoad } from '../../bench/load.js'

describe('load: uploads, job submissions past the queue limit and polling at once (short variant of npm run bench:load)', () => {
  it('back-pressure shows as 429 / 503 with Retry-After; no crash, no errors, bounded queue and memory', async () => {
    const maxActiveJobs = 6
    const r = await runLoad({ seconds: 6, connections: 8, uploads: 30, maxActiveJobs })
    console.info(`load: ${JSON.stringify(r)}`)
    expect(r.serverAlive).toBe(true)
    expect(r.badBackpressure).toEqual([])
    for (const p of Object.values(r.phases)) {
      expect(p.errors).toBe(0)
      expect(p.timeouts).toBe(0)
    }
    expect(r.phases.uploads.statuses['201']).toBe(30)
    // Submissions outran the workers, so the queue limit must have answered 429.
    expect(r.phases.submit.statuses['429']).toBeGreaterThan(0)
    expect(r.phases.submit.statuses['202']).toBeGreaterThan(0)
    expect(r.phases.poll.requests).toBeGreaterThan(500)
    expect(r.phases.poll.p99).toBeLessThan(2000)
    // Bounded: the per-user limit, plus at most the two submitting connections racing its check.
    expect(r.maxQueueSeen).toBeLessThanOrEqual(maxActiveJobs + 2)
    expect(r.rssGrowthMiB).toBeLessThan(100)
  }, 40_000)
})
