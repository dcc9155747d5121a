import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createScheduler, loadModel, onnxModelFn, releaseSessions, sampleVolumeState, volumeModel, type SamplerKind } from '../../src/engine/index.js'
import { maxAbsDiff, readReference, repoRoot } from './helpers.js'

// PyTorch reference: training/raddiff_train/make_goldens.py sampling the same tiny model.
const ref = readReference('engine-e2e.json')
const cardPath = path.join(repoRoot, 'fixtures/models/tiny-eps.json')

afterAll(releaseSessions)

describe('tiny model through onnxruntime + TS schedulers vs PyTorch', async () => {
  const m = await loadModel(cardPath, { device: 'cpu' })
  const model = onnxModelFn(m)
  const dims = ref.shape as [number, number, number, number]
  const plen = dims.reduce((a, b) => a * b)
  // the batch [B,1,H,W] as a volume of B axial slices (x fastest: the same memory layout), run by
  // the one volume sampler the tasks use
  const size: [number, number, number] = [dims[3], dims[2], dims[0]]
  const vm = (clip: boolean) => volumeModel(model, { ...m.card, clip_sample: clip })

  it('one forward equals torch', async () => {
    const out = await model(Float32Array.from(ref.x_T), dims, ref.first_forward.t)
    expect(maxAbsDiff(out, ref.first_forward.out)).toBeLessThan(1e-4)
    expect(maxAbsDiff(out, new Float32Array(plen))).toBeGreaterThan(0.1) // not a degenerate model
  })

  for (const run of ref.runs) {
    it(`${run.sampler} eta=${run.eta} clip=${run.clip}, 10 steps, equals torch to 1e-4 (relative)`, async () => {
      const scheduler = createScheduler(run.sampler as SamplerKind, ref.schedule, { prediction: 'epsilon', clipSample: run.clip, eta: run.eta })
      expect(scheduler.setTimesteps(10)).toEqual(ref.timesteps)
      const out = await sampleVolumeState(vm(run.clip), size, { sampler: run.sampler as SamplerKind, eta: run.eta, steps: 10, seed: 0, x: Float32Array.from(ref.x_T), noiseFor: (i) => Float32Array.from(ref.noise[i]) })
      const scale = Math.max(1, ...run.out.map(Math.abs))
      expect(maxAbsDiff(out, run.out) / scale).toBeLessThan(1e-4)
    })
  }

  it('partial diffusion from t* = 250 equals torch', async () => {
    const scheduler = createScheduler('ddim', ref.schedule, { clipSample: true })
    expect(scheduler.setTimesteps(ref.partial.steps, { startT: ref.partial.start })).toEqual(ref.partial.timesteps)
    const a = Math.sqrt(scheduler.abar(250))
    const x = Float32Array.from(ref.partial.y, (v: number) => a * v)
    const out = await sampleVolumeState(vm(true), size, { steps: ref.partial.steps, seed: 0, x, startT: ref.partial.start })
    expect(maxAbsDiff(out, ref.partial.out)).toBeLessThan(1e-4)
  })
})

describe('diffuseVolume with the tiny model', () => {
  it('partial DDPM on a 20×18×5 volume: input geometry, finite values, same result for any batch size', async () => {
    const { createVolume } = await import('../../src/volume/index.js')
    const { diffuseVolume } = await import('../../src/engine/index.js')
    const size: [number, number, number] = [20, 18, 5]
    const vol = createVolume({ data: Float32Array.from({ length: 20 * 18 * 5 }, (_, i) => Math.sin(i / 7) * 300 + 400), size, spacing: [1, 1, 3] })
    const run = (batchSize: number) => diffuseVolume(vol, cardPath, { device: 'cpu', sampler: 'ddpm', steps: 4, startT: 200, addNoise: true, seed: 9, batchSize })
    const a = await run(2)
    const b = await run(5)
    expect(a.device).toBe('cpu')
    expect(a.volume.size).toEqual(size)
    expect(a.volume.spacing).toEqual([1, 1, 3])
    const d = a.volume.data as Float32Array
    expect(d.every(Number.isFinite)).toBe(true)
    expect(maxAbsDiff(d, b.volume.data as Float32Array)).toBeLessThan(1e-3)
    expect(maxAbsDiff(d, vol.data as Float32Array)).toBeGreaterThan(1) // the random model changed it
  })
})
