import { readFileSync } from 'node:fs'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createScheduler, evalVolume, inputChannels, loadModel, prepareModel, tiledModelFn, validateModelCard, type ModelFn } from '../../src/engine/index.js'
import { denoise } from '../../src/pipelines/denoise.js'
import type { Vec3 } from '../../src/volume/index.js'
import { croppedFixture, repoRoot } from '../pipelines/helpers.js'

// References from PyTorch: training/raddiff_train/make_tiny_model.py edm25 (the same model, the same
// slices with neighbours reflected at the volume's ends, and SigmaMap.t_of_sigma).
const REF = JSON.parse(await readFile(path.join(repoRoot, 'tests/reference/engine-context.json'), 'utf8')) as {
  size: Vec3
  x: number[]
  out: Record<string, number[]>
  t_of_sigma: [number, number][]
}
const CARD = path.join(repoRoot, 'fixtures/models/tiny-edm25.json')
const LINEAR = { type: 'linear' as const, T: 1000, beta_start: 1e-4, beta_end: 0.02 }

describe('2.5D context slices (card context_slices)', () => {
  it('the card asks for C·(2k+1) input channels and the graph has them', async () => {
    const m = await loadModel(CARD, { device: 'cpu' })
    expect(m.card.context_slices).toBe(1)
    expect(inputChannels(m.card)).toBe(3)
  })

  it('rejects a context_slices that is not a small integer', () => {
    const card = JSON.parse(JSON.stringify({ ...REF_CARD(), context_slices: 1.5 }))
    expect(() => validateModelCard(card)).toThrow(/context_slices/)
    expect(() => validateModelCard({ ...REF_CARD(), context_slices: -1 })).toThrow(/context_slices/)
  })

  it('evalVolume feeds each slice with its reflected neighbours and equals PyTorch', async () => {
    const pm = await prepareModel(CARD, 'cpu')
    const x = Float32Array.from(REF.x)
    for (const [t, want] of Object.entries(REF.out)) {
      const got = await evalVolume(pm, x, REF.size, Number(t))
      let worst = 0
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]))
      expect(worst, `t = ${t}`).toBeLessThan(1e-4)
    }
  })

  it('a neighbour change moves the output (the model really sees the context)', async () => {
    const pm = await prepareModel(CARD, 'cpu')
    const x = Float32Array.from(REF.x)
    const base = await evalVolume(pm, x, REF.size, 40)
    const [nx, ny] = REF.size
    const plane = nx * ny
    for (let i = 0; i < plane; i++) x[4 * plane + i] = -1 // slice 4: the neighbour of slices 3 and 5
    const moved = await evalVolume(pm, x, REF.size, 40)
    const diff = (k: number): number => {
      let d = 0
      for (let i = 0; i < plane; i++) d = Math.max(d, Math.abs(moved[k * plane + i] - base[k * plane + i]))
      return d
    }
    expect(diff(3)).toBeGreaterThan(1e-3)
    expect(diff(5)).toBeGreaterThan(1e-3)
    expect(diff(1)).toBe(0) // two slices away: untouched
  })

  it('tiles a 2.5D batch and returns the centre-slice channel count', async () => {
    // a "model" that returns its centre channel: blending identical values must give them back exactly
    const centre: ModelFn = async (x, [B, C, H, W]) => {
      const out = new Float32Array(B * H * W)
      const k = (C - 1) >> 1
      for (let b = 0; b < B; b++) out.set(x.subarray((b * C + k) * H * W, (b * C + k + 1) * H * W), b * H * W)
      return out
    }
    const fn = tiledModelFn(centre, 16, 4, 0)
    const [B, C, H, W] = [2, 3, 40, 24]
    const x = Float32Array.from({ length: B * C * H * W }, (_, i) => Math.sin(i * 0.37))
    const out = await fn(x, [B, C, H, W], 5)
    expect(out.length).toBe(B * H * W)
    for (let b = 0; b < B; b++)
      for (let i = 0; i < H * W; i++) expect(Math.abs(out[b * H * W + i] - x[(b * C + 1) * H * W + i])).toBeLessThan(1e-6)
  })

  it('timestepForNoise inverts σ(t) = √((1−ᾱ)/ᾱ) on the piecewise-linear ᾱ, as training does', () => {
    const sch = createScheduler('ddim', LINEAR, { prediction: 'x0' })
    for (const [s, tRef] of REF.t_of_sigma) {
      const t = sch.timestepForNoise(s)
      expect(Math.abs(t - tRef), `σ = ${s}`).toBeLessThan(2e-3)
      expect(Math.sqrt(sch.oneMinusAbar(t) / sch.abar(t))).toBeCloseTo(s, 5)
    }
  })
})

describe('denoise with an x0 (EDM) model', () => {
  let dir = ''
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'raddiff-edm-'))
    await copyFile(path.join(repoRoot, 'fixtures/models/tiny-edm25.onnx'), path.join(dir, 'tiny-edm25.onnx'))
    await writeFile(path.join(dir, 'tiny-edm25.json'), JSON.stringify({ ...REF_CARD(), tasks: ['denoise'] }))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('defaults to one model call per slice at the continuous t* matching the estimated noise', async () => {
    const v = await croppedFixture([14, 14, 20], [32, 32, 5])
    const r = await denoise(v, { device: 'cpu' }, { modelsDir: dir })
    expect(r.report.mode).toBe('mean')
    expect(r.report.steps).toBe(1)
    const tStar = r.report.tStar as number
    const sch = createScheduler('ddim', LINEAR, { prediction: 'x0' })
    expect(Math.sqrt(sch.oneMinusAbar(tStar) / sch.abar(tStar))).toBeCloseTo(r.report.sigmaNormalised as number, 5)
    const out = r.outputs[0].volume.data as Float32Array
    expect(out.length).toBe(32 * 32 * 5)
    expect(out.every(Number.isFinite)).toBe(true)
  })

  it('mean mode averages the card\'s ensemble views; --ensemble off and sample mode run one view', async () => {
    const edir = await mkdtemp(path.join(os.tmpdir(), 'raddiff-ens-'))
    try {
      await copyFile(path.join(repoRoot, 'fixtures/models/tiny-edm25.onnx'), path.join(edir, 'tiny-edm25.onnx'))
      await writeFile(path.join(edir, 'tiny-edm25.json'), JSON.stringify({ ...REF_CARD(), tasks: ['denoise'], denoise: { ensemble: { planes: 'all', flips: ['cols'] } } }))
      const v = await croppedFixture([14, 14, 20], [32, 32, 5]) // 4 mm isotropic
      const plain = await denoise(v, { device: 'cpu' }, { modelsDir: dir })
      const ens = await denoise(v, { device: 'cpu' }, { modelsDir: edir })
      const off = await denoise(v, { device: 'cpu', ensemble: 'off' }, { modelsDir: edir })
      const plane = REF_CARD().plane as string
      expect(plain.report.views).toEqual([plane])
      expect(ens.report.views).toHaveLength(6)
      expect(ens.report.views).toEqual(expect.arrayContaining(['axial', 'axial+cols', 'coronal', 'coronal+cols', 'sagittal', 'sagittal+cols']))
      expect((ens.report.views as string[])[0]).toBe(plane)
      expect(ens.provenance.params.views).toEqual(ens.report.views)
      expect(off.report.views).toEqual([plane])
      const a = plain.outputs[0].volume.data as Float32Array
      const b = off.outputs[0].volume.data as Float32Array
      const c = ens.outputs[0].volume.data as Float32Array
      expect(b).toEqual(a) // off is the single-view estimate, bit for bit
      let moved = 0
      for (let i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(c[i] - a[i]))
      expect(moved).toBeGreaterThan(1e-3)
      const sample = await denoise(v, { device: 'cpu', mode: 'sample', steps: 2 }, { modelsDir: edir })
      expect(sample.report.views).toEqual([plane])
    } finally {
      await rm(edir, { recursive: true, force: true })
    }
  })
})

function REF_CARD(): Record<string, unknown> {
  return JSON.parse(readFileSync(CARD, 'utf8'))
}
