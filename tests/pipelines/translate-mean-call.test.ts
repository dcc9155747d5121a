import { readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EngineError, releaseSessions } from '../../src/engine/index.js'
import { runTask, type TaskResult } from '../../src/pipelines/index.js'
import type { Volume } from '../../src/volume/index.js'
import { croppedFixture, makeModelsDir, repoRoot } from './helpers.js'

// A translation card with translate.mean_call (what mri2ct 0.2.0 declares) on the tiny conditional
// test network read as an x0-model: the plumbing (default mode, start, determinism, card checks),
// not the quality (npm run eval measures mri2ct against bulk density on held-out pairs).
let models: { dir: string; cleanup: () => Promise<void> }
let vol: Volume
let base: Record<string, unknown>
beforeAll(async () => {
  models = await makeModelsDir()
  base = JSON.parse(await readFile(path.join(repoRoot, 'fixtures/models/tiny-cond.json'), 'utf8'))
  await rm(path.join(models.dir, 'b-mri2ct.json'), { force: true })
  await writeCard({})
  vol = await croppedFixture()
})
afterAll(async () => {
  await models.cleanup()
  await releaseSessions()
})

async function writeCard(over: Record<string, unknown>): Promise<void> {
  const card = { ...base, name: 'tiny-ct', prediction: 'x0', translate: { mean_call: 'zeros-at-t-max' }, ...over }
  await writeFile(path.join(models.dir, 'tiny-ct.json'), JSON.stringify(card))
}

const run = (params: Parameters<typeof runTask>[2]): Promise<TaskResult> => runTask('translate', vol, params, { modelsDir: models.dir })
const ct = (r: TaskResult): Int16Array => r.outputs.find((o) => o.role === 'synthct')!.volume.data as Int16Array
const differ = (a: Int16Array, b: Int16Array): number => a.reduce((n, v, i) => n + (v !== b[i] ? 1 : 0), 0)

describe('translation with a posterior-mean call (card translate.mean_call)', () => {
  it('defaults to the one call at t = T−1 from zeros: one step, no noise, the same for every seed', async () => {
    const a = await run({ seed: 1 })
    const b = await run({ seed: 2 })
    expect(a.report).toMatchObject({ mode: 'mean', steps: 1, depth: 999 })
    expect(String(a.report.start)).toMatch(/zeros/)
    expect(a.provenance).toMatchObject({ model: { name: 'tiny-ct' } })
    expect(differ(ct(a), ct(b))).toBe(0)
  })

  it('samples from pure noise with --mode sample (seeds differ), and from bulk density when --depth is given', async () => {
    const s1 = await run({ mode: 'sample', steps: 3, seed: 1 })
    const s2 = await run({ mode: 'sample', steps: 3, seed: 2 })
    expect(s1.report).toMatchObject({ mode: 'sample', steps: 3, depth: 999, start: 'pure noise' })
    expect(differ(ct(s1), ct(s2))).toBeGreaterThan(0)
    const d = await run({ mode: 'sample', steps: 3, depth: 300, seed: 1 })
    expect(d.report).toMatchObject({ depth: 300, start: 'bulk density' })
  })

  it('rejects a mean_call on an ε-model and an unknown mean_call, naming the field', async () => {
    for (const over of [{ prediction: 'epsilon' }, { translate: { mean_call: 'bulk' } }]) {
      await writeCard(over)
      const err = await run({}).catch((e) => e)
      expect(err).toBeInstanceOf(EngineError)
      expect(err.code).toBe('MODEL_CONTRACT_MISMATCH')
      expect(err.message).toContain('translate.mean_call')
    }
    await writeCard({})
  })
})
