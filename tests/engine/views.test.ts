import { describe, expect, it } from 'vitest'
import { evalVolume, flipPlanes, viewLabel, viewsOf, volumeModel, type ModelFn, type VolumeModel } from '../../src/engine/index.js'
import type { Vec3 } from '../../src/volume/index.js'

// A card with one neighbour on each side (C = 3) and no padding (size_multiple 1), so the call's
// rows and columns are the slice's own.
const CARD: VolumeModel['card'] = {
  plane: 'sagittal',
  size_multiple: 1,
  tile_size: null,
  channels: 1,
  cond_channels: 0,
  context_slices: 1,
  schedule: { type: 'linear', T: 1000, beta_start: 1e-4, beta_end: 0.02 },
  prediction: 'x0',
  clip_sample: true,
  normalisation: { kind: 'ct-window', params: { low: 0, high: 1 } },
} as VolumeModel['card']

/** out = centre channel + f(row, col, H, W): a network that is NOT mirror-symmetric, so a missing un-flip shows. */
const offsetModel = (f: (y: number, x: number, H: number, W: number) => number, centre = 1): ModelFn => async (x, dims, _t, cond) => {
  const [B, C, H, W] = dims
  const src = cond ?? x
  const Cs = cond ? src.length / (B * H * W) : C
  const out = new Float32Array(B * H * W)
  for (let b = 0; b < B; b++) for (let y = 0; y < H; y++) for (let c = 0; c < W; c++) out[(b * H + y) * W + c] = src[((b * Cs + centre) * H + y) * W + c] + f(y, c, H, W)
  return out
}

const size: Vec3 = [5, 4, 3]
const n = size[0] * size[1] * size[2]
const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7))

describe('self-ensemble views (engine/views.ts)', () => {
  it('flipPlanes mirrors rows and columns of each plane', () => {
    const a = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) // 2 planes of 2×3
    expect([...flipPlanes(a, 2, 2, 3, false, true)]).toEqual([3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10])
    expect([...flipPlanes(a, 2, 2, 3, true, false)]).toEqual([4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9])
    expect([...flipPlanes(a, 2, 2, 3, true, true)]).toEqual([6, 5, 4, 3, 2, 1, 12, 11, 10, 9, 8, 7])
  })

  it('viewsOf: every flip combination in each plane, the first plane and the identity first', () => {
    expect(viewsOf(['sagittal'], []).map(viewLabel)).toEqual(['sagittal'])
    expect(viewsOf(['axial'], ['rows', 'cols']).map(viewLabel)).toEqual(['axial', 'axial+cols', 'axial+rows', 'axial+rows+cols'])
    expect(viewsOf(['sagittal', 'coronal', 'axial'], ['cols']).map(viewLabel)).toEqual(['sagittal', 'sagittal+cols', 'coronal', 'coronal+cols', 'axial', 'axial+cols'])
  })

  it('a mirrored view is un-mirrored: the average of a column ramp and its mirror is flat', async () => {
    const vm = volumeModel(offsetModel((_y, c) => c), CARD)
    const one = await evalVolume(vm, x, size, 10)
    const both = await evalVolume({ ...vm, views: viewsOf(['sagittal'], ['cols']) }, x, size, 10)
    // sagittal slices have W = ny = 4 columns: one view adds 0…3, the pair adds (W − 1)/2 everywhere
    let rampSeen = 0
    for (let i = 0; i < n; i++) {
      expect(both[i]).toBeCloseTo(x[i] + 1.5, 5)
      rampSeen = Math.max(rampSeen, Math.abs(one[i] - x[i] - 1.5))
    }
    expect(rampSeen).toBeCloseTo(1.5, 5)
    const rows = await evalVolume({ ...vm, views: viewsOf(['sagittal'], ['rows']) }, x, size, 10)
    for (let i = 0; i < n; i++) expect(rows[i]).toBeCloseTo(one[i], 5) // a column ramp ignores row flips
  })

  it('the conditioning image is mirrored with x, so a model reading cond is unchanged by a flip', async () => {
    const vm = volumeModel(offsetModel(() => 0), { ...CARD, cond_channels: 3 })
    const cond = Float32Array.from({ length: n }, (_, i) => Math.cos(i))
    const out = await evalVolume({ ...vm, views: viewsOf(['sagittal'], ['rows', 'cols']) }, x, size, 10, cond)
    for (let i = 0; i < n; i++) expect(out[i]).toBeCloseTo(cond[i], 5)
  })

  it('plane views cut the volume in each plane and average: a per-plane offset averages over the planes', async () => {
    // adds the call's row count H: sagittal and coronal slices have nz = 3 rows, axial ny = 4
    const vm = volumeModel(offsetModel((_y, _c, H) => H), CARD)
    const out = await evalVolume({ ...vm, views: viewsOf(['sagittal', 'coronal', 'axial'], []) }, x, size, 10)
    for (let i = 0; i < n; i++) expect(out[i]).toBeCloseTo(x[i] + (3 + 3 + 4) / 3, 5)
    // each plane's slices get their own neighbours: an identity model is the identity in every plane
    const id = await evalVolume({ ...volumeModel(offsetModel(() => 0), CARD), views: viewsOf(['sagittal', 'coronal', 'axial'], ['rows', 'cols']) }, x, size, 10)
    for (let i = 0; i < n; i++) expect(id[i]).toBeCloseTo(x[i], 6)
  })

  it('weighted views: the average takes each view at its weight', async () => {
    const vm = volumeModel(offsetModel((_y, _c, H) => H), CARD)
    const weighted = viewsOf(['sagittal', 'coronal', 'axial'], []).map((v, i) => ({ ...v, weight: [0.5, 0.3, 0.2][i] }))
    const out = await evalVolume({ ...vm, views: weighted }, x, size, 10)
    for (let i = 0; i < n; i++) expect(out[i]).toBeCloseTo(x[i] + 0.5 * 3 + 0.3 * 3 + 0.2 * 4, 5)
  })
})
