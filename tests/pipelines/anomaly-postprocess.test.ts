import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { EngineError, type ModelCard } from '../../src/engine/index.js'
import { anomalyScore, robustZ } from '../../src/pipelines/anomaly-score.js'
import { anomalySettings } from '../../src/pipelines/anomaly-settings.js'
import { dilateMask, dropSmallComponents, erodeMask, fillHoles, labelComponents, medianFilter } from '../../src/pipelines/mask-ops.js'
import type { Vec3 } from '../../src/volume/index.js'
import { repoRoot } from './helpers.js'

// scipy.ndimage / numpy on seeded volumes: scripts/reference/anomaly_refs.py
const ref = JSON.parse(readFileSync(path.join(repoRoot, 'tests/reference/anomaly-refs.json'), 'utf8'))
const size = ref.size as Vec3
const u8 = (a: number[]): Uint8Array => Uint8Array.from(a)
const f32 = (a: number[]): Float32Array => Float32Array.from(a)
const mismatches = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let n = 0
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++
  return n
}

describe('mask operations match scipy.ndimage', () => {
  it('erosion: 2 mm at 1 mm isotropic = binary_erosion(iterations=2); 2 mm at (1, 1, 2.5) mm erodes z once and x, y twice', () => {
    const m = u8(ref.mask)
    const iso = erodeMask(m, size, [1, 1, 1], 2)
    expect(mismatches(iso, ref.erosion_iso2)).toBe(0)
    const aniso = erodeMask(m, size, ref.aniso_spacing, ref.aniso_mm)
    expect(mismatches(aniso, ref.erosion_aniso)).toBe(0)
    expect(mismatches(iso, aniso)).toBeGreaterThan(0) // the references differ, so each test has teeth
  })

  it('dilation: 2 mm isotropic = binary_dilation(iterations=2, border_value=0); anisotropic spacing grows z once', () => {
    const m = u8(ref.islands)
    const iso = dilateMask(m, size, [1, 1, 1], 2)
    expect(mismatches(iso, ref.dilation_iso2)).toBe(0)
    const aniso = dilateMask(m, size, ref.aniso_spacing, ref.aniso_mm)
    expect(mismatches(aniso, ref.dilation_aniso)).toBe(0)
    expect(mismatches(iso, aniso)).toBeGreaterThan(0)
  })

  it('hole filling = binary_fill_holes in 3D: a closed cavity fills, a shell open to the volume edge does not', () => {
    const m = u8(ref.hollow)
    const got = fillHoles(m, size)
    expect(mismatches(got, ref.filled)).toBe(0)
    expect(mismatches(got, m)).toBeGreaterThan(0)
  })

  it('median filter, widths 3 and 5, reflect edges = median_filter(mode="reflect")', () => {
    const x = f32(ref.x)
    for (const [w, want] of [[3, ref.median3], [5, ref.median5]] as const) {
      const got = medianFilter(x, size, w)
      let err = 0
      for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]))
      expect(err).toBeLessThan(1e-6)
    }
    // restricted to a mask: the same values inside, 0 outside
    const m = u8(ref.mask)
    const got = medianFilter(x, size, 3, m)
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(m[i] ? ref.median3[i] : 0, 5)
  })

  it('26-connected labels and sizes = label(structure=ones((3, 3, 3)))', () => {
    const { labels, counts } = labelComponents(u8(ref.islands), size)
    expect(mismatches(labels, ref.labels)).toBe(0)
    expect(counts.slice(1)).toEqual(ref.counts)
    const min = 10
    const { mask, dropped, kept } = dropSmallComponents(u8(ref.islands), size, min)
    const keep = (ref.counts as number[]).map((c) => c >= min)
    expect(kept).toBe(keep.filter(Boolean).length)
    expect(dropped).toBe(keep.length - kept)
    for (let i = 0; i < mask.length; i++) expect(mask[i]).toBe(ref.labels[i] > 0 && keep[ref.labels[i] - 1] ? 1 : 0)
  })
})

describe('anomaly score', () => {
  it('robust z = (y − median) / (1.4826·MAD) over the mask, as numpy; polarity flips or folds it', () => {
    const y = f32(ref.y)
    const m = u8(ref.mask)
    const { z, stats } = robustZ(y, m, 'bright')
    expect(stats.median).toBeCloseTo(ref.z_median, 5)
    expect(stats.scale).toBeCloseTo(ref.z_scale, 5)
    for (let i = 0; i < z.length; i++) expect(z[i]).toBeCloseTo(ref.z[i], 4)
    const dark = robustZ(y, m, 'dark').z
    const both = robustZ(y, m, 'both').z
    for (let i = 0; i < z.length; i++) {
      expect(dark[i]).toBeCloseTo(-ref.z[i], 4)
      expect(both[i]).toBeCloseTo(Math.abs(ref.z[i]), 4)
    }
  })

  it('combined is the mean of the intensity and residual z maps; a missing part is an error, not a zero', () => {
    const m = u8(ref.mask)
    const a = f32(ref.x)
    const b = f32(ref.y)
    const zi = anomalyScore('intensity', { intensity: a }, m, size, 'bright', 1)
    const zr = anomalyScore('diffusion', { residual: b }, m, size, 'bright', 1)
    const zc = anomalyScore('combined', { intensity: a, residual: b }, m, size, 'bright', 1)
    for (let i = 0; i < zc.length; i++) expect(zc[i]).toBeCloseTo((zi[i] + zr[i]) / 2, 5)
    for (let i = 0; i < zr.length; i++) expect(zr[i]).toBeCloseTo(ref.z[i], 4)
    expect(() => anomalyScore('combined', { intensity: a }, m, size, 'bright', 1)).toThrow(/residual/)
  })
})

describe('card anomaly block', () => {
  const base = JSON.parse(readFileSync(path.join(repoRoot, 'models/brain-flair.json'), 'utf8')) as ModelCard
  it('the shipped brain-flair card has a valid block with a threshold for its default method', () => {
    const s = anomalySettings(base)
    expect(s.thresholds[s.method]).toBeTypeOf('number')
    expect(s.calibration).toMatch(/train/)
    expect(base.metrics).not.toHaveProperty('anomaly_threshold') // one source of truth
  })
  it('defaults without a block; a wrong type or range names the field', () => {
    const { anomaly: _, ...bare } = base
    expect(anomalySettings(bare as ModelCard)).toMatchObject({ method: 'diffusion', polarity: 'both', healing: 'full', noise: 'gaussian', medianWidth: 1, thresholds: {} })
    const bad = (block: unknown): unknown => {
      try {
        anomalySettings({ ...base, anomaly: block } as ModelCard)
      } catch (e) {
        return e
      }
      return undefined
    }
    for (const [block, field] of [
      [{ method: 'magic' }, 'anomaly.method'],
      [{ depth: 1000 }, 'anomaly.depth'],
      [{ median_width: 4 }, 'anomaly.median_width'],
      [{ healing: 'thor' }, 'anomaly.healing'],
      [{ candidate_z: -1 }, 'anomaly.candidate_z'],
      [{ candidate_dilate_mm: '2' }, 'anomaly.candidate_dilate_mm'],
      [{ heal_floor_percentile: 100 }, 'anomaly.heal_floor_percentile'],
      [{ thresholds: { intensity: 'high' } }, 'anomaly.thresholds.intensity'],
      [{ thresholds: { other: 1 } }, 'anomaly.thresholds.other'],
      [[1, 2], 'anomaly.(block)'],
    ] as const) {
      const e = bad(block)
      expect(e).toBeInstanceOf(EngineError)
      expect((e as EngineError).code).toBe('MODEL_CONTRACT_MISMATCH')
      expect((e as Error).message).toContain(`"${field}"`)
    }
  })
})
