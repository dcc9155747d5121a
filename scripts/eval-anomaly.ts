/**
 * The anomaly section of the evaluation (issue 14): full volumes of every validation case
 * (BraTS 2013 0003 / 0004 and the BraTS 2018 val cases), each method next to the intensity z-score
 * baseline, one panel per case. Nothing here is tuned: thresholds and defaults come from the card,
 * calibrated on training cases (scripts/calibrate-anomaly.ts).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { PNG } from 'pngjs'
import { normaliseValue } from '../src/engine/index.js'
import { auprc, auroc, bestDice, dice } from '../src/metrics/index.js'
import { anomalySettings, type AnomalyMethod, type AnomalySettings } from '../src/pipelines/anomaly-settings.js'
import { maskOf, scoreAnomaly } from '../src/pipelines/anomaly.js'
import { normaliseVolume } from '../src/pipelines/common.js'
import { runTask, selectModel } from '../src/pipelines/index.js'
import { labelComponents } from '../src/pipelines/mask-ops.js'
import { percentileOf } from '../src/pipelines/volume-ops.js'
import { createVolume, type Vec3 } from '../src/volume/index.js'
import { lesionCases, loadCase } from './anomaly-cases.js'

export interface AnomalyEvalArgs {
  data: string
  modelsDir: string
  out: string
  quick: boolean
  /** Methods to run besides the baseline; diffusion and combined share one healing per case. */
  methods: AnomalyMethod[]
  /** Only these validation cases (a subset: the section says which cases were left out). */
  only?: string[]
}

export interface Timing {
  task: string
  size: Vec3
  steps: number
  seconds: number
}

/** The issue's baseline: robust z of the FLAIR inside the brain, mask at z > 2.5, no post-processing. */
const BASELINE_Z = 2.5
/** brain-flair 0.1.0 (full healing) on the six validation cases, measured with this script before 0.2.0 replaced it. */
const REF_01 = { healthy: 0.2225, bestDice: 0.536, auprc: 0.447, seconds: '200–288', when: '2026-12-02, eval --sections anomaly --anomaly-methods diffusion --models-dir (0.1.0 copy)' }
/** True lesions: 26-connected label components of at least this many voxels (crumbs of the label are not lesions). */
const MIN_LESION_VOXELS = 30

const fmt = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : '–')

function robustZ(x: Float32Array, brain: Uint8Array): Float32Array {
  const med = percentileOf(x, 50, brain)
  const dev = Float32Array.from(x, (v, i) => (brain[i] ? Math.abs(v - med) : 0))
  const mad = percentileOf(dev, 50, brain) * 1.4826 || 1
  return Float32Array.from(x, (v, i) => (brain[i] ? (v - med) / mad : 0))
}

/** Fraction of true lesions (components ≥ MIN_LESION_VOXELS) that the mask touches. */
function detectionRate(truth: Uint8Array, mask: Uint8Array, size: Vec3): { found: number; total: number } {
  const { labels, counts } = labelComponents(truth, size)
  const hit = new Uint8Array(counts.length)
  for (let i = 0; i < labels.length; i++) if (labels[i] && mask[i]) hit[labels[i]] = 1
  let found = 0
  let total = 0
  for (let l = 1; l < counts.length; l++) {
    if (counts[l] < MIN_LESION_VOXELS) continue
    total++
    found += hit[l]
  }
  return { found, total }
}

/** One row of images (each already mapped to [0, 1]) of axial slice k, grey, y up. */
function panel(file: string, size: Vec3, images: Float32Array[], k: number): void {
  const [nx, ny] = size
  const png = new PNG({ width: nx * images.length, height: ny })
  images.forEach((img, c) => {
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const g = Math.max(0, Math.min(255, Math.round(img[(k * ny + j) * nx + i] * 255)))
        const o = ((ny - 1 - j) * nx * images.length + c * nx + i) * 4
        png.data[o] = png.data[o + 1] = png.data[o + 2] = g
        png.data[o + 3] = 255
      }
  })
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, PNG.sync.write(png))
}

const scaled = (x: Float32Array, lo: number, hi: number): Float32Array => Float32Array.from(x, (v) => (v - lo) / (hi - lo || 1))

export async function anomalyEvalSection(a: AnomalyEvalArgs, md: string[], timings: Timing[]): Promise<void> {
  md.push('## Anomaly detection (BraTS FLAIR validation cases, full volumes)', '')
  const all = lesionCases(a.data).filter((c) => c.split === 'val')
  const cases = (a.only ? all.filter((c) => a.only!.includes(c.id)) : all).slice(0, a.quick ? 1 : undefined)
  if (cases.length === 0) {
    md.push('BraTS data not found under --data: section skipped.', '')
    return
  }
  let sel: Awaited<ReturnType<typeof selectModel>> | undefined
  try {
    sel = await selectModel('anomaly', { modality: 'MR' }, a.modelsDir, undefined, { contrast: 'FLAIR' })
  } catch (e) {
    md.push(`**raddiff not measured: ${(e as Error).message}.**`, '')
  }
  const settings = sel ? anomalySettings(sel.card) : undefined
  const methods = sel ? a.methods : []
  const left = all.filter((c) => !cases.includes(c))
  if (left.length) md.push(`**Subset: ${left.map((c) => c.id).join(', ')} not measured in this run** (validation cases left out by --anomaly-cases or --quick).`, '')
  md.push(`Cases: ${cases.map((c) => c.id).join(', ')} — validation cases, all 155 slices; none was used to train ${sel?.card.name ?? 'the model'} or to calibrate its thresholds. Tumour = any label class > 0. Brain: the BraTS 2013 brainmask; BraTS 2018 is skull-stripped (FLAIR > 0). AUROC / AUPRC of the heatmap over the brain; Dice of the mask the job writes (the card's threshold for the method, components < the card's minimum volume dropped); best Dice = over all thresholds of the heatmap (optimistic: an oracle threshold per case). Lesion detection: true lesions = 26-connected label components ≥ ${MIN_LESION_VOXELS} voxels, detected when the mask touches them.`)
  md.push(`Baseline (issue 14): robust z-score of the FLAIR inside the brain ((x − median) / (1.4826·MAD) of this scan), mask z > ${BASELINE_Z}, no post-processing.`, '')
  md.push(`Healing reference (issue 14's target for mean |input − healed| in lesion-free brain is half of brain-flair 0.1.0's): brain-flair 0.1.0 with its full healing (depth 600, 5 steps, K = 3) measured ${REF_01.healthy} (normalised units) on these six cases, and its diffusion score best Dice ${REF_01.bestDice}, AUPRC ${REF_01.auprc}, ${REF_01.seconds} s per volume (${REF_01.when}; the same code path, a copy of that card).`, '')
  if (sel && settings) {
    md.push(`raddiff model: ${sel.card.name} ${sel.card.version}; card default method **${settings.method}**, polarity ${settings.polarity}, median filter ${settings.medianWidth}, brain mask eroded ${settings.erosionMm} mm.`, '')
  }
  const rows: string[] = []
  const sums = new Map<string, { dice: number[]; best: number[]; auroc: number[]; auprc: number[]; det: number[]; healthy: number[] }>()
  const add = (method: string, v: { dice: number; best: number; auroc: number; auprc: number; det: number; healthy?: number }): void => {
    const s = sums.get(method) ?? { dice: [], best: [], auroc: [], auprc: [], det: [], healthy: [] }
    s.dice.push(v.dice)
    s.best.push(v.best)
    s.auroc.push(v.auroc)
    s.auprc.push(v.auprc)
    s.det.push(v.det)
    if (v.healthy !== undefined) s.healthy.push(v.healthy)
    sums.set(method, s)
  }
  const panels: string[] = []
  // Phase 1 (slow: loading, healing, heatmaps, threshold-free metrics) for every case, phase 2 (the
  // masks, from the card's thresholds as they are then) after: the calibration may still be writing
  // the card while phase 1 runs. The masks come from maskOf, the function a job's mask comes from.
  const later: (() => void)[] = []
  const cardNow = (): AnomalySettings | undefined => (sel ? anomalySettings(JSON.parse(readFileSync(sel.cardPath, 'utf8'))) : undefined)
  for (const c of cases) {
    process.stderr.write(`eval anomaly: ${c.id}\n`)
    const L = await loadCase(c)
    const size = L.flair.size
    const [nx, ny] = size
    // the axial slice with the most tumour
    const per = new Array(size[2]).fill(0)
    for (let i = 0; i < L.truth.length; i++) if (L.truth[i]) per[Math.floor(i / (nx * ny))]++
    const k = per.indexOf(Math.max(...per))
    const slice = (x: ArrayLike<number>): Float32Array => Float32Array.from({ length: nx * ny }, (_, i) => x[k * nx * ny + i])
    const truth = L.truth
    const caseRows: (() => string)[] = []
    const imgs: (() => Float32Array)[] = []
    const captions: string[] = []
    const score = (name: string, heat: Float32Array, maskFor: () => Uint8Array, healthy?: number, panelHeat = true): void => {
      const best = bestDice(heat, truth, L.brain).dice
      const roc = auroc(heat, truth, L.brain)
      const pr = auprc(heat, truth, L.brain)
      const heatSlice = slice(heat)
      let maskSlice: Float32Array = new Float32Array(nx * ny)
      caseRows.push(() => {
        const mask = maskFor()
        maskSlice = slice(mask)
        const d = detectionRate(truth, mask, size)
        const v = { dice: dice(mask, truth), best, auroc: roc, auprc: pr, det: d.total ? d.found / d.total : NaN, healthy }
        add(name, v)
        return `| ${c.id} | ${name} | ${fmt(v.dice)} | ${fmt(v.best)} | ${fmt(v.auroc)} | ${fmt(v.auprc)} | ${d.found}/${d.total} | ${healthy === undefined ? '–' : fmt(healthy, 4)} |`
      })
      if (panelHeat) {
        imgs.push(() => scaled(heatSlice, 0, 6), () => maskSlice)
        captions.push(`${name} heatmap`, `${name} mask`)
      }
    }
    const lo = percentileOf(L.real, 0.5, L.brain)
    const hi = percentileOf(L.real, 99.5, L.brain)
    const flairSlice = scaled(slice(L.real), lo, hi)
    imgs.push(() => flairSlice)
    captions.push('FLAIR')
    const z = robustZ(L.real, L.brain)
    score(`z-score baseline (z > ${BASELINE_Z})`, z, () => Uint8Array.from(z, (v) => (v > BASELINE_Z ? 1 : 0)))
    const maskVol = createVolume({ data: L.brain, size })
    let healed: Float32Array | undefined
    if (sel && settings && methods.some((m) => m !== 'intensity')) {
      const t0 = performance.now()
      const r = await runTask('anomaly', L.flair, { model: sel.card.name, method: 'diffusion', seed: 0, mask: maskVol }, { modelsDir: a.modelsDir })
      timings.push({ task: `anomaly healing (depth ${r.report.depth}, K = ${r.provenance.samples})`, size, steps: r.provenance.steps, seconds: (performance.now() - t0) / 1000 })
      healed = r.outputs.find((o) => o.role === 'healed')!.volume.data as Float32Array
      const healedSlice = scaled(slice(healed), lo, hi)
      imgs.splice(1, 0, () => healedSlice)
      captions.splice(1, 0, 'healed')
    }
    for (const m of methods) {
      if (!sel || !settings) break
      let heat: Float32Array
      let healthy: number | undefined
      if (m === 'intensity') {
        // through runTask: the job's own path, timed
        const t0 = performance.now()
        const r = await runTask('anomaly', L.flair, { model: sel.card.name, method: m, mask: maskVol }, { modelsDir: a.modelsDir })
        timings.push({ task: 'anomaly (intensity)', size, steps: 0, seconds: (performance.now() - t0) / 1000 })
        heat = r.outputs.find((o) => o.role === 'heatmap')!.volume.data as Float32Array
      } else {
        const x = normaliseVolume(L.real, sel.card.normalisation)
        heat = scoreAnomaly({ method: m, polarity: settings.polarity, settings, real: L.real, normalised: x, healed, brain: L.brain, size, spacing: L.flair.spacing }).heatmap
        // |input − healed| in lesion-free brain, normalised units (the model's [-1, 1])
        let sum = 0
        let n = 0
        for (let i = 0; i < L.brain.length; i++) {
          if (!L.brain[i] || truth[i]) continue
          sum += Math.abs(x.data[i] - normaliseValue(healed![i], x.range))
          n++
        }
        healthy = sum / n
      }
      const h = heat
      const spacing = L.flair.spacing
      score(`raddiff ${m}${m === settings.method ? ' (default)' : ''}`, h, () => {
        const now = cardNow()!
        const t = now.thresholds[m]
        if (t === undefined) throw new Error(`the card has no ${m} threshold: run scripts/calibrate-anomaly.ts first`)
        return maskOf(h, t, size, spacing, now.minComponentMm3).mask
      }, healthy)
    }
    const truthSlice = slice(truth)
    imgs.push(() => truthSlice)
    captions.push('tumour label')
    const file = `results/anomaly-${c.id}.png`
    later.push(() => {
      for (const r of caseRows) rows.push(r())
      panel(path.join(path.dirname(a.out), file), [nx, ny, 1], imgs.map((f) => f()), 0)
      panels.push(`${c.id} (slice ${k}): ${captions.join(' · ')} — ![${c.id}](${file})`)
    })
  }
  for (const f of later) f()
  const final = cardNow()
  if (final) {
    md.push(`Mask thresholds used (the card's, read when the masks were made): ${Object.entries(final.thresholds).map(([m, t]) => `${m} ${t}`).join(', ') || 'none'}; components < ${final.minComponentMm3} mm³ dropped.`, '')
    if (final.calibration) md.push(`Calibration (the card's note): ${final.calibration}`, '')
  }
  md.push('| case | method | Dice @ default threshold | best Dice | AUROC | AUPRC | lesions detected | mean \\|input − healed\\| lesion-free brain |', '|---|---|---|---|---|---|---|---|', ...rows, '')
  md.push('Means over the cases:', '', '| method | Dice @ default threshold | best Dice | AUROC | AUPRC | lesion detection rate | mean \\|input − healed\\| lesion-free brain |', '|---|---|---|---|---|---|---|')
  const mean = (x: number[]): number => (x.length ? x.reduce((s, v) => s + v, 0) / x.length : NaN)
  for (const [m, s] of sums) md.push(`| ${m} | ${fmt(mean(s.dice))} | ${fmt(mean(s.best))} | ${fmt(mean(s.auroc))} | ${fmt(mean(s.auprc))} | ${fmt(mean(s.det.filter(Number.isFinite)), 2)} | ${s.healthy.length ? fmt(mean(s.healthy), 4) : '–'} |`)
  md.push('', 'Panels (the axial slice with the most tumour; heatmaps and z windowed 0–6):', '', ...panels.map((p) => `- ${p}`), '')
}
