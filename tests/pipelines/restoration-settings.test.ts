import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { EngineError, type ModelCard } from '../../src/engine/index.js'
import { denoiseAt, denoiseSettings, ensembleViews, SINGLE_VIEW, superresSettings } from '../../src/pipelines/restoration-settings.js'
import { Rng, viewLabel } from '../../src/engine/index.js'
import { denoiseLevel } from '../../src/pipelines/denoise-level.js'
import { repoRoot } from './helpers.js'

describe('card denoise block', () => {
  const base = JSON.parse(readFileSync(path.join(repoRoot, 'models/brain-t1.json'), 'utf8')) as ModelCard
  it('the shipped brain-t1 card carries a scale and blend per noise level, calibrated on training subjects', () => {
    const s = denoiseSettings(base)
    expect(s.byNoise.length).toBeGreaterThanOrEqual(3)
    for (const p of s.byNoise) {
      expect(p.sigmaScale).toBeGreaterThan(0)
      expect(p.inputBlend).toBeLessThan(0.5) // mostly the model's estimate
    }
    const train = (base.training_data as { train_subjects: string[] }).train_subjects
    const named = [...(s.calibration ?? '').matchAll(/IXI\d+-\w+-\d+/g)].map((m) => m[0])
    expect(named.length).toBeGreaterThan(0)
    for (const id of named) expect(train).toContain(id) // never the held-out subjects it is reported on
  })
  it('scale 1 without a block; a wrong type or range names the field', () => {
    const { denoise: _, ...bare } = base
    expect(denoiseSettings(bare as ModelCard)).toEqual({ sigmaScale: 1, inputBlend: 0, byNoise: [], ensemble: SINGLE_VIEW })
    for (const [block, field] of [
      [{ sigma_scale: 0 }, 'denoise.sigma_scale'],
      [{ sigma_scale: '0.8' }, 'denoise.sigma_scale'],
      [{ sigma_scale: 3 }, 'denoise.sigma_scale'],
      [{ calibration: 5 }, 'denoise.calibration'],
      [{ input_blend: 1 }, 'denoise.input_blend'],
      [{ input_blend: -0.1 }, 'denoise.input_blend'],
      [{ by_noise: [] }, 'denoise.by_noise'],
      [{ by_noise: {} }, 'denoise.by_noise'],
      [{ by_noise: [{ sigma: 0.1, sigma_scale: 0.8, input_blend: 0 }, { sigma: 0.05, sigma_scale: 0.8, input_blend: 0 }] }, 'denoise.by_noise'],
      [{ by_noise: [{ sigma: 0.1, sigma_scale: 0 }] }, 'denoise.by_noise[0]'],
      [{ by_noise: [{ sigma: 0.1, sigma_scale: 0.8, blend: 0.1 }] }, 'denoise.by_noise[0]'],
      ['x', 'denoise.(block)'],
    ] as const) {
      let err: unknown
      try {
        denoiseSettings({ ...base, denoise: block } as ModelCard)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(EngineError)
      expect((err as EngineError).code).toBe('MODEL_CONTRACT_MISMATCH')
      expect((err as Error).message).toContain(field)
    }
  })
})

describe('card denoise.by_noise (scale and blend per noise level)', () => {
  const settings = (byNoise: unknown, extra = {}) => denoiseSettings({ name: 'm', denoise: { sigma_scale: 0.9, input_blend: 0.02, by_noise: byNoise, ...extra } })
  const pts = [
    { sigma: 0.04, sigma_scale: 0.95, input_blend: 0 },
    { sigma: 0.06, sigma_scale: 0.85, input_blend: 0.1 },
    { sigma: 0.12, sigma_scale: 0.75, input_blend: 0.05 },
  ]
  it('linear in the volume\'s σ̂ between the measured levels, held at the ends', () => {
    const s = settings(pts)
    expect(denoiseAt(s, 0.06)).toEqual({ sigmaScale: 0.85, inputBlend: 0.1 })
    const mid = denoiseAt(s, 0.09) // halfway between 0.06 and 0.12
    expect(mid.sigmaScale).toBeCloseTo(0.8, 12)
    expect(mid.inputBlend).toBeCloseTo(0.075, 12)
    expect(denoiseAt(s, 0.05).sigmaScale).toBeCloseTo(0.9, 12)
    expect(denoiseAt(s, 0.01)).toEqual({ sigmaScale: 0.95, inputBlend: 0 })
    expect(denoiseAt(s, 0.5)).toEqual({ sigmaScale: 0.75, inputBlend: 0.05 })
  })
  it('absent: the block\'s own scale and blend at every level; a missing blend in a point is 0', () => {
    const s = denoiseSettings({ name: 'm', denoise: { sigma_scale: 0.9, input_blend: 0.02 } })
    expect(denoiseAt(s, 0.01)).toEqual({ sigmaScale: 0.9, inputBlend: 0.02 })
    expect(denoiseAt(s, 0.3)).toEqual({ sigmaScale: 0.9, inputBlend: 0.02 })
    expect(denoiseAt(settings([{ sigma: 0.1, sigma_scale: 0.8 }]), 0.2)).toEqual({ sigmaScale: 0.8, inputBlend: 0 })
  })
})

describe('card superres block', () => {
  const base = JSON.parse(readFileSync(path.join(repoRoot, 'models/brain-t1.json'), 'utf8')) as ModelCard
  it('the shipped brain-t1 card reads its cubic start at a calibrated level; absent = the noised default', () => {
    expect(superresSettings(base).meanSigma).toBeGreaterThan(0)
    expect(superresSettings(base).calibration).toMatch(/training subject/)
    const { superres: _, ...bare } = base
    expect(superresSettings(bare as ModelCard)).toEqual({ meanSigma: null, meanSigmaThrough: null, conditioning: null, axes: null, planeThrough: null, ensemble: SINGLE_VIEW })
  })
  it('plane_through is another plane holding the card plane\'s slice axis, or absent', () => {
    expect(base.plane).toBe('sagittal')
    expect(superresSettings(base).planeThrough).toBeNull()
    for (const p of ['coronal', 'axial']) expect(superresSettings({ ...base, superres: { plane_through: p } } as ModelCard).planeThrough).toBe(p)
    for (const v of ['sagittal', 'oblique', 2]) {
      expect(() => superresSettings({ ...base, superres: { plane_through: v } } as ModelCard)).toThrow(/superres\.plane_through/)
    }
  })
  it('conditioning is "consistent-cubic" or absent; anything else names the field', () => {
    expect(superresSettings({ ...base, superres: { conditioning: 'consistent-cubic' } } as ModelCard).conditioning).toBe('consistent-cubic')
    for (const v of ['cubic', 1, true]) {
      expect(() => superresSettings({ ...base, superres: { conditioning: v } } as ModelCard)).toThrow(/superres\.conditioning/)
    }
    expect(superresSettings({ ...base, superres: { axes: ['inplane'] } } as ModelCard).axes).toEqual(['inplane'])
    for (const v of ['inplane', ['sideways'], 3]) {
      expect(() => superresSettings({ ...base, superres: { axes: v } } as ModelCard)).toThrow(/superres\.axes/)
    }
  })
  it('a level outside (0, 1] names the field', () => {
    for (const v of [0, -0.1, 2, 'high']) {
      expect(() => superresSettings({ ...base, superres: { mean_sigma: v } } as ModelCard)).toThrow(/superres\.mean_sigma/)
      expect(() => superresSettings({ ...base, superres: { mean_sigma_through: v } } as ModelCard)).toThrow(/superres\.mean_sigma_through/)
    }
  })
})

describe('card ensemble (the one-call estimate averaged over views)', () => {
  const card = (name: string): ModelCard => JSON.parse(readFileSync(path.join(repoRoot, 'models', `${name}.json`), 'utf8')) as ModelCard
  it('the shipped cards name the views their models were trained to treat alike', () => {
    // brain-t1: the three planes of an isotropic volume; head-ct: left-right mirrors (its training flipped columns only), in three planes when isotropic; brain-t1-sr: top-bottom mirrors (both flips would break its time budget)
    // (brain-t1's own plane keeps a larger share of the average since 0.3.2: card denoise.ensemble.own_plane_weight, 0.6 since 0.3.3)
    expect(ensembleViews(denoiseSettings(card('brain-t1')).ensemble, 'sagittal', [2, 2, 2]).map(viewLabel)).toEqual(['sagittal x0.6', 'axial x0.2', 'coronal x0.2'])
    expect(ensembleViews(denoiseSettings(card('head-ct')).ensemble, 'axial', [3, 3, 3]).map(viewLabel)).toEqual(['axial', 'axial+cols', 'coronal', 'coronal+cols', 'sagittal', 'sagittal+cols'])
    expect(ensembleViews(denoiseSettings(card('head-ct')).ensemble, 'axial', [0.96, 0.96, 1.5]).map(viewLabel)).toEqual(['axial', 'axial+cols'])
    expect(ensembleViews(superresSettings(card('brain-t1-sr')).ensemble, 'coronal', [1, 1, 2]).map(viewLabel)).toEqual(['coronal', 'coronal+rows'])
  })
  it('planes only on near-isotropic volumes; off is one view', () => {
    const e = denoiseSettings(card('brain-t1')).ensemble
    expect(e.maxAnisotropy).toBe(1.5)
    expect(ensembleViews(e, 'sagittal', [0.94, 0.94, 1.2]).length).toBe(3)
    expect(ensembleViews(e, 'sagittal', [0.47, 0.47, 5]).map(viewLabel)).toEqual(['sagittal']) // a thick-slice series
    expect(ensembleViews(e, 'axial', [2, 2, 2]).map((v) => v.plane)).toEqual(['axial', 'coronal', 'sagittal'])
    expect(ensembleViews(e, 'sagittal', [2, 2, 2], 'off').map(viewLabel)).toEqual(['sagittal'])
    expect(ensembleViews(SINGLE_VIEW, 'sagittal', [2, 2, 2]).map(viewLabel)).toEqual(['sagittal'])
  })
  it('own_plane_weight: the own plane keeps that share split over its flips, the other planes share the rest; one plane stays unweighted', () => {
    const e = { flips: ['rows' as const], planes: 'all' as const, maxAnisotropy: 1.5, ownPlaneWeight: 0.6 }
    const v = ensembleViews(e, 'sagittal', [2, 2, 2])
    expect(v.map((x) => [x.plane, x.weight])).toEqual([['sagittal', 0.3], ['sagittal', 0.3], ['axial', 0.1], ['axial', 0.1], ['coronal', 0.1], ['coronal', 0.1]])
    expect(v.reduce((a, x) => a + (x.weight ?? 0), 0)).toBeCloseTo(1, 12)
    expect(ensembleViews(e, 'sagittal', [0.47, 0.47, 5]).every((x) => x.weight === undefined)).toBe(true)
    expect(denoiseSettings({ ...card('brain-t1'), denoise: { ensemble: { planes: 'all', own_plane_weight: 0.5 } } } as ModelCard).ensemble.ownPlaneWeight).toBe(0.5)
  })
  it('a malformed ensemble names its field', () => {
    const base = card('brain-t1')
    for (const [ens, field] of [
      ['all', 'denoise.ensemble'],
      [{ flips: ['up'] }, 'denoise.ensemble.flips'],
      [{ flips: ['rows', 'rows'] }, 'denoise.ensemble.flips'],
      [{ planes: 'both' }, 'denoise.ensemble.planes'],
      [{ max_anisotropy: 0.5 }, 'denoise.ensemble.max_anisotropy'],
      [{ views: 3 }, 'denoise.ensemble.views'],
      [{ note: 3 }, 'denoise.ensemble.note'],
      [{ own_plane_weight: 1 }, 'denoise.ensemble.own_plane_weight'],
      [{ own_plane_weight: '0.5' }, 'denoise.ensemble.own_plane_weight'],
    ] as const) {
      expect(() => denoiseSettings({ ...base, denoise: { sigma_scale: 0.75, ensemble: ens } } as ModelCard), field).toThrow(EngineError)
      expect(() => denoiseSettings({ ...base, denoise: { sigma_scale: 0.75, ensemble: ens } } as ModelCard)).toThrow(field)
    }
    expect(() => superresSettings({ ...base, superres: { ensemble: { flips: 'rows' } } } as ModelCard)).toThrow('superres.ensemble.flips')
  })
})

describe('denoiseLevel takes the scale and blend at the volume\'s own σ̂', () => {
  const base = JSON.parse(readFileSync(path.join(repoRoot, 'models/brain-t1.json'), 'utf8')) as ModelCard
  // a smooth ramp plus white noise: the estimate lands near the noise added, far from either end point below
  const size: [number, number, number] = [32, 32, 16]
  const rng = new Rng(5)
  const real = Float32Array.from({ length: 32 * 32 * 16 }, (_, i) => 100 + (i % 32) * 3 + 8 * rng.normal())
  const card = { ...base, denoise: { ensemble: null, by_noise: [{ sigma: 0.001, sigma_scale: 1, input_blend: 0 }, { sigma: 1, sigma_scale: 0.5, input_blend: 0.5 }] } } as ModelCard
  it('mean mode: interpolated at sNorm; sample mode keeps no input (a sample has its texture)', () => {
    const lv = denoiseLevel(card, real, size, 'OT', 'mean')
    const f = (lv.sNorm - 0.001) / (1 - 0.001)
    expect(lv.sNorm).toBeGreaterThan(0.01)
    expect(lv.sigmaScale).toBeCloseTo(1 - 0.5 * f, 12)
    expect(lv.blend).toBeCloseTo(0.5 * f, 12)
    const sample = denoiseLevel(card, real, size, 'OT', 'sample')
    expect(sample.sigmaScale).toBeCloseTo(lv.sigmaScale, 12)
    expect(sample.blend).toBe(0)
  })
})
