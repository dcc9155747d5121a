/**
 * Calibrates a model card's restoration settings on TRAINING subjects only (validation subjects are
 * never read): for MRI `denoise.by_noise` (per noise level, the multiple of the estimated noise σ the
 * model is told and the share of the input the one-call estimate keeps) and `superres.mean_sigma`
 * (the noise level at which its one call reads the consistent cubic start); for CT `denoise.sigma_scale`.
 * It runs the pipelines' own pieces (canonical grid, noise estimate, normalisation, one-call x̂₀,
 * finishing, projection) and prints PSNR in the brain mask for each candidate; --write stores the picks in the card.
 *
 *   npx tsx scripts/calibrate-restoration.ts --data ../shared/data [--model brain-t1] [--models-dir models] [--subjects 2]
 *     [--levels 0.03,0.05,0.1] [--scales 0.55,0.65,0.75,0.85,1] [--blends 0,0.05,0.1,0.15,0.2] [--texture 0.92]
 *     [--factors 2,4] [--sigmas 0.1,0.15,0.2,0.3] [--tie 0.01] [--write]
 *     [--plane-weights 0.4,0.5,0.6]   (the own plane's share of the ensemble average; printed, not written)
 *
 * Each estimate is averaged over the views the card's ensemble names (the pipelines' default; --ensemble off: one view).
 *
 * Denoise, per level: each (scale, blend) gets its PSNR and its slice-to-slice ratio (the mean |x[s+1] − x[s]|
 * across the card plane's slices in the brain over the clean volume's), averaged over subjects; the best
 * PSNR among the settings whose ratio is within [texture, 2 − texture] wins (calibration-pick.ts). The default
 * band 0.92 leaves room for held-out scans, whose ratio ran about 0.01 below the training subjects' (brain-t1
 * 0.3.3 at 5 / 10 %), inside the striping target's 0.90. The level's σ̂ in normalised units, averaged over
 * the subjects, is where the pipeline finds the pick (DenoiseSettings.byNoise).
 * Superres: the best σ over subjects and factors. Minutes per subject on 2 cores.
 *
 * A CT model (card modality CT, e.g. --model head-ct --levels 25,50 --scales 0.5,0.7,1): its training
 * CTs (ct/NAME.nii.gz) with additive Gaussian noise of those HU, PSNR (range 400 HU) inside the body
 * (> −500 HU), each scale run through the denoise task itself (a card copy per scale); no superres;
 * the smallest scale within --tie dB of the best.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { oneStepX0, prepareModel, Rng, schedulerFor, viewWeights } from '../src/engine/index.js'
import { loadVolumes } from '../src/io/load.js'
import { psnr, sliceStep } from '../src/metrics/index.js'
import { denormalise, normaliseVolume } from '../src/pipelines/common.js'
import { finishDenoised } from '../src/pipelines/denoise-level.js'
import { estimateNoise } from '../src/pipelines/noise-estimate.js'
import { superresAxes } from '../src/pipelines/superres.js'
import { denoiseSettings, ensembleViews, superresSettings } from '../src/pipelines/restoration-settings.js'
import { toCanonical } from '../src/engine/canonical.js'
import { sliceAxis } from '../src/engine/slicing.js'
import { averagePool, cubicUpsample, percentileOf, projectOntoMeasurement } from '../src/pipelines/volume-ops.js'
import { createVolume, toFloat32, type Vec3 } from '../src/volume/index.js'
import { rician } from './synthetic-noise.js'
import { best, bestWithTexture, checkBand, checkTie, leastSmoothing, mean, means, push, type TextureCandidate } from './calibration-pick.js'
import { runTask } from '../src/pipelines/index.js'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import os from 'node:os'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const arg = (k: string, d: string): string => {
  const i = process.argv.indexOf(k)
  return i < 0 ? d : process.argv[i + 1]
}
const nums = (k: string, d: string): number[] => arg(k, d).split(',').map(Number)
const data = path.resolve(arg('--data', path.join(root, '../shared/data')))
const model = arg('--model', 'brain-t1')
const cardPath = path.join(path.resolve(arg('--models-dir', path.join(root, 'models'))), `${model}.json`)
const pm = await prepareModel(cardPath, 'cpu')
const sch = schedulerFor(pm.card)
const train = ((pm.card.training_data as { train_subjects?: string[] } | undefined)?.train_subjects ?? []).slice(0, Number(arg('--subjects', '2')))
if (train.length === 0) throw new Error(`the card of ${model} names no training subjects`)
const tie = checkTie(Number(arg('--tie', '0.01')))  // before minutes of work, not after
const ensemble = arg('--ensemble', 'auto') === 'off' ? 'off' : 'auto'
if (pm.card.modality.toUpperCase() === 'CT') {
  await calibrateCt()
  process.exit(0)
}
const levels = nums('--levels', '0.03,0.05,0.1')
const scales = nums('--scales', '0.55,0.65,0.75,0.85,1')
const blends = nums('--blends', '0,0.05,0.1,0.15,0.2')
const band = checkBand(Number(arg('--texture', '0.92')))
// 0.07 * 100 is 7.000000000000001
const pct = (l: number): string => `${Number((l * 100).toFixed(2))}%`
const factors = nums('--factors', '2,4')
const sigmas = nums('--sigmas', '0.1,0.15,0.2,0.3')

// per level, one row per (scale, blend): PSNRs and slice-to-slice ratios over subjects
type DenoiseRow = { scale: number; blend: number; psnr: number[]; ratio: number[] }
const denoiseRows = new Map<number, DenoiseRow[]>(levels.map((l) => [l, scales.flatMap((scale) => blends.map((blend) => ({ scale, blend, psnr: [], ratio: [] })))]))
// per level: σ̂ in normalised units, over subjects
const sNorms = new Map<number, number[]>(levels.map((l) => [l, []]))
// --plane-weights: the share of the ensemble average the card's own plane keeps (card denoise.ensemble.own_plane_weight)
const planeWeights = process.argv.includes('--plane-weights') ? nums('--plane-weights', '') : []
// per `${level}|${scale}`, PSNRs per weight (blend 0): each weight is judged at the level's picked scale
const weightRows = new Map<string, Map<number, number[]>>()
const srRows = new Map<number, number[]>()
const ratios: number[] = []
// views per estimate, for the calibration note (the same for every 2 mm IXI subject)
const viewsUsed = { denoise: 1, superres: 1 }
// the pipeline's grid is canonical LPS, so the card plane's slice axis is the same voxel axis in every subject
const across = sliceAxis(pm.card.plane)

for (const [si, subj] of train.entries()) {
  // the tasks run on the canonical LPS grid, where the card's plane is anatomical (pipelines/index.ts)
  const [{ volume: raw }] = await loadVolumes([path.join(data, 'mri/ixi-t1', `${subj}_T1.nii.gz`)])
  const volume = toCanonical(raw).volume
  const clean = toFloat32(volume)
  const size = [...volume.size] as Vec3
  const [{ volume: lv }] = await loadVolumes([path.join(data, 'mri/ixi-t1-labels', `${subj}_T1_DLMUSE.nii.gz`)])
  const mask = Uint8Array.from(toFloat32(toCanonical(lv).volume), (v) => (v > 0 ? 1 : 0))
  const P = percentileOf(clean, 99.5, mask)
  const cleanStep = sliceStep(clean, size, across, mask)
  const dSettings = denoiseSettings(pm.card)
  const dvm = { ...pm, views: ensembleViews(dSettings.ensemble, pm.card.plane, volume.spacing, ensemble) }
  const svm = { ...pm, views: ensembleViews(superresSettings(pm.card).ensemble, pm.card.plane, volume.spacing, ensemble) }
  viewsUsed.denoise = dvm.views.length
  viewsUsed.superres = svm.views.length
  // denoise: Rician noise as in scripts/eval.ts, the model told scale × the estimated σ
  for (const level of levels) {
    const sigma = level * P
    const noisy = rician(clean, sigma, 7000 + 1000 * si + Math.round(level * 100))
    const est = estimateNoise(noisy, size, 'MR')
    ratios.push(est.sigma / sigma)
    const y = normaliseVolume(noisy, pm.card.normalisation)
    const half = (y.range.high - y.range.low) / 2
    sNorms.get(level)!.push(est.sigma / half)
    const finish = { range: y.range, est, rician: est.method === 'rayleigh-background' }
    const line: string[] = []
    for (const s of scales) {
      // relative to the estimate, as the pipeline applies it; one call per view, so the blends and plane
      // weights below reuse them (x̂₀ is affine in the output: the weighted mean of the views' estimates)
      const t = sch.timestepForNoise((s * est.sigma) / half)
      const perView: Float32Array[] = []
      for (const v of dvm.views) perView.push(Float32Array.from(await oneStepX0({ ...pm, views: [v] }, size, y.data, t)))
      const mix = (weights: number[]): Float32Array => {
        const x0 = new Float32Array(clean.length)
        perView.forEach((o, vi) => {
          for (let i = 0; i < x0.length; i++) x0[i] += weights[vi] * o[i]
        })
        return x0
      }
      const x0 = mix(viewWeights(dvm.views))
      for (const row of denoiseRows.get(level)!.filter((r) => r.scale === s)) {
        // the pipeline's own finishing (consistency bound, blend, Rician correction)
        const out = finishDenoised(x0, { ...finish, blend: row.blend }, noisy)
        row.psnr.push(psnr(clean, out, P, mask))
        row.ratio.push(sliceStep(out, size, across, mask) / cleanStep)
        line.push(`${s}|${row.blend}: ${row.psnr.at(-1)!.toFixed(3)} (${row.ratio.at(-1)!.toFixed(3)})`)
      }
      for (const w of planeWeights) {
        // the pipeline's own weighting rule (ensembleViews) at this weight: same views, same order
        const weighted = ensembleViews({ ...dSettings.ensemble, ownPlaneWeight: w }, pm.card.plane, volume.spacing, ensemble)
        if (weighted.every((v) => v.weight === undefined)) break // one plane only: nothing to weigh
        const pw = psnr(clean, finishDenoised(mix(viewWeights(weighted)), finish, noisy), P, mask)
        const key = `${level}|${s}`
        if (!weightRows.has(key)) weightRows.set(key, new Map())
        push(weightRows.get(key)!, w, pw)
        line.push(`${s}|own plane ${w}: ${pw.toFixed(3)}`)
      }
    }
    console.log(`denoise ${subj} ${pct(level)} (σ̂/σ ${(est.sigma / sigma).toFixed(3)}) scale|blend: PSNR (slice-step ratio) ${line.join(' · ')}`)
  }
  // superres: in-plane average pooling, the pipeline's consistent cubic start, one call per σ
  for (const f of factors) {
    const axes = superresAxes(pm.card.plane, 'inplane')
    const low = averagePool(clean, size, f, axes)
    const y = normaliseVolume(low.data, pm.card.normalisation)
    const project = (x: Float32Array | Float64Array, target: Float32Array): void => projectOntoMeasurement(x, size, target, f, axes)
    const up = cubicUpsample(y.data, low.size, f, axes).data
    project(up, y.data)
    const line: string[] = []
    for (const s of sigmas) {
      const real = denormalise(await oneStepX0(svm, size, up, sch.timestepForNoise(s), (x) => project(x, y.data)), y.range)
      project(real, low.data)
      const p = psnr(clean, real, P, mask)
      push(srRows, s, p)
      line.push(`${s}: ${p.toFixed(3)}`)
    }
    console.log(`superres ${subj} ×${f} ${line.join(' · ')}`)
  }
}
const picks = levels.map((level) => {
  const cands: TextureCandidate[] = denoiseRows.get(level)!.map((r) => ({ scale: r.scale, blend: r.blend, psnr: mean(r.psnr), ratio: mean(r.ratio) }))
  const pick = bestWithTexture(cands, band, tie)
  const plain = cands.filter((c) => c.blend === 0).sort((a, b) => b.psnr - a.psnr)[0]
  console.log(`${pct(level)}: sigma_scale ${pick.scale}, input_blend ${pick.blend}: ${pick.psnr.toFixed(3)} dB, slice-step ratio ${pick.ratio.toFixed(3)}${pick.inBand ? '' : ` (no candidate within [${band}, ${2 - band}])`}; best PSNR without a blend: scale ${plain.scale}, ${plain.psnr.toFixed(3)} dB, ratio ${plain.ratio.toFixed(3)}`)
  const atScale = weightRows.get(`${level}|${pick.scale}`)
  if (atScale) {
    const [w, wPsnr] = best(atScale)
    console.log(`  best denoise.ensemble.own_plane_weight there (no blend): ${w} (mean ${wPsnr.toFixed(3)} dB; ${means(atScale).map(([k, p]) => `${k}: ${p.toFixed(3)}`).join(' · ')})`)
  }
  return { level, sigma: Number(mean(sNorms.get(level)!).toFixed(4)), ...pick }
})
const [sigma, sPsnr] = best(srRows)
const ratio = mean(ratios)
console.log(`best superres.mean_sigma ${sigma} (mean ${sPsnr.toFixed(3)} dB); σ̂/σ ${ratio.toFixed(3)}`)
if (process.argv.includes('--write')) {
  const card = JSON.parse(readFileSync(cardPath, 'utf8'))
  const who = `${pm.card.name} ${pm.card.version} on training subjects ${train.join(', ')}`
  // the blocks' other keys (ensemble, conditioning, plane_through…) are kept; by_noise replaces one scale for all levels
  const viewsNote = (n: number): string => (n > 1 ? `, averaged over the card's ${n} ensemble views` : '')
  const { sigma_scale: _s, input_blend: _b, ...rest } = card.denoise ?? {}
  card.denoise = {
    ...rest,
    by_noise: picks.map((p) => ({ sigma: p.sigma, sigma_scale: p.scale, input_blend: p.blend })),
    calibration: `by_noise: per Rician level ${levels.map(pct).join('/')} (sigma: the mean estimated σ in normalised units), the best mean PSNR in the brain mask over sigma_scale ${scales.join('/')} x the estimated σ and input_blend ${blends.join('/')}, among the settings whose mean slice-to-slice difference across the ${pm.card.plane} slices is within [${band}, ${2 - band}] of the clean volume's (${picks.map((p) => `${pct(p.level)}: ${p.psnr.toFixed(3)} dB, ratio ${p.ratio.toFixed(3)}`).join('; ')})${viewsNote(viewsUsed.denoise)}, measured with ${who} (estimate/true σ ${ratio.toFixed(3)}); scripts/calibrate-restoration.ts`,
  }
  card.superres = { ...card.superres, mean_sigma: sigma, calibration: `mean_sigma ${sigma}: best mean PSNR in the brain mask over sigma ${sigmas.join('/')}, in-plane x${factors.join('/x')}${viewsNote(viewsUsed.superres)}, measured with ${who}; scripts/calibrate-restoration.ts` }
  writeFileSync(cardPath, JSON.stringify(card, null, 2) + '\n')
  console.log(`wrote ${path.relative(root, cardPath)}`)
}

async function calibrateCt(): Promise<void> {
  const levels = nums('--levels', '25,50')
  const scales = nums('--scales', '0.5,0.7,1')
  const rows = new Map<number, number[]>()
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'raddiff-calib-'))
  try {
    for (const [si, subj] of train.entries()) {
      const [{ volume }] = await loadVolumes([path.join(data, 'ct', `${subj}.nii.gz`)])
      const clean = toFloat32(volume)
      const body = Uint8Array.from(clean, (v) => (v > -500 ? 1 : 0))
      for (const sigma of levels) {
        const rng = new Rng(9000 + si, sigma)
        const noisy = Float32Array.from(clean, (v) => v + sigma * rng.normal())
        const input = createVolume({ data: noisy, size: volume.size, spacing: volume.spacing, origin: volume.origin, direction: volume.direction, modality: 'CT', meta: volume.meta.clone({ rescaleSlope: 1, rescaleIntercept: 0 }) })
        const line: string[] = []
        for (const sc of scales) {
          // the task itself, with a copy of the card that differs only in its scale
          const dir = path.join(tmp, `s${sc}`)
          rmSync(dir, { recursive: true, force: true })
          mkdirSync(dir)
          const card = JSON.parse(readFileSync(cardPath, 'utf8'))
          card.denoise = { ...card.denoise, sigma_scale: sc }
          writeFileSync(path.join(dir, `${model}.json`), JSON.stringify(card))
          symlinkSync(path.resolve(path.dirname(cardPath), card.file), path.join(dir, card.file))
          const r = await runTask('denoise', input, { model, seed: 0, mode: 'mean', device: 'cpu', ensemble }, { modelsDir: dir })
          const p = psnr(clean, toFloat32(r.outputs[0].volume), 400, body)
          push(rows, sc, p)
          line.push(`${sc}: ${p.toFixed(3)}`)
        }
        console.log(`denoise ${subj} ${sigma} HU ${line.join(' · ')}`)
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  const [scale, p] = leastSmoothing(rows, tie)
  console.log(`best denoise.sigma_scale ${scale} (mean ${p.toFixed(3)} dB)`)
  if (process.argv.includes('--write')) {
    const card = JSON.parse(readFileSync(cardPath, 'utf8'))
    card.denoise = { ...card.denoise, sigma_scale: scale, calibration: `sigma_scale ${scale}: best mean PSNR (range 400 HU, inside the body; the smallest scale within ${tie} dB of the best) over ${scales.join('/')} x the estimated σ, additive Gaussian ${levels.join('/')} HU, the denoise task in mean mode${ensemble === 'off' ? ' (one view)' : ''}, measured with ${pm.card.name} ${pm.card.version} on training CT ${train.join(', ')}; scripts/calibrate-restoration.ts` }
    writeFileSync(cardPath, JSON.stringify(card, null, 2) + '\n')
    console.log(`wrote ${path.relative(root, cardPath)}`)
  }
}
