import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatSummary, mutate, rngFor, runFuzz } from '../../scripts/fuzz.js'
import { LoaderPool } from '../../scripts/loader-pool.js'

describe('fuzz harness notices every failure kind', () => {
  let dir: string
  let pool: LoaderPool
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'raddiff-fuzz-self-'))
    // Generous timeout: on a loaded 2-core CI machine the memory sabotage must reach the cap before the hang guard fires.
    pool = new LoaderPool({ timeoutMs: 12_000, memCapMB: 512, selfTest: true })
  })
  afterAll(async () => {
    pool?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it.each([
    ['untyped', 'untyped'],
    ['leak', 'leak'],
    ['crash', 'crash'],
    ['unhandled', 'crash'],
    ['hang', 'hang'],
    ['memory', 'memory'],
  ])('%s → %s', async (sabotage, kind) => {
    const file = path.join(dir, `x.selftest-${sabotage}`)
    await writeFile(file, 'not an image')
    const r = await pool.load([file])
    expect(r.outcome).toBe('failure')
    expect(r.failure?.kind).toBe(kind)
    // The pool recovers: the next input is judged normally.
    const next = await pool.load([path.join(dir, 'missing.dcm')])
    expect(next.outcome).toBe('typed')
    expect(next.codes).toEqual(['INPUT_NOT_FOUND'])
  })
})

describe('mutations', () => {
  it('are a pure function of (seed, index)', () => {
    const input = Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff)
    const a = mutate(input, rngFor(5, 42))
    const b = mutate(input, rngFor(5, 42))
    const c = mutate(input, rngFor(5, 43))
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true)
    expect(a.mutations).toEqual(b.mutations)
    expect(Buffer.from(a.bytes).equals(Buffer.from(c.bytes)) && a.mutations.join() === c.mutations.join()).toBe(false)
    expect(input[0]).toBe(0) // the seed is never touched
  })
})

describe('short fuzz of the loaders', () => {
  it('150 mutants: no crash, hang, untyped error, leak or memory blow-up', async () => {
    const s = await runFuzz({ count: 150, seed: 20261122, seeds: [], timeoutMs: 10_000, memCapMB: 512 })
    const detail = s.failures.map((f) => `#${f.index} ${f.kind}: ${f.detail} [${f.seedFile}: ${f.mutations.join('; ')}]\n  ${(f.stack ?? []).join('\n  ')}`).join('\n')
    expect(s.inputs).toBe(150)
    expect(s.failures, `${formatSummary(s)}\n${detail}`).toEqual([])
    // Mutants both load and get refused: the seeds are valid and the mutations bite.
    expect(s.loaded).toBeGreaterThan(0)
    expect(Object.keys(s.typed).length).toBeGreaterThan(1)
  }, 90_000)
})
