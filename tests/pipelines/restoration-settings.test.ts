import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { EngineError, type ModelCard } from '../../src/engine/index.js'
import { denoiseSettings, superresSettings } from '../../src/pipelines/restoration-settings.js'
import { repoRoot } from './helpers.js'

describe('card denoise block', () => {
  const base = JSON.parse(readFileSync(path.join(repoRoot, 'models/brain-t1.json'), 'utf8')) as ModelCard
  it('the shipped brain-t1 card carries a scale calibrated on training subjects', () => {
    const s = denoiseSettings(base)
    expect(s.sigmaScale).toBeGreaterThan(0)
    expect(s.sigmaScale).toBeLessThan(1)
    const train = (base.training_data as { train_subjects: string[] }).train_subjects
    const named = [...(s.calibration ?? '').matchAll(/IXI\d+-\w+-\d+/g)].map((m) => m[0])
    expect(named.length).toBeGreaterThan(0)
    for (const id of named) expect(train).toContain(id) // never the held-out subjects it is reported on
  })
  it('scale 1 without a block; a wrong type or range names the field', () => {
    const { denoise: _, ...bare } = base
    expect(denoiseSettings(bare as ModelCard)).toEqual({ sigmaScale: 1 })
    for (const [block, field] of [
      [{ sigma_scale: 0 }, 'denoise.sigma_scale'],
      [{ sigma_scale: '0.8' }, 'denoise.sigma_scale'],
      [{ sigma_scale: 3 }, 'denoise.sigma_scale'],
      [{ calibration: 5 }, 'denoise.calibration'],
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

describe('card superres block', () => {
  const base = JSON.parse(readFileSync(path.join(repoRoot, 'models/brain-t1.json'), 'utf8')) as ModelCard
  it('the shipped brain-t1 card reads its cubic start at a calibrated level; absent = the noised default', () => {
    expect(superresSettings(base).meanSigma).toBeGreaterThan(0)
    expect(superresSettings(base).calibration).toMatch(/training subject/)
    const { superres: _, ...bare } = base
    expect(superresSettings(bare as ModelCard)).toEqual({ meanSigma: null, meanSigmaThrough: null, conditioning: null, axes: null, planeThrough: null })
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
