import { describe, expect, it } from 'vitest'
import { createVolume, indexToPoint, VolumeMetadata, type Mat3, type Vec3, type Volume } from '../../src/volume/index.js'
import { createScheduler, reorient, sampleVolume, toCanonical, volumeModel, type ModelFn } from '../../src/engine/index.js'

/** All 48 signed permutation matrices (row-major), each optionally rotated 30° about an oblique axis. */
function signedPermutations(): Mat3[] {
  const perms: Vec3[] = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
  const out: Mat3[] = []
  for (const p of perms) {
    for (let s = 0; s < 8; s++) {
      const m = new Array(9).fill(0) as Mat3
      for (let c = 0; c < 3; c++) m[p[c] * 3 + c] = s & (1 << c) ? -1 : 1
      out.push(m)
    }
  }
  return out
}

function mul(a: Mat3, b: Mat3): Mat3 {
  const m = new Array(9).fill(0) as Mat3
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) m[r * 3 + c] += a[r * 3 + k] * b[k * 3 + c]
  return m
}

/** Rodrigues rotation by `deg` about the unit axis (1, 2, 2)/3. */
function rotation(deg: number): Mat3 {
  const t = (deg * Math.PI) / 180
  const [x, y, z] = [1 / 3, 2 / 3, 2 / 3]
  const c = Math.cos(t)
  const s = Math.sin(t)
  const C = 1 - c
  return [c + x * x * C, x * y * C - z * s, x * z * C + y * s, y * x * C + z * s, c + y * y * C, y * z * C - x * s, z * x * C - y * s, z * y * C + x * s, c + z * z * C]
}

function volumeWith(direction: Mat3, size: Vec3 = [3, 4, 5], components = 1): Volume {
  const n = size[0] * size[1] * size[2] * components
  return createVolume({
    data: Int16Array.from({ length: n }, (_, i) => ((i * 7919) % 601) - 300),
    size,
    components,
    spacing: [0.7, 1.3, 2.9],
    origin: [12.5, -40, 7.25],
    direction,
    modality: 'MR',
    meta: new VolumeMetadata({ rescaleSlope: 2, rescaleIntercept: -1 }),
  })
}

const col = (d: Mat3, j: number): Vec3 => [d[j], d[3 + j], d[6 + j]]

/** Independent of reorient's index arithmetic: every canonical voxel sits where a voxel of v with the same value sits. */
function expectSamePhysicalVoxels(v: Volume, c: Volume): void {
  const inv = invert(v)
  const C = v.components
  for (let z = 0; z < c.size[2]; z++) {
    for (let y = 0; y < c.size[1]; y++) {
      for (let x = 0; x < c.size[0]; x++) {
        const p = indexToPoint(c, [x, y, z])
        const ijk = inv(p).map((u) => Math.round(u))
        const oi = ((z * c.size[1] + y) * c.size[0] + x) * C
        const ii = ((ijk[2] * v.size[1] + ijk[1]) * v.size[0] + ijk[0]) * C
        for (let k = 0; k < C; k++) expect(c.data[oi + k]).toBe(v.data[ii + k])
      }
    }
  }
}

/** LPS point → continuous index of v (orthonormal direction: inverse = transpose). */
function invert(v: Volume): (p: Vec3) => Vec3 {
  return (p) => {
    const d = [p[0] - v.origin[0], p[1] - v.origin[1], p[2] - v.origin[2]]
    return [0, 1, 2].map((j) => (col(v.direction, j)[0] * d[0] + col(v.direction, j)[1] * d[1] + col(v.direction, j)[2] * d[2]) / v.spacing[j]) as Vec3
  }
}

describe('toCanonical: closest LPS voxel order', () => {
  const oblique = rotation(30)
  const cases = signedPermutations().flatMap((m, i) => [
    { name: `signed permutation ${i}`, direction: m, exact: true },
    { name: `signed permutation ${i} · 30° oblique`, direction: mul(oblique, m), exact: false },
  ])

  it.each(cases)('$name: canonical direction, same physical voxels, exact undo', ({ direction, exact }) => {
    const v = volumeWith(direction)
    const { volume: c, undo } = toCanonical(v)
    if (exact) expect(c.direction.map((x) => x + 0)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1])
    // each axis points along +x / +y / +z more than along any other LPS axis
    for (let a = 0; a < 3; a++) {
      const dcol = col(c.direction, a)
      expect(dcol[a]).toBeGreaterThan(0)
      for (let r = 0; r < 3; r++) if (r !== a) expect(Math.abs(dcol[r])).toBeLessThan(dcol[a])
    }
    expectSamePhysicalVoxels(v, c)
    const back = undo(c)
    expect(back.size).toEqual(v.size)
    expect(Array.from(back.data)).toEqual(Array.from(v.data))
    expect(back.data.constructor).toBe(v.data.constructor)
    expect(back.spacing).toEqual(v.spacing)
    expect(back.direction).toEqual(v.direction)
    for (let r = 0; r < 3; r++) expect(back.origin[r]).toBeCloseTo(v.origin[r], 10)
    expect(back.meta.rescaleSlope).toBe(2)
  })

  it('keeps interleaved components together', () => {
    const v = volumeWith([0, 0, -1, 1, 0, 0, 0, 1, 0], [2, 3, 4], 3)
    const c = toCanonical(v).volume
    expect(c.size).toEqual([4, 2, 3])
    expectSamePhysicalVoxels(v, c)
  })

  it('returns a canonical volume itself, uncopied', () => {
    const v = volumeWith([1, 0, 0, 0, 1, 0, 0, 0, 1])
    const c = toCanonical(v)
    expect(c.volume).toBe(v)
    expect(c.undo(v)).toBe(v)
  })

  it('undo maps a result on a scaled canonical grid (super-resolution ×2, ×3) back to the input axes', () => {
    const v = volumeWith([0, 0, -1, 1, 0, 0, 0, 1, 0]) // IXI-like P-S-R
    const { volume: c, undo } = toCanonical(v)
    const f: Vec3 = [2, 1, 3]
    const size = c.size.map((n, a) => n * f[a]) as Vec3
    const spacing = c.spacing.map((s, a) => s / f[a]) as Vec3
    const up = createVolume({ data: Float32Array.from({ length: size[0] * size[1] * size[2] }, (_, i) => i), size, spacing, origin: c.origin, direction: c.direction })
    const back = undo(up)
    expect(back.direction).toEqual(v.direction)
    expect(back.size).toEqual(v.size.map((n, j) => n * f[[1, 2, 0][j]]))
    expect(back.spacing).toEqual(v.spacing.map((s, j) => s / f[[1, 2, 0][j]]))
    expectSamePhysicalVoxels(up, back)
  })

  it('reorient with the returned order reproduces the canonical data', () => {
    const v = volumeWith(mul(rotation(30), [0, -1, 0, 0, 0, 1, -1, 0, 0]))
    const { volume: c, reorientation } = toCanonical(v)
    expect(reorient(v, reorientation).data).toEqual(c.data)
  })
})

describe('sampleVolume slices anatomy, whatever the storage order', () => {
  const LINEAR = { type: 'linear' as const, T: 1000, beta_start: 1e-4, beta_end: 0.02 }
  /** A model that is not invariant to slice orientation: out depends on the in-plane column. */
  const SCH = createScheduler('ddim', LINEAR)
  function columnModel(): ModelFn {
    return async (x, dims, t) => {
      const a = Math.sqrt(SCH.abar(t))
      const W = dims[3]
      return x.map((v, i) => v / a + 0.01 * (i % W))
    }
  }
  async function run(v: Volume): Promise<Volume> {
    const card = { plane: 'axial' as const, size_multiple: 4, tile_size: null, channels: 1, cond_channels: 0, normalisation: { kind: 'percentile' as const, params: { low: 1, high: 99 } }, schedule: LINEAR, prediction: 'x0' as const, clip_sample: false }
    return sampleVolume(v, volumeModel(columnModel(), card), { sampler: 'ddim', steps: 3, startT: 200, seed: 3 })
  }

  it('a P-S-R copy of a canonical volume gives the same output voxel for voxel, in its own order and geometry', async () => {
    const canon = volumeWith([1, 0, 0, 0, 1, 0, 0, 0, 1], [6, 5, 4])
    const psr = reorient(canon, { perm: [1, 2, 0], flip: [false, false, true] })
    expect(psr.direction.map((x) => x + 0)).toEqual([0, 0, -1, 1, 0, 0, 0, 1, 0])
    const a = await run(canon)
    const b = await run(psr)
    expect(b.size).toEqual(psr.size)
    expect(b.direction).toEqual(psr.direction)
    expect(b.origin).toEqual(psr.origin)
    // same physical voxel → same value (the column model would differ had b been sliced in voxel planes)
    expectSamePhysicalVoxels(a, b)
    const voxelPlanes = await run({ ...psr, direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] })
    expect(Array.from(voxelPlanes.data)).not.toEqual(Array.from(b.data))
  })
})
