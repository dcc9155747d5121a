import { describe, expect, it } from 'vitest'
import { createVolume, VolumeMetadata, type Mat3, type Vec3 } from '../../src/volume/index.js'
import {
  createScheduler,
  paddingFor,
  padIndex,
  percentiles,
  readSlice,
  sliceLayout,
  sampleVolume,
  tiledModelFn,
  volumeModel,
  type ModelFn,
  type Progress,
  type SlicePlane,
} from '../../src/engine/index.js'
import { maxAbsDiff, readReference } from './helpers.js'

const LINEAR = { type: 'linear' as const, T: 1000, beta_start: 1e-4, beta_end: 0.02 }

function testVolume(size: Vec3): ReturnType<typeof createVolume> {
  const n = size[0] * size[1] * size[2]
  // stored int16 with a rescale, so the engine must apply slope/intercept
  const data = Int16Array.from({ length: n }, (_, i) => ((i * 7919) % 601) - 300)
  return createVolume({
    data,
    size,
    spacing: [0.9, 1.1, 2.5],
    origin: [-10, 20, 30],
    direction: [0, 1, 0, 1, 0, 0, 0, 0, -1] as Mat3,
    modality: 'CT',
    meta: new VolumeMetadata({ rescaleSlope: 2, rescaleIntercept: -100 }),
  })
}

const SCH = createScheduler('ddim', LINEAR)

/** With x0-prediction, out = x_t/√ᾱ_t is the exact clean image when x_t = √ᾱ_t y: DDIM must return y. */
function identityModel(): ModelFn {
  return async (x, _dims, t) => {
    const a = Math.sqrt(SCH.abar(t))
    return x.map((v) => v / a)
  }
}

type TestCard = { plane: SlicePlane; size_multiple: number; tile_size: number | null; channels: number; cond_channels: number; normalisation: { kind: 'ct-window' | 'percentile'; params: { low: number; high: number } } }
const vm = (model: ModelFn, card: TestCard, batch: number, prediction: 'x0' | 'epsilon' = 'x0') => volumeModel(model, { ...card, schedule: LINEAR, prediction, clip_sample: false }, { batch, inFlight: 1 })

async function roundTrip(plane: SlicePlane, tile: number | null, batchSize: number) {
  const vol = testVolume([13, 10, 6])
  const card = { plane, size_multiple: 4, tile_size: tile, channels: 1, cond_channels: 0, normalisation: { kind: 'ct-window' as const, params: { low: -800, high: 600 } } }
  const out = await sampleVolume(vol, vm(identityModel(), card, batchSize), { sampler: 'ddim', steps: 4, startT: 300, seed: 1 })
  return { vol, out }
}

describe('volume slicing, padding, tiling and reassembly', () => {
  for (const plane of ['axial', 'coronal', 'sagittal'] as const) {
    it(`${plane}: identity model returns the input values and geometry`, async () => {
      const { vol, out } = await roundTrip(plane, null, 4)
      expect(out.size).toEqual(vol.size)
      expect(out.spacing).toEqual(vol.spacing)
      expect(out.origin).toEqual(vol.origin)
      expect(out.direction).toEqual(vol.direction)
      const real = Float32Array.from(vol.data, (v) => v * 2 - 100)
      expect(maxAbsDiff(out.data as Float32Array, real)).toBeLessThan(1e-3)
    })
  }

  it('tiled slices (tile 8 < 16×12 padded) reassemble exactly', async () => {
    const { vol, out } = await roundTrip('axial', 8, 2)
    const real = Float32Array.from(vol.data, (v) => v * 2 - 100)
    expect(maxAbsDiff(out.data as Float32Array, real)).toBeLessThan(1e-3)
  })

  it('tile blending keeps a constant image constant', async () => {
    const tiles: number[][] = []
    const model: ModelFn = async (x, d) => (tiles.push(d), x.map((v) => 2 * v + 5))
    const out = await tiledModelFn(model, 16, 6, 0)(new Float32Array(2 * 40 * 37).fill(1), [2, 1, 40, 37], 10)
    expect(tiles.length).toBe(16) // 4 × 4 positions (≥ 6 px overlap), each run once for the batch of 2
    expect(tiles[0]).toEqual([2, 1, 16, 16])
    expect(Math.max(...out.map((v) => Math.abs(v - 7)))).toBeLessThan(1e-5)
  })

  it('slices follow the documented voxel axes, reflect-padded like numpy', () => {
    const vol = createVolume({ data: Float32Array.from({ length: 5 * 4 * 3 }, (_, i) => i), size: [5, 4, 3] })
    const id = (v: number) => v
    const sag = sliceLayout(vol.size, 'sagittal')
    expect([sag.count, sag.H, sag.W]).toEqual([5, 3, 4])
    const pad = paddingFor(sag.H, sag.W, 4) // 3×4 → 4×4, one row at the bottom
    const s = new Float32Array(16)
    readSlice(vol, sag, 2, pad, 'reflect', id, s)
    // sagittal slice i=2: row y = k, column x = j, value = i + 5 j + 20 k
    expect(Array.from(s.subarray(0, 8))).toEqual([2, 7, 12, 17, 22, 27, 32, 37])
    expect(Array.from(s.subarray(12))).toEqual([22, 27, 32, 37]) // numpy reflect: row 3 mirrors row 1
    expect([-2, -1, 5, 6, 9].map((i) => padIndex(i, 5, 'reflect'))).toEqual([2, 1, 3, 2, 1])
    expect([-2, 6].map((i) => padIndex(i, 5, 'edge'))).toEqual([0, 4])
  })

  it('the percentile range equals numpy.percentile', () => {
    const ref = readReference('engine-normalise.json')
    for (const c of ref.cases) expect(percentiles(Float32Array.from(c.values), c.percentiles)).toEqual(c.numpy) // bit for bit
  })

  it('seeded stochastic sampling does not depend on the batch size, and changes with the seed', async () => {
    const vol = testVolume([9, 8, 5])
    const card = { plane: 'axial' as const, size_multiple: 4, tile_size: null, channels: 1, cond_channels: 0, normalisation: { kind: 'percentile' as const, params: { low: 1, high: 99 } } }
    const model: ModelFn = async (x, _d, t) => x.map((v) => 0.1 * v + t / 1e4)
    const run = (batchSize: number, seed = 3) =>
      sampleVolume(vol, vm(model, card, batchSize, 'epsilon'), { sampler: 'ddpm', steps: 5, seed })
    const a = (await run(1)).data as Float32Array
    const b = (await run(3)).data as Float32Array
    const c = (await run(3, 4)).data as Float32Array
    expect(a).toEqual(b)
    expect(maxAbsDiff(a, c)).toBeGreaterThan(1)
  })

  it('feeds 2.5D conditioning slices (Cc = 3, neighbours reflected at the ends as training reads them) on the same grid', async () => {
    const vol = testVolume([9, 7, 4])
    const cond = testVolume([9, 7, 4])
    const cdata = Float32Array.from(cond.data, (v) => v * 2 - 100)
    const [lo, hi] = [Math.min(...cdata), Math.max(...cdata)]
    const card = { plane: 'axial' as const, size_multiple: 4, tile_size: null, channels: 1, cond_channels: 3, normalisation: { kind: 'ct-window' as const, params: { low: -1000, high: 1000 } } }
    const run = (channel: number) =>
      sampleVolume(vol, vm(
        // x0-prediction of one cond channel: DDIM's last step returns it exactly
        async (_x, [B, , H, W], _t, c) => Float32Array.from({ length: B * H * W }, (_, i) => c![(Math.floor(i / (H * W)) * 3 + channel) * H * W + (i % (H * W))]),
        card, 3), {
        cond,
        condNormalisation: { kind: 'percentile', params: { low: 0, high: 100 } },
        outputRange: { low: lo, high: hi },
        sampler: 'ddim',
        steps: 3,
        seed: 0,
      })
    const centre = (await run(1)).data as Float32Array
    expect(maxAbsDiff(centre, cdata)).toBeLessThan(1e-3 * (hi - lo))
    const below = (await run(0)).data as Float32Array
    // testVolume's k runs toward −S, so the canonical slice below (inferior) is voxel k + 1; past the
    // last slice it reflects without repeating the edge (k = 3 reads k = 2), like Stack.neighbours in training
    const plane = 9 * 7
    const reflect = (k: number): number => (k > 3 ? 6 - k : k)
    const shifted = Float32Array.from(cdata, (_, i) => cdata[reflect(Math.floor(i / plane) + 1) * plane + (i % plane)])
    expect(maxAbsDiff(below, shifted)).toBeLessThan(1e-3 * (hi - lo))
  })

  it('reports progress and cancels through AbortSignal', async () => {
    const vol = testVolume([8, 8, 6])
    const card = { plane: 'axial' as const, size_multiple: 4, tile_size: null, channels: 1, cond_channels: 0, normalisation: { kind: 'ct-window' as const, params: { low: -1000, high: 1000 } } }
    const model: ModelFn = async (x) => x.map((v) => 0.1 * v)
    const events: Progress[] = []
    await sampleVolume(vol, vm(model, card, 4, 'epsilon'), { sampler: 'ddim', steps: 3, seed: 0, onProgress: (p) => events.push(p) })
    expect(events.length).toBe(3) // one event per step over the whole volume
    expect(events.at(-1)).toEqual({ step: 3, totalSteps: 3, fraction: 1 })
    const ac = new AbortController()
    const seen: Progress[] = []
    const job = sampleVolume(vol, vm(model, card, 2, 'epsilon'), {
      sampler: 'ddim', steps: 3, seed: 0, signal: ac.signal,
      onProgress: (p) => {
        seen.push(p)
        if (p.step === 2) ac.abort()
      },
    })
    await expect(job).rejects.toMatchObject({ code: 'CANCELLED' })
    expect(seen.length).toBe(2)
  })
})
