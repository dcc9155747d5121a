import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { brokenCases, type BrokenCase } from '../../scripts/make-broken-corpus.js'
import { LoaderPool, type LoadReport } from '../../scripts/loader-pool.js'

/**
 * Every broken file must end in an IoError of a fitting code within 5 s, without the loader
 * allocating what the file merely claims (peak RSS under 512 MB above an idle worker). Each case
 * runs in a child process (scripts/fuzz-worker.ts) so a crash, a hang or a blow-up is observed,
 * not suffered. Valid controls built by the same writer must load (pydicom and nibabel read them).
 */
const TIME_BUDGET_MS = 15_000 // hang guard on a loaded 2-core machine; typical cases take < 1 s
const MEM_CAP_MB = 512

const sharedData = path.resolve(import.meta.dirname, '../../../shared/data')
const cases = brokenCases({ sharedData })
let dir: string
let pool: LoaderPool
const written = new Map<string, string[]>()

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'raddiff-broken-'))
  for (const [i, c] of cases.entries()) {
    const sub = path.join(dir, String(i))
    await mkdir(sub)
    written.set(c.name, await c.write(sub))
  }
  pool = new LoaderPool({ timeoutMs: TIME_BUDGET_MS, memCapMB: MEM_CAP_MB, tmpDir: dir })
})

afterAll(async () => {
  pool?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

function shown(r: LoadReport): string {
  return r.outcome === 'failure' ? `${r.failure!.kind}: ${r.failure!.detail}\n${(r.failure!.stack ?? []).join('\n')}` : `${r.outcome} ${r.codes.join(',')}`
}

async function check(c: BrokenCase): Promise<void> {
  const r = await pool.load(written.get(c.name)!, c.limits)
  expect(r.outcome, shown(r)).not.toBe('failure')
  expect(r.ms).toBeLessThan(TIME_BUDGET_MS)
  expect(r.peakAboveBaselineMB).toBeLessThan(MEM_CAP_MB)
  if (c.valid) {
    expect(r.outcome, shown(r)).toBe('loaded')
    return
  }
  if (r.outcome === 'loaded') {
    expect(c.mayLoad, `${c.name} loaded but should have been refused`).toBe(true)
    return
  }
  expect(r.codes.length).toBeGreaterThan(0)
  if (c.codes.length > 0) for (const code of r.codes) expect(c.codes, shown(r)).toContain(code)
}

const byName = (list: BrokenCase[]) => list.map((c) => [c.name, c] as const)

describe('broken corpus: typed errors, bounded time and memory', () => {
  it('covers every family the hardening issue lists', () => {
    const names = cases.map((c) => c.name).join('\n')
    for (const family of ['truncated', 'past the end', 'undefined length', '65535', 'wrong VR', 'BitsStored', 'without delimiter', 'nested', 'zero-length items', 'shorter than', 'rle', 'sizeof_hdr', 'dim[0]', 'negative dim', 'NaN', 'vox_offset', 'extension size 0', 'bomb', 'zip slip', 'nested zip']) {
      expect(names, family).toContain(family)
    }
  })

  it.each(byName(cases.filter((c) => !c.knownIssue)))('%s', async (_name, c) => check(c))

  // Known loader bugs (see each case's knownIssue): expected to fail until fixed.
  it.fails.each(byName(cases.filter((c) => c.knownIssue)))('KNOWN ISSUE: %s', async (_name, c) => check(c))
})
