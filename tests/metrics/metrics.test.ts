import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { auprc, auroc, bestDice, dice, mae, psnr, sliceStep, ssim, type Size3 } from '../../src/metrics/index.js'
import { repoRoot } from '../pipelines/helpers.js'

// Made by scripts/reference/metrics_refs.py: skimage for PSNR/SSIM, numpy (sklearn definitions) for the rest.
const refs = JSON.parse(readFileSync(path.join(repoRoot, 'tests/reference/metrics-refs.json'), 'utf8'))

describe('image metrics match scikit-image', () => {
  for (const c of refs.images) {
    it(`PSNR, SSIM, MAE on ${c.size.join('×')}`, () => {
      expect(psnr(c.ref, c.test, c.data_range)).toBeCloseTo(c.psnr, 9)
      expect(ssim(c.ref, c.test, c.size as Size3, c.data_range)).toBeCloseTo(c.ssim, 9)
      expect(mae(c.ref, c.test)).toBeCloseTo(c.mae, 9)
    })
  }
})

describe('detection metrics match the numpy references', () => {
  const d = refs.detection
  it('AUROC and AUPRC with tied scores', () => {
    expect(auroc(d.scores, d.labels)).toBeCloseTo(d.auroc, 12)
    expect(auprc(d.scores, d.labels)).toBeCloseTo(d.auprc, 12)
  })
  it('Dice at a threshold, and best Dice is at least that', () => {
    const pred = d.scores.map((s: number) => (s > 0.8 ? 1 : 0))
    expect(dice(pred, d.labels)).toBeCloseTo(d['dice_at_0.8'], 12)
    expect(bestDice(d.scores, d.labels).dice).toBeGreaterThanOrEqual(d['dice_at_0.8'])
  })
})

describe('slice-to-slice step matches numpy', () => {
  const r = refs.slice_step
  for (const axis of [0, 1, 2] as const) {
    it(`along voxel axis ${axis}, with and without a mask`, () => {
      expect(sliceStep(r.x, r.size as Size3, axis, r.mask)).toBeCloseTo(r.masked[axis], 5)
      expect(sliceStep(r.x, r.size as Size3, axis)).toBeCloseTo(r.all[axis], 5)
    })
  }
  it('no pair inside the mask gives NaN, not 0', () => {
    expect(sliceStep(r.x, r.size as Size3, 0, new Array(r.x.length).fill(0))).toBeNaN()
  })
})
