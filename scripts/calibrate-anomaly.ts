/**
 * Calibrates a model card's anomaly mask thresholds (card `anomaly.thresholds`) on TRAINING cases
 * only: for each method, the threshold (grid 0.5…8 in steps of 0.05, score units) that maximises the
 * mean per-case Dice of heatmap > threshold with the expert tumour label.
 * Validation cases are never read. Heatmaps come from scoreAnomaly, the code a job runs.
 *
 *   npx tsx scripts/calibrate-anomaly.ts --data ../shared/data [--model brain-flair] [--methods intensity,combined,diffusion] [--set-default] [--max-cases N]
 *
 * diffusion / combined heal each case once (the card's depth, steps, K; minutes per full volume on
 * 2 cores). --set-default also writes the method with the best mean Dice as the card's default.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { anomalySettings, ANOMALY_METHODS, type AnomalyMethod } from '../src/pipelines/anomaly-settings.js'
import { scoreAnomaly } from '../src/pipelines/anomaly.js'
import { normaliseVolume } from '../src/pipelines/common.js'
import { runTask } from '../src/pipelines/index.js'
import { createVolume } from '../src/volume/index.js'
import { lesionCases, loadCase, MAYBE_BRATS2013 } from './anomaly-cases.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const arg = (k: string, d?: string): string => {
  const i = process.argv.indexOf(k)
  if (i < 0) {
    if (d === undefined) throw new Error(`${k} is required`)
    return d
  }
  return process.argv[i + 1]
}
const data = path.resolve(arg('--data'))
const model = arg('--model', 'brain-flair')
const methods = arg('--methods', 'intensity').split(',') as AnomalyMethod[]
if (methods.some((m) => !ANOMALY_METHODS.includes(m))) throw new Error(`--methods: choose from ${ANOMALY_METHODS.join(', ')}`)
const setDefault = process.argv.includes('--set-default')
const cardPath = path.join(root, 'models', `${model}.json`)
const card = JSON.parse(readFileSync(cardPath, 'utf8'))
const settings = anomalySettings(card)
// --max-cases N: the first N eligible training cases (both BraTS 2013 ones first), for a machine
// that cannot afford minutes per case on all of them; the card's note names the cases used
const cases = lesionCases(data).filter((c) => c.split === 'train' && !MAYBE_BRATS2013.test(c.id)).slice(0, Number(arg('--max-cases', '1000')))
if (cases.length === 0) throw new Error('no training cases under --data lesion/')
const STEP = 0.05
const GRID = Array.from({ length: 151 }, (_, i) => 0.5 + STEP * i)

/**
 * Per method and case: Dice of heatmap > t at every grid threshold. Components are not dropped in
 * this search (that would label the volume once per grid point, minutes per case on 2 cores); the
 * small components the job drops are a few voxels next to lesions of thousands.
 */
const diceAt = new Map<AnomalyMethod, number[][]>(methods.map((m) => [m, []]))
for (const c of cases) {
  const t0 = performance.now()
  const L = await loadCase(c)
  const size = L.flair.size
  let healed: Float32Array | undefined
  if (methods.some((m) => m !== 'intensity')) {
    const r = await runTask('anomaly', L.flair, { model, method: 'diffusion', seed: 0, mask: createVolume({ data: L.brain, size }) }, {})
    healed = r.outputs.find((o) => o.role === 'healed')!.volume.data as Float32Array
  }
  let P = 0
  for (let i = 0; i < L.truth.length; i++) P += L.truth[i]
  for (const m of methods) {
    const s = scoreAnomaly({ method: m, polarity: settings.polarity, settings, real: L.real, normalised: healed ? normaliseVolume(L.real, card.normalisation) : undefined, healed, brain: L.brain, size, spacing: L.flair.spacing })
    // Dice(t) = 2 TP / (P + TP + FP) from histograms of the tumour / other voxels' scores over the grid
    const tp = new Float64Array(GRID.length)
    const fp = new Float64Array(GRID.length)
    for (let i = 0; i < s.heatmap.length; i++) {
      const b = Math.min(GRID.length, Math.ceil((s.heatmap[i] - GRID[0]) / STEP - 1e-9)) // first grid index with t >= h
      if (b <= 0) continue
      if (L.truth[i]) tp[b - 1]++
      else fp[b - 1]++
    }
    for (let g = GRID.length - 2; g >= 0; g--) {
      tp[g] += tp[g + 1]
      fp[g] += fp[g + 1]
    }
    diceAt.get(m)!.push(GRID.map((_, g) => (2 * tp[g]) / (P + tp[g] + fp[g])))
  }
  process.stderr.write(`${c.id}: ${((performance.now() - t0) / 1000).toFixed(0)} s\n`)
}
const result: Record<string, { threshold: number; meanDice: number; perCase: number[] }> = {}
for (const m of methods) {
  const rows = diceAt.get(m)!
  const mean = GRID.map((_, g) => rows.reduce((s, r) => s + r[g], 0) / rows.length)
  const g = mean.indexOf(Math.max(...mean))
  result[m] = { threshold: Number(GRID[g].toFixed(2)), meanDice: Number(mean[g].toFixed(4)), perCase: rows.map((r) => Number(r[g].toFixed(3))) }
}
const best = methods.reduce((a, b) => (result[b].meanDice > result[a].meanDice ? b : a))
card.anomaly = { ...card.anomaly, thresholds: { ...card.anomaly?.thresholds } }
for (const m of methods) card.anomaly.thresholds[m] = result[m].threshold
if (setDefault) card.anomaly.method = best
const ids = cases.map((c) => c.id).join(', ')
const seen = cases.filter((c) => ((card.training_data?.train_subjects ?? []) as string[]).includes(c.id)).length
const seenNote = seen && methods.some((m) => m !== 'intensity') ? ` ${seen} of these ${cases.length} cases are patients the prior was trained on (lesions masked out of its loss): healing residuals there may run lower than on new patients.` : ''
card.anomaly.calibration = `Thresholds: the value (grid 0.5-8, step 0.05) maximising the mean per-case Dice of heatmap > threshold with the expert tumour label on ${cases.length} TRAINING cases (${ids}; BraTS 2018's re-released 2013 patients left out: they may be the 2013 validation patients). ${methods.map((m) => `${m}: ${result[m].threshold} (mean Dice ${result[m].meanDice.toFixed(3)})`).join('; ')}. ${setDefault ? `Default method ${best}: the best mean Dice among those calibrated on these cases.` : ''}${seenNote} Validation cases never used. scripts/calibrate-anomaly.ts`.trim()
writeFileSync(cardPath, JSON.stringify(card, null, 2) + '\n')
console.log(JSON.stringify({ model, cases: cases.map((c) => c.id), result, best }))
