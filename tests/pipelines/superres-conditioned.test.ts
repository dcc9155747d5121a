import { readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { releaseSessions } from '../../src/engine/index.js'
import { runTask, selectModel, superresInputAxes, type TaskResult } from '../../src/pipelines/index.js'
import { averagePool } from '../../src/pipelines/volume-ops.js'
import { toFloat32, type Volume } from '../../src/volume/index.js'
import { croppedFixture, makeModelsDir, repoRoot } from './helpers.js'

// A conditioned super-resolution card (superres.conditioning = consistent-cubic) on the tiny
// conditional test network: the plumbing (selection, cond, start, consistency), not the quality
// (npm run eval measures brain-t1-sr on held-out subjects).
let models: { dir: string; cleanup: () => Promise<void> }
let vol: Volume
beforeAll(async () => {
  models = await makeModelsDir()
  const cond = JSON.parse(await readFile(path.join(repoRoot, 'fixtures/models/tiny-cond.json'), 'utf8'))
  const sr = {
    ...cond,
    name: 'tiny-sr',
    tasks: ['super-resolution'],
    modality: 'MR',
    prediction: 'x0',
    normalisation: { kind: 'percentile', params: { low: 0.5, high: 99.5 } },
    superres: { conditioning: 'consistent-cubic', mean_sigma: 0.2, mean_sigma_through: 0.1 },
  }
  // sorts after the unconditioned prior (a-prior.json): selection must still prefer it
  await writeFile(path.join(models.dir, 'z-sr.json'), JSON.stringify(sr))
  vol = await croppedFixture()
})
afterAll(async () => {
  await models.cleanup()
  await releaseSessions()
})

const run = (params: Parameters<typeof runTask>[2]): Promise<TaskResult> => runTask('superres', vol, { seed: 1, ...params }, { modelsDir: models.dir })

function consistency(r: TaskResult, axes: ReturnType<typeof superresInputAxes>): number {
  const s = r.outputs[0].volume
  const back = averagePool(s.data as Float32Array, s.size, 2, axes).data
  const y = toFloat32(vol)
  let m = 0
  for (let i = 0; i < y.length; i++) m = Math.max(m, Math.abs(back[i] - y[i]))
  return m / Math.max(...y)
}

describe('conditioned super-resolution', () => {
  it('is chosen over an unconditioned prior that also serves superres', async () => {
    expect((await selectModel('superres', { modality: 'MR' }, models.dir)).card.name).toBe('tiny-sr')
    expect((await selectModel('denoise', { modality: 'MR' }, models.dir)).card.name).toBe('tiny-prior')
  })

  it('is not the default for axes its card does not list (superres.axes)', async () => {
    const card = JSON.parse(await readFile(path.join(models.dir, 'z-sr.json'), 'utf8'))
    await writeFile(path.join(models.dir, 'z-sr.json'), JSON.stringify({ ...card, superres: { ...card.superres, axes: ['inplane'] } }))
    try {
      expect((await selectModel('superres', { modality: 'MR' }, models.dir, undefined, { superresAxes: 'inplane' })).card.name).toBe('tiny-sr')
      expect((await selectModel('superres', { modality: 'MR' }, models.dir, undefined, { superresAxes: 'through' })).card.name).toBe('tiny-prior')
      const r = await run({ scale: 2, axes: 'through' })
      expect(r.provenance).toMatchObject({ model: { name: 'tiny-prior' } })
    } finally {
      await writeFile(path.join(models.dir, 'z-sr.json'), JSON.stringify(card))
    }
  })

  it('mean mode: one call at the card\'s mean_sigma, output consistent with the input', async () => {
    const r = await run({ scale: 2 })
    // σ(t) = 0.2 on the linear schedule at t = 57.3798 (the training side's SigmaMap.t_of_sigma)
    expect(r.report).toMatchObject({ conditioning: 'consistent-cubic', steps: 1, mode: 'mean', meanSigma: 0.2 })
    expect((r.report as { startT: number }).startT).toBeCloseTo(57.3798, 3)
    expect(r.outputs[0].volume.size).toEqual([64, 32, 8])
    expect(consistency(r, superresInputAxes(vol, 'axial', 'inplane'))).toBeLessThan(1e-5)
  })

  it('mean mode averages the card\'s mirrored views, cond mirrored with x, and stays consistent with the input', async () => {
    const card = JSON.parse(await readFile(path.join(models.dir, 'z-sr.json'), 'utf8'))
    await writeFile(path.join(models.dir, 'z-sr.json'), JSON.stringify({ ...card, superres: { ...card.superres, ensemble: { flips: ['rows', 'cols'] } } }))
    try {
      const one = await run({ scale: 2, ensemble: 'off' })
      const r = await run({ scale: 2 })
      expect(one.report.views).toEqual([card.plane])
      expect(r.report.views).toEqual([card.plane, `${card.plane}+cols`, `${card.plane}+rows`, `${card.plane}+rows+cols`])
      expect(consistency(r, superresInputAxes(vol, 'axial', 'inplane'))).toBeLessThan(1e-5)
      const a = one.outputs[0].volume.data as Float32Array
      const b = r.outputs[0].volume.data as Float32Array
      let moved = 0
      for (let i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(a[i] - b[i]))
      expect(moved).toBeGreaterThan(1e-4)
      const sample = await run({ scale: 2, mode: 'sample', steps: 2 })
      expect(sample.report.views).toEqual([card.plane])
    } finally {
      await writeFile(path.join(models.dir, 'z-sr.json'), JSON.stringify(card))
    }
  })

  it('through-plane reads the cubic volume at mean_sigma_through', async () => {
    const r = await run({ scale: 2, axes: 'through' })
    expect(r.report).toMatchObject({ conditioning: 'consistent-cubic', steps: 1, meanSigma: 0.1 })
    expect(consistency(r, superresInputAxes(vol, 'axial', 'through'))).toBeLessThan(1e-5)
  })

  it('sample mode starts from pure noise; seeds differ, both consistent', async () => {
    const a = await run({ scale: 2, mode: 'sample', steps: 2 })
    const b = await run({ scale: 2, mode: 'sample', steps: 2, seed: 2 })
    expect(a.report).toMatchObject({ startT: 999, steps: 2, mode: 'sample' })
    const axes = superresInputAxes(vol, 'axial', 'inplane')
    expect(consistency(a, axes)).toBeLessThan(1e-5)
    expect(consistency(b, axes)).toBeLessThan(1e-5)
    const da = a.outputs[0].volume.data as Float32Array
    const db = b.outputs[0].volume.data as Float32Array
    let diff = 0
    for (let i = 0; i < da.length; i++) diff = Math.max(diff, Math.abs(da[i] - db[i]))
    expect(diff).toBeGreaterThan(0)
  })

  it('a card whose cond channels do not match its 2.5D context is refused with a typed error', async () => {
    const sr = JSON.parse(await readFile(path.join(models.dir, 'z-sr.json'), 'utf8'))
    await writeFile(path.join(models.dir, 'zz-bad.json'), JSON.stringify({ ...sr, name: 'tiny-sr-bad', cond_channels: 3 }))
    try {
      await expect(runTask('superres', vol, { scale: 2, model: 'tiny-sr-bad' }, { modelsDir: models.dir })).rejects.toMatchObject({ code: 'MODEL_CONTRACT_MISMATCH' })
    } finally {
      await rm(path.join(models.dir, 'zz-bad.json'))
    }
  })
})
