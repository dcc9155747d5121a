import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createScheduler, EngineError, releaseSessions } from '../../src/engine/index.js'
import { loadVolumes } from '../../src/io/load.js'
import { runTask, selectModel, superresInputAxes, upsampledGeometry, type TaskResult } from '../../src/pipelines/index.js'
import { averagePool } from '../../src/pipelines/volume-ops.js'
import { createVolume, indexToRas, toFloat32, type Volume } from '../../src/volume/index.js'
import { croppedFixture, FIXTURE, makeModelsDir, repoRoot } from './helpers.js'

// nibabel.affines.rescale_affine, from scripts/reference/pipelines_refs.py
const refs = JSON.parse(readFileSync(path.join(repoRoot, 'tests/reference/pipelines-refs.json'), 'utf8'))

let models: { dir: string; cleanup: () => Promise<void> }
let vol: Volume
beforeAll(async () => {
  models = await makeModelsDir()
  vol = await croppedFixture()
})
afterAll(async () => {
  await models.cleanup()
  await releaseSessions()
})

const run = (task: Parameters<typeof runTask>[0], params: Parameters<typeof runTask>[2] = {}, v: Volume = vol): Promise<TaskResult> =>
  runTask(task, v, { steps: 3, seed: 1, ...params }, { modelsDir: models.dir })

function out(r: TaskResult, role: string): Volume {
  const o = r.outputs.find((x) => x.role === role)
  if (!o) throw new Error(`no ${role} output`)
  return o.volume
}

function sameGeometry(a: Volume, b: Volume): void {
  expect(a.size).toEqual(b.size)
  expect(a.spacing).toEqual(b.spacing)
  expect(a.origin).toEqual(b.origin)
  expect(a.direction).toEqual(b.direction)
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

describe('model selection', () => {
  it('picks the card serving the task for the modality, by name, or names what is installed', async () => {
    expect((await selectModel('superres', { modality: 'MR' }, models.dir)).card.name).toBe('tiny-prior')
    expect((await selectModel('translate', { modality: 'MR' }, models.dir)).card.name).toBe('tiny-cond')
    expect((await selectModel('denoise', { modality: 'OT' }, models.dir)).card.name).toBe('tiny-prior')
    const err = await selectModel('denoise', { modality: 'CT' }, models.dir).catch((e) => e)
    expect(err).toBeInstanceOf(EngineError)
    expect(err.code).toBe('MODEL_NOT_FOUND')
    expect(err.message).toContain('tiny-prior')
    await expect(selectModel('denoise', { modality: 'MR' }, models.dir, 'nope')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' })
    const m2 = await makeModelsDir({ prior: { contrast: 'FLAIR', name: 'flair-prior' } })
    try {
      const { copyFile } = await import('node:fs/promises')
      await copyFile(path.join(models.dir, 'a-prior.json'), path.join(m2.dir, 'c-t1.json'))
      expect((await selectModel('anomaly', { modality: 'MR' }, m2.dir, undefined, { contrast: 'T1' })).card.name).toBe('tiny-prior')
      expect((await selectModel('anomaly', { modality: 'MR' }, m2.dir, undefined, { contrast: 'FLAIR' })).card.name).toBe('flair-prior')
    } finally {
      await m2.cleanup()
    }
  })
})

describe('denoise', () => {
  it('keeps the geometry, reports σ and t* with ᾱ(t*) ≈ 1/(1+s²), and carries provenance', async () => {
    const r = await run('denoise')
    const d = out(r, 'denoised')
    sameGeometry(d, vol)
    expect(d.data).toBeInstanceOf(Float32Array)
    const { sigma, sigmaNormalised: s, tStar } = r.report as { sigma: number; sigmaNormalised: number; tStar: number }
    expect(sigma).toBeGreaterThan(0)
    const sch = createScheduler('ddim', { type: 'linear', T: 1000, beta_start: 1e-4, beta_end: 0.02 })
    const target = 1 / (1 + s * s)
    expect(sch.abar(tStar)).toBeGreaterThanOrEqual(target)
    expect(sch.abar(tStar + 1)).toBeLessThan(target)
    expect(r.provenance).toMatchObject({ task: 'denoise', model: { name: 'tiny-prior', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }, seed: 1, samples: 1, notice: 'NOT FOR CLINICAL USE' })
    expect(r.provenance.raddiffVersion).toMatch(/^\d+\.\d+\.\d+/)
    expect(['cpu', 'cuda']).toContain(r.provenance.device)
    // what ran the model, in the provenance and in the job's report alike
    expect(r.provenance.execution).toMatchObject({ model: 'tiny-prior', device: r.provenance.device })
    expect(r.provenance.execution?.providers[0]).toBe(r.provenance.device === 'cpu' ? 'CPUExecutionProvider' : 'CUDAExecutionProvider')
    expect((r.report as { execution?: unknown }).execution).toEqual(r.provenance.execution)
    // data consistency: no voxel moves more than 3σ (+ the Rician correction) from the input
    const y = toFloat32(vol)
    let worst = 0
    for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(d.data[i] - y[i]))
    expect(worst).toBeLessThanOrEqual(3 * sigma + Math.SQRT2 * sigma + 1e-3)
  })

  it('samples are deterministic per seed and differ across seeds; the default (mean) is one step and needs no seed', async () => {
    const a = out(await run('denoise', { seed: 5, mode: 'sample' }), 'denoised').data
    const b = out(await run('denoise', { seed: 5, mode: 'sample' }), 'denoised').data
    const c = out(await run('denoise', { seed: 6, mode: 'sample' }), 'denoised').data
    expect(maxAbsDiff(a, b)).toBe(0)
    expect(maxAbsDiff(a, c)).toBeGreaterThan(0)
    const m = await run('denoise', {})
    expect(m.report.mode).toBe('mean')
    expect(m.provenance.steps).toBe(1)
    const m2 = await run('denoise', { seed: 9 })
    expect(maxAbsDiff(out(m, 'denoised').data, out(m2, 'denoised').data)).toBe(0)
  })

  it('K=3 samples gives a mean and a non-negative std map on the same grid', async () => {
    const r = await run('denoise', { samples: 3, steps: 2 })
    const std = out(r, 'std')
    sameGeometry(std, vol)
    expect(Math.min(...std.data)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...std.data)).toBeGreaterThan(0)
    expect(r.provenance.samples).toBe(3)
  })

  it('stops with CANCELLED when aborted mid-run', async () => {
    const ac = new AbortController()
    const p = runTask('denoise', vol, { steps: 3, samples: 3 }, { modelsDir: models.dir, signal: ac.signal, onProgress: () => ac.abort() })
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' })
  })
})

describe('superres', () => {
  it('output average-pooled by the factor equals the input (range–null-space consistency), on the anatomical in-plane axes', async () => {
    const r = await run('superres', { scale: 2 })
    const s = out(r, 'superres')
    // the fixture is stored P-S-R: canonical axial in-plane (L, P) = its voxel axes k and i
    const axes = superresInputAxes(vol, 'axial', 'inplane')
    expect(axes).toEqual([true, false, true])
    expect(s.size).toEqual([64, 32, 8])
    const g = upsampledGeometry(vol, 2, axes) // checked against nibabel below
    expect(s.direction).toEqual(vol.direction)
    s.spacing.forEach((v, i) => expect(v).toBeCloseTo(g.spacing[i], 9))
    s.origin.forEach((v, i) => expect(v).toBeCloseTo(g.origin[i], 6))
    const back = averagePool(s.data as Float32Array, s.size, 2, axes).data
    const y = toFloat32(vol)
    const scale = Math.max(...y)
    expect(maxAbsDiff(back, y) / scale).toBeLessThan(1e-5)
    // and the prior did add detail: not just the replicated input
    let varies = 0
    for (let i = 0; i + 1 < s.data.length; i += 2) varies += s.data[i] !== s.data[i + 1] ? 1 : 0
    expect(varies).toBeGreaterThan(0)
  })

  it('through-plane ×2 keeps A(x) = y along S; K=3 gives std', async () => {
    const r = await run('superres', { scale: 2, axes: 'through', samples: 3, steps: 2 })
    const s = out(r, 'superres')
    const axes = superresInputAxes(vol, 'axial', 'through')
    expect(axes).toEqual([false, true, false])
    expect(s.size).toEqual([32, 64, 4])
    const back = averagePool(s.data as Float32Array, s.size, 2, axes).data
    expect(maxAbsDiff(back, toFloat32(vol)) / Math.max(...toFloat32(vol))).toBeLessThan(1e-5)
    expect(out(r, 'std').size).toEqual([32, 64, 4])
  })

  it('thick slices run the model in the card\'s superres.plane_through (the thick axis in-plane), upsampling the same axis', async () => {
    const cor = await makeModelsDir({ prior: { superres: { plane_through: 'coronal' } } })
    try {
      const params = { scale: 2, axes: 'through' as const, steps: 2 }
      const own = await run('superres', params)
      const r = await runTask('superres', vol, { seed: 1, ...params }, { modelsDir: cor.dir })
      expect((own.report as { plane: string }).plane).toBe('axial')
      expect((r.report as { plane: string }).plane).toBe('coronal')
      const s = out(r, 'superres')
      const axes = superresInputAxes(vol, 'axial', 'through')
      expect(s.size).toEqual([32, 64, 4])
      const back = averagePool(s.data as Float32Array, s.size, 2, axes).data
      expect(maxAbsDiff(back, toFloat32(vol)) / Math.max(...toFloat32(vol))).toBeLessThan(1e-5)
      // the model saw other slices: the output differs from the axial run beyond float noise
      expect(maxAbsDiff(s.data, out(own, 'superres').data) / Math.max(...toFloat32(vol))).toBeGreaterThan(1e-3)
      // in-plane input keeps the card's plane
      const inplane = await runTask('superres', vol, { steps: 2, seed: 1, scale: 2 }, { modelsDir: cor.dir })
      expect((inplane.report as { plane: string }).plane).toBe('axial')
    } finally {
      await cor.cleanup()
    }
  })

  it('--axes through refuses a volume whose slices are thick along another axis than the model\'s slice axis', async () => {
    const mk = (spacing: [number, number, number]): Volume =>
      createVolume({ data: toFloat32(vol), size: [...vol.size] as [number, number, number], spacing, origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1], modality: 'MR' })
    // identity direction = canonical LPS; tiny-prior is axial, so its through axis is S (voxel axis 2)
    await expect(run('superres', { scale: 2, axes: 'through' }, mk([4, 1, 1]))).rejects.toMatchObject({ code: 'INVALID_PARAMS', message: expect.stringMatching(/thickest along L–R/) })
    const ok = await run('superres', { scale: 2, axes: 'through', steps: 1 }, mk([1, 1, 4]))
    expect(out(ok, 'superres').size).toEqual([32, 32, 8])
    // isotropic input: the caller's choice stands
    await expect(run('superres', { scale: 2, axes: 'through', steps: 1 }, mk([1, 1, 1]))).resolves.toBeDefined()
  })

  it('upsampled geometry matches nibabel rescale_affine on the IXI fixture', async () => {
    const [{ volume: full }] = await loadVolumes([FIXTURE])
    for (const c of refs.superres) {
      const g = upsampledGeometry(full, c.scale, c.axes)
      expect(g.size).toEqual(c.shape)
      const ras = indexToRas({ ...g, direction: full.direction })
      const want = (c.affine as number[][]).flat()
      for (let i = 0; i < 16; i++) expect(ras[i]).toBeCloseTo(want[i], 3)
    }
  })
})

describe('translate', () => {
  it('writes CT in HU as int16 within the card window, states the limitation, follows the MRI', async () => {
    const r = await run('translate', { steps: 4 })
    const ct = out(r, 'synthct')
    sameGeometry(ct, vol)
    expect(ct.modality).toBe('CT')
    expect(ct.meta.units).toBe('HU')
    expect(ct.data).toBeInstanceOf(Int16Array)
    expect(Math.min(...ct.data)).toBeGreaterThanOrEqual(-1024)
    expect(Math.max(...ct.data)).toBeLessThanOrEqual(2048)
    expect(r.provenance.limitations?.join(' ')).toMatch(/synthetic blobs/)
    // the test model learned x0 = −cond: the synthetic CT anticorrelates with the MRI
    const y = toFloat32(vol)
    const mean = (a: ArrayLike<number>): number => {
      let t = 0
      for (let i = 0; i < a.length; i++) t += a[i]
      return t / a.length
    }
    const my = mean(y)
    const mc = mean(ct.data)
    let cov = 0
    for (let i = 0; i < y.length; i++) cov += (y[i] - my) * (ct.data[i] - mc)
    expect(cov).toBeLessThan(0)
  })
})

describe('anomaly', () => {
  it('heals, maps and thresholds inside the mask; without a card threshold it warns', async () => {
    const r = await run('anomaly', { depth: 200 })
    const heat = out(r, 'heatmap')
    const mask = out(r, 'mask')
    sameGeometry(out(r, 'healed'), vol)
    sameGeometry(heat, vol)
    expect(heat.data).toBeInstanceOf(Float32Array)
    expect(mask.data).toBeInstanceOf(Uint8Array)
    const thr = r.report.threshold as number
    for (let i = 0; i < heat.data.length; i++) {
      expect(heat.data[i]).toBeGreaterThanOrEqual(0) // polarity 'both' (no card block): |z|
      expect(mask.data[i]).toBe(heat.data[i] > thr ? 1 : 0) // no minimum component volume without a card block
    }
    expect(r.report).toMatchObject({ method: 'diffusion', methodSource: 'card', thresholdSource: 'scan-p99' })
    expect((r.report.warnings as string[]).length).toBe(1)
  })

  it('intensity method: no healing (no healed output, 0 steps, K = 1), heatmap = robust z of the input inside the mask, as numpy', async () => {
    const m = Uint8Array.from(vol.data, (_, i) => (i % vol.size[0] >= 4 && i % vol.size[0] < 28 ? 1 : 0))
    const r = await run('anomaly', { method: 'intensity', polarity: 'bright', mask: { ...vol, data: m, meta: vol.meta.clone() } })
    expect(r.outputs.map((o) => o.role).sort()).toEqual(['heatmap', 'mask'])
    expect(r.report).toMatchObject({ method: 'intensity', methodSource: 'caller', steps: 0 })
    expect(r.provenance.samples).toBe(1)
    // (x − median) / (1.4826·MAD) over the masked voxels: numpy.median on the same values
    const z = refs.anomaly_intensity_z as { median: number; scale: number }
    const x = toFloat32(vol)
    const heat = out(r, 'heatmap').data as Float32Array
    for (let i = 0; i < heat.length; i++) expect(heat[i]).toBeCloseTo(m[i] ? (x[i] - z.median) / z.scale : 0, 3)
  })

  it('a given mask (input voxel order) bounds the heatmap', async () => {
    const m = Uint8Array.from(vol.data, (_, i) => (i % vol.size[0] < 16 ? 1 : 0))
    const mask = { ...vol, data: m, meta: vol.meta.clone() }
    const r = await run('anomaly', { depth: 200, mask })
    const heat = out(r, 'heatmap').data
    let inside = 0
    for (let i = 0; i < m.length; i++) {
      if (!m[i]) expect(heat[i]).toBe(0)
      else inside += heat[i] > 0 ? 1 : 0
    }
    expect(inside).toBeGreaterThan(m.reduce((a, b) => a + b, 0) * 0.9)
  })

  it('uses the card threshold and depth when present; gaussian and simplex differ', async () => {
    const m2 = await makeModelsDir({ prior: { anomaly: { thresholds: { diffusion: 0.05 }, depth: 150, calibration: 'test note' } } })
    try {
      const r = await runTask('anomaly', vol, { steps: 2, noise: 'gaussian' }, { modelsDir: m2.dir })
      expect(r.report).toMatchObject({ threshold: 0.05, thresholdSource: 'card', depth: 150, calibration: 'test note' })
      expect(r.provenance.params).toMatchObject({ method: 'diffusion', threshold: 0.05, thresholdSource: 'card' })
      expect(r.report.warnings).toEqual([])
      const s = await runTask('anomaly', vol, { steps: 2, noise: 'simplex' }, { modelsDir: m2.dir })
      expect(maxAbsDiff(out(r, 'healed').data, out(s, 'healed').data)).toBeGreaterThan(0)
      // the tiny prior was trained with Gaussian noise: simplex healing must say its map is not meaningful
      expect((s.report.warnings as string[]).some((w) => /trained with gaussian noise/.test(w))).toBe(true)
    } finally {
      await m2.cleanup()
    }
  })

  it('polarity signs the residual z-score: dark = −bright, both = |bright| (same seed, same healing)', async () => {
    const p = { depth: 200, steps: 2, seed: 3 }
    const both = out(await run('anomaly', { ...p, polarity: 'both' }), 'heatmap').data as Float32Array
    const bright = out(await run('anomaly', { ...p, polarity: 'bright' }), 'heatmap').data as Float32Array
    const dark = out(await run('anomaly', { ...p, polarity: 'dark' }), 'heatmap').data as Float32Array
    let maxErr = 0
    let negative = 0
    for (let i = 0; i < both.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(bright[i] + dark[i]), Math.abs(Math.abs(bright[i]) - both[i]))
      if (bright[i] < -1e-3) negative++
    }
    expect(maxErr).toBeLessThan(1e-5)
    expect(negative).toBeGreaterThan(0) // the signed map is not the folded one
  })

  it("takes steps, samples, depth and polarity from the card's anomaly block when the caller gives none", async () => {
    const m2 = await makeModelsDir({ prior: { anomaly: { depth: 120, steps: 2, samples: 2, polarity: 'bright' } } })
    try {
      const r = await runTask('anomaly', vol, { seed: 1 }, { modelsDir: m2.dir })
      expect(r.report).toMatchObject({ depth: 120, steps: 2, polarity: 'bright', noise: 'gaussian' })
      expect(r.provenance.samples).toBe(2)
      expect(r.outputs.some((o) => o.role === 'std')).toBe(true)
      const o = await runTask('anomaly', vol, { seed: 1, steps: 1, samples: 1, polarity: 'both' }, { modelsDir: m2.dir })
      expect(o.report).toMatchObject({ steps: 1, polarity: 'both' })
      expect(o.provenance.samples).toBe(1)
    } finally {
      await m2.cleanup()
    }
  })
})

describe('anomaly: inpainting healing (mask, stitch, re-sample)', () => {
  it('keeps every voxel outside the candidate region exactly, re-samples inside it, and scores the residual in the input spread', async () => {
    const { candidateRegion } = await import('../../src/pipelines/anomaly.js')
    const { anomalySettings } = await import('../../src/pipelines/anomaly-settings.js')
    // a bright cube in the fixture: the candidate region must cover it
    const x = toFloat32(vol)
    const [nx, ny, nz] = vol.size
    const lesion = new Uint8Array(x.length)
    let hi = 0
    for (const v of x) hi = Math.max(hi, v)
    const bright = Float32Array.from(x)
    for (let k = Math.floor(nz / 2) - 2; k < Math.floor(nz / 2) + 2; k++)
      for (let j = 10; j < 16; j++)
        for (let i = 10; i < 16; i++) {
          bright[(k * ny + j) * nx + i] = hi * 1.5
          lesion[(k * ny + j) * nx + i] = 1
        }
    const v2 = { ...vol, data: bright, meta: vol.meta.clone() }
    const block = { healing: 'inpaint', candidate_z: 3, candidate_dilate_mm: 0, depth: 150, steps: 2, samples: 1, polarity: 'bright', thresholds: { combined: 2 } }
    const m2 = await makeModelsDir({ prior: { anomaly: block } })
    try {
      const brain = Uint8Array.from(bright, () => 1)
      const r = await runTask('anomaly', v2, { seed: 1, method: 'combined', mask: { ...vol, data: brain, meta: vol.meta.clone() } }, { modelsDir: m2.dir })
      const healed = out(r, 'healed').data as Float32Array
      const settings = anomalySettings({ ...JSON.parse(readFileSync(path.join(m2.dir, 'a-prior.json'), 'utf8')) })
      const cand = candidateRegion({ settings, polarity: 'bright', real: bright, brain, size: vol.size, spacing: vol.spacing })
      let inCube = 0
      let changedOutside = 0
      let changedInside = 0
      for (let i = 0; i < bright.length; i++) {
        if (lesion[i] && cand.mask[i]) inCube++
        if (!cand.mask[i] && Math.abs(healed[i] - bright[i]) > 1e-3 * hi) changedOutside++
        if (cand.mask[i] && Math.abs(healed[i] - bright[i]) > 1e-3 * hi) changedInside++
      }
      expect(inCube).toBe(lesion.reduce((a, b) => a + b, 0))
      expect(cand.voxels).toBeLessThan(bright.length / 4)
      expect(changedOutside).toBe(0)
      expect(changedInside).toBeGreaterThan(cand.voxels / 2)
      expect(r.report).toMatchObject({ healing: 'inpaint', candidateZ: 3, candidateVoxels: cand.voxels, threshold: 2, thresholdSource: 'card' })
      // the residual is zero outside the candidates: the combined score there is half the intensity z
      const heat = out(r, 'heatmap').data as Float32Array
      expect(Math.max(...heat.filter((_, i) => lesion[i]))).toBeGreaterThan(2)
    } finally {
      await m2.cleanup()
    }
  })
})

describe('anomaly: the healing floor (card heal_floor_percentile)', () => {
  it('holds healed candidate voxels inside the brain at or above that percentile of the lesion-free brain, and only those', async () => {
    const { candidateRegion } = await import('../../src/pipelines/anomaly.js')
    const { anomalySettings } = await import('../../src/pipelines/anomaly-settings.js')
    const { percentileOf } = await import('../../src/pipelines/volume-ops.js')
    const x = toFloat32(vol)
    const [nx, ny, nz] = vol.size
    let hi = 0
    for (const v of x) hi = Math.max(hi, v)
    const bright = Float32Array.from(x)
    for (let k = Math.floor(nz / 2) - 2; k < Math.floor(nz / 2) + 2; k++)
      for (let j = 10; j < 16; j++)
        for (let i = 10; i < 16; i++) bright[(k * ny + j) * nx + i] = hi * 1.5
    const v2 = { ...vol, data: bright, meta: vol.meta.clone() }
    const brain = Uint8Array.from(bright, () => 1)
    const healedWith = async (floor: number | null): Promise<{ healed: Float32Array; cand: Uint8Array }> => {
      const block = { healing: 'inpaint', candidate_z: 3, candidate_dilate_mm: 0, depth: 900, steps: 2, samples: 1, polarity: 'bright', thresholds: { combined: 2 }, heal_floor_percentile: floor }
      const m = await makeModelsDir({ prior: { anomaly: block } })
      try {
        const r = await runTask('anomaly', v2, { seed: 1, method: 'combined', mask: { ...vol, data: brain, meta: vol.meta.clone() } }, { modelsDir: m.dir })
        expect(r.report).toMatchObject({ healFloorPercentile: floor })
        const settings = anomalySettings({ ...JSON.parse(readFileSync(path.join(m.dir, 'a-prior.json'), 'utf8')) })
        return { healed: out(r, 'healed').data as Float32Array, cand: candidateRegion({ settings, polarity: 'bright', real: bright, brain, size: vol.size, spacing: vol.spacing }).mask }
      } finally {
        await m.cleanup()
      }
    }
    const free = await healedWith(null)
    const held = await healedWith(50)
    // the floor: the median of the input in the brain outside the candidates (real units; the normalisation is affine there)
    const floor = percentileOf(Float32Array.from(bright.filter((_, i) => !held.cand[i])), 50)
    const below = (h: Float32Array): number => h.reduce((n, v, i) => n + (held.cand[i] && v < floor - 1e-3 * hi ? 1 : 0), 0)
    expect(below(free.healed)).toBeGreaterThan(0)
    expect(below(held.healed)).toBe(0)
    for (let i = 0; i < bright.length; i++) if (!held.cand[i]) expect(held.healed[i]).toBe(bright[i])
  })
})

describe('anomaly: the inpainting box', () => {
  it('keeps BOX_MARGIN voxels of in-plane context and only the 2.5D neighbours along the slice axis', async () => {
    const { candidateBox } = await import('../../src/pipelines/anomaly.js')
    const size: [number, number, number] = [100, 90, 80]
    const m = new Uint8Array(size[0] * size[1] * size[2])
    // two candidate voxels: (50, 40, 30) and (60, 45, 33)
    m[(30 * 90 + 40) * 100 + 50] = 1
    m[(33 * 90 + 45) * 100 + 60] = 1
    expect(candidateBox(m, size, 'axial', 1)).toEqual({ lo: [34, 24, 29], hi: [77, 62, 35] })
    expect(candidateBox(m, size, 'axial', 2)).toEqual({ lo: [34, 24, 28], hi: [77, 62, 36] })
    // a 2D model (no neighbours) still keeps one slice each side; sagittal slices run along x
    expect(candidateBox(m, size, 'sagittal', 0)).toEqual({ lo: [49, 24, 14], hi: [62, 62, 50] })
    expect(candidateBox(m, size, 'coronal', 1)).toEqual({ lo: [34, 39, 14], hi: [77, 47, 50] })
    expect(candidateBox(new Uint8Array(m.length), size, 'axial', 1)).toBeUndefined()
  })
})

describe('--sampler: every task runs each scheduler through the one volume sampler', () => {
  const cases: [Parameters<typeof runTask>[0], Parameters<typeof runTask>[2], string][] = [
    ['denoise', { mode: 'sample' }, 'denoised'],
    ['superres', { mode: 'sample', scale: 2, depth: 60 }, 'superres'],
    ['translate', {}, 'synthct'],
    ['anomaly', { depth: 100 }, 'heatmap'],
  ]
  for (const [task, params, role] of cases) {
    it(`${task}: ddim, dpmpp and ddpm give finite outputs on the same grid, and not all the same`, async () => {
      const outs: Float32Array[] = []
      for (const sampler of ['ddim', 'dpmpp', 'ddpm'] as const) {
        const r = await run(task, { ...params, sampler, steps: 3 })
        const v = out(r, role)
        expect(Array.from(v.data as ArrayLike<number>).every(Number.isFinite)).toBe(true)
        outs.push(Float32Array.from(v.data as ArrayLike<number>))
      }
      expect(outs[1].length).toBe(outs[0].length)
      // DDPM is stochastic and DDIM/DPM-Solver++ are not: the three trajectories differ
      expect(Math.max(maxAbsDiff(outs[0], outs[1]), maxAbsDiff(outs[0], outs[2]))).toBeGreaterThan(0)
    })
  }
})
