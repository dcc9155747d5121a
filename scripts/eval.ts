/**
 * Evaluation harness (issue 5): measures the four pipelines on held-out real scans against the
 * classical methods and writes docs/RESULTS.md (+ PNG panels in docs/results/).
 *
 *   npx tsx scripts/eval.ts --data ../shared/data [--models-dir models] [--quick] [--steps 10]
 *                           [--out docs/RESULTS.md] [--pairs DIR] [--python /usr/bin/python3]
 *                           [--sections denoise,denoise-ct,superres,anomaly,translate] [--assemble]
 *                           [--anomaly-methods intensity,diffusion,combined] [--anomaly-cases ID,…]
 *                           [--superres-also MODEL,…]  (more models side by side in the superres section)
 *
 * A task whose model is not installed gets a section saying so (baselines are still measured).
 * --quick: one subject, 5% noise only, ×2 only, 24 central slices of one BraTS patient.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { PNG } from 'pngjs'
import { loadVolumes } from '../src/io/load.js'
import { mae, psnr, sliceStep, ssim } from '../src/metrics/index.js'
import { runTask, selectModel, type TaskName, type TaskResult } from '../src/pipelines/index.js'
import { averagePool, percentileOf, replicateUpsample, type Axes } from '../src/pipelines/volume-ops.js'
import { superresInputAxes } from '../src/pipelines/superres.js'
import { Rng, type SlicePlane } from '../src/engine/index.js'
import { createVolume, toFloat32, type Vec3, type Volume } from '../src/volume/index.js'
import { RADDIFF_VERSION } from '../src/version.js'
import { ANOMALY_METHODS, type AnomalyMethod } from '../src/pipelines/anomaly-settings.js'
import { anomalyEvalSection } from './eval-anomaly.js'
import { rician } from './synthetic-noise.js'

const SECTIONS = ['denoise', 'denoise-ct', 'superres', 'anomaly', 'translate'] as const
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

interface Args {
  data: string
  modelsDir: string
  quick: boolean
  steps: number
  out: string
  python: string
  pairs?: string
  sections: string[]
  /** First N IXI validation subjects only (default: all). */
  subjects?: number
  /** Denoising noise levels (default 0.03, 0.05, 0.1). */
  levels?: number[]
  /** Skip the posterior-sample runs (slow). */
  noSample?: boolean
  anomalyMethods: AnomalyMethod[]
  anomalyCases?: string[]
  /** Models run by name in the superres section beside the default one (side by side in one run). */
  superresAlso: string[]
}

function parseArgs(argv: string[]): Args {
  const a: Args = { data: '', modelsDir: path.join(root, 'models'), quick: false, steps: 10, out: path.join(root, 'docs/RESULTS.md'), python: '/usr/bin/python3', sections: [...SECTIONS], anomalyMethods: [...ANOMALY_METHODS], superresAlso: [] }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = (): string => {
      const x = argv[++i]
      if (x === undefined) throw new Error(`${k} needs a value`)
      return x
    }
    if (k === '--data') a.data = path.resolve(v())
    else if (k === '--models-dir') a.modelsDir = path.resolve(v())
    else if (k === '--quick') a.quick = true
    else if (k === '--steps') a.steps = Number(v())
    else if (k === '--out') a.out = path.resolve(v())
    else if (k === '--python') a.python = v()
    else if (k === '--pairs') a.pairs = path.resolve(v())
    else if (k === '--subjects') a.subjects = Number(v())
    else if (k === '--levels') a.levels = v().split(',').map(Number)
    else if (k === '--no-sample') a.noSample = true
    else if (k === '--sections') a.sections = v().split(',').map((x) => x.trim())
    else if (k === '--anomaly-cases') a.anomalyCases = v().split(',').map((x) => x.trim())
    else if (k === '--anomaly-methods') a.anomalyMethods = v().split(',').map((x) => x.trim()) as AnomalyMethod[]
    else if (k === '--superres-also') a.superresAlso = v().split(',').map((x) => x.trim()).filter(Boolean)
    else if (k === '--assemble') a.sections = [] // only rebuild RESULTS.md from the fragments present
    else if (k !== '--') throw new Error(`unknown option ${k}`)
  }
  const bad = a.sections.filter((x) => !(SECTIONS as readonly string[]).includes(x))
  if (bad.length) throw new Error(`unknown section ${bad.join(', ')}; choose from ${SECTIONS.join(', ')}`)
  if (a.anomalyMethods.some((m) => !ANOMALY_METHODS.includes(m))) throw new Error(`--anomaly-methods: choose from ${ANOMALY_METHODS.join(', ')}`)
  if (!a.data || !existsSync(a.data)) throw new Error('--data must name the shared data folder (e.g. ../shared/data)')
  return a
}

const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '–')
const meanOf = (xs: number[]): number => xs.reduce((s, v) => s + v, 0) / xs.length

interface Loaded {
  vol: Volume
  data: Float32Array
}

async function load(file: string): Promise<Loaded> {
  const [{ volume }] = await loadVolumes([file])
  return { vol: volume, data: toFloat32(volume) }
}

function like(v: Volume, data: Float32Array, size: Vec3 = v.size, spacing: Vec3 = v.spacing): Volume {
  return createVolume({ data, size, spacing, origin: v.origin, direction: v.direction, modality: 'MR', meta: v.meta.clone({ rescaleSlope: 1, rescaleIntercept: 0 }) })
}


/** Runs the skimage baselines on raw float32 files (see scripts/reference/eval_baselines.py). */
function python(a: Args, tmp: string, args: string[]): Record<string, any> {
  const out = execFileSync(a.python, [path.join(root, 'scripts/reference/eval_baselines.py'), ...args], { encoding: 'utf8', maxBuffer: 1 << 24 })
  return JSON.parse(out.trim().split('\n').pop()!)
}

const writeRaw = (file: string, x: Float32Array): void => writeFileSync(file, Buffer.from(x.buffer, x.byteOffset, x.byteLength))
const readRaw = (file: string): Float32Array => {
  const b = readFileSync(file)
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
}

/** Mid-k slices side by side, windowed to [lo, hi], 8-bit grey. */
function panel(file: string, size: Vec3, images: Float32Array[], lo: number, hi: number, k = Math.floor(size[2] / 2)): void {
  const [nx, ny] = size
  const png = new PNG({ width: nx * images.length, height: ny })
  images.forEach((img, c) => {
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const v = img[(k * ny + j) * nx + i]
        const g = Math.max(0, Math.min(255, Math.round(((v - lo) / (hi - lo)) * 255)))
        const o = ((ny - 1 - j) * nx * images.length + c * nx + i) * 4
        png.data[o] = png.data[o + 1] = png.data[o + 2] = g
        png.data[o + 3] = 255
      }
  })
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, PNG.sync.write(png))
}

async function modelStatus(a: Args, task: TaskName, contrast?: string, modality = 'MR'): Promise<{ ok: true; name: string; version: string; plane: SlicePlane } | { ok: false; why: string }> {
  try {
    const m = await selectModel(task, { modality }, a.modelsDir, undefined, { contrast })
    return { ok: true, name: m.card.name, version: m.card.version, plane: m.card.plane }
  } catch (e) {
    return { ok: false, why: (e as Error).message }
  }
}

interface Timing {
  task: string
  size: Vec3
  steps: number
  seconds: number
}
const timings: Timing[] = []

/** How many views a task's result averaged (its report's `views`; 1 when it names none). */
const viewCount = (r: TaskResult): number => (r.report.views as string[] | undefined)?.length ?? 1

async function timed(task: TaskName, v: Volume, params: Parameters<typeof runTask>[2], a: Args): Promise<TaskResult> {
  const t0 = performance.now()
  const r = await runTask(task, v, params, { modelsDir: a.modelsDir })
  timings.push({ task: `${task}${params?.mode ? ` (${params.mode})` : ''}${params?.scale ? ` ×${params.scale}` : ''}${params?.ensemble === 'off' ? ' --ensemble off' : ''}`, size: v.size, steps: r.provenance.steps, seconds: (performance.now() - t0) / 1000 })
  return r
}

function ixiVal(a: Args): string[] {
  const csv = readFileSync(path.join(a.data, 'mri/ixi-t1/participants.csv'), 'utf8').trim().split(/\r?\n/).slice(1)
  const val = csv.map((l) => l.trim().split(',')).filter((c) => c[3] === 'val').map((c) => c[0])
  return a.quick ? val.slice(0, 1) : a.subjects ? val.slice(0, a.subjects) : val
}

async function brainMask(a: Args, subject: string, n: number): Promise<Uint8Array> {
  const f = path.join(a.data, 'mri/ixi-t1-labels', `${subject}_T1_DLMUSE.nii.gz`)
  if (!existsSync(f)) return new Uint8Array(n).fill(1)
  const l = await load(f)
  return Uint8Array.from(l.data, (v) => (v > 0 ? 1 : 0))
}

// IXI is stored P-S-R: voxel axis 2 is brain-t1's sagittal slice axis (metrics sliceStep)
const STRIPE_AXIS = 2

async function denoiseSection(a: Args, tmp: string, md: string[]): Promise<void> {
  const model = await modelStatus(a, 'denoise', 'T1')
  const levels = a.levels ?? (a.quick ? [0.05] : [0.03, 0.05, 0.1])
  const subjects = ixiVal(a)
  md.push('## Denoising (IXI T1 validation subjects, synthetic Rician noise)', '')
  md.push(`Subjects: ${subjects.join(', ')} (never used in training). Noise σ = level × the 99.5th percentile of the clean brain voxels (P); PSNR uses data range P; PSNR and SSIM (skimage-compatible, Gaussian σ 1.5) inside the DLMUSE brain mask.`)
  md.push('NLM: skimage denoise_nl_means 3D, fast mode, patch 5, distance 6 (3 in --quick), σ̂ from skimage estimate_sigma on the noisy volume, h = 0.6 σ̂ and 0.8 σ̂ and, per volume, the better of the two (the baseline at its best h). TV: denoise_tv_chambolle with the weight chosen per volume on the clean image (an oracle: favours TV).', '')
  md.push(model.ok ? `raddiff model: ${model.name} ${model.version}.` : `**raddiff not measured: ${model.why}.**`, '')
  const rows = new Map<string, { psnr: number[]; ssim: number[]; sigmaRatio: number[] }>()
  const stripes: { level: number; clean: number; nlm: number; raddiff?: number }[] = []
  // PSNR of the default output minus the better-h NLM's, per subject and level: whether the mean's gain holds on every scan
  const gains = new Map<string, Map<number, number>>()
  const add = (key: string, p: number, s: number, ratio = NaN): void => {
    const r = rows.get(key) ?? { psnr: [], ssim: [], sigmaRatio: [] }
    r.psnr.push(p)
    r.ssim.push(s)
    r.sigmaRatio.push(ratio)
    rows.set(key, r)
  }
  for (const [si, subj] of subjects.entries()) {
    const clean = await load(path.join(a.data, 'mri/ixi-t1', `${subj}_T1.nii.gz`))
    const size = clean.vol.size
    const mask = await brainMask(a, subj, clean.data.length)
    const P = percentileOf(clean.data, 99.5, mask)
    for (const level of levels) {
      const sigma = level * P
      const noisy = rician(clean.data, sigma, 1000 * si + Math.round(level * 100))
      // records one row and returns its PSNR (the better-h choice and the per-subject gain reuse it)
      const m = (key: string, x: Float32Array, ratio?: number): number => {
        const p = psnr(clean.data, x, P, mask)
        add(`${Math.round(level * 100)}%|${key}`, p, ssim(clean.data, x, size, P, { mask }), ratio)
        return p
      }
      m('noisy input', noisy)
      writeRaw(path.join(tmp, 'noisy.f32'), noisy)
      writeRaw(path.join(tmp, 'clean.f32'), clean.data)
      const py = python(a, tmp, ['denoise', path.join(tmp, 'noisy.f32'), ...size.map(String), String(sigma), tmp, '--clean', path.join(tmp, 'clean.f32'), ...(a.quick ? ['--quick'] : [])])
      const nlm06 = readRaw(path.join(tmp, 'nlm06.f32'))
      const nlm08 = readRaw(path.join(tmp, 'nlm08.f32'))
      const tv = readRaw(path.join(tmp, 'tv.f32'))
      const p06 = m('NLM h = 0.6 σ̂', nlm06)
      const p08 = m('NLM h = 0.8 σ̂', nlm08)
      const nlm = p06 >= p08 ? nlm06 : nlm08
      const pNlm = m('NLM (better h per volume)', nlm)
      m('TV (skimage, oracle weight)', tv)
      stripes.push({ level, clean: sliceStep(clean.data, size, STRIPE_AXIS, mask), nlm: sliceStep(nlm, size, STRIPE_AXIS, mask) })
      timings.push({ task: 'NLM baseline', size, steps: 0, seconds: py.seconds.nlm }, { task: 'TV baseline', size, steps: 0, seconds: py.seconds.tv })
      const panelImgs = [clean.data, noisy, nlm, tv]
      if (model.ok) {
        for (const mode of a.noSample ? [undefined] : ([undefined, 'sample'] as const)) {
          const r = await timed('denoise', like(clean.vol, noisy), { model: model.name, steps: a.steps, seed: 0, ...(mode ? { mode } : {}) }, a)
          const x = r.outputs[0].volume.data as Float32Array
          const pX = m(mode ? `raddiff --mode ${mode}` : 'raddiff (default options)', x, (r.report.sigma as number) / sigma)
          if (!mode) {
            stripes[stripes.length - 1].raddiff = sliceStep(x, size, STRIPE_AXIS, mask)
            gains.set(subj, (gains.get(subj) ?? new Map<number, number>()).set(level, pX - pNlm))
          }
          panelImgs.push(x)
          if (!mode && viewCount(r) > 1) {
            // the same call on one view, side by side: what the card's self-ensemble adds on held-out data
            const one = await timed('denoise', like(clean.vol, noisy), { model: model.name, steps: a.steps, seed: 0, ensemble: 'off' }, a)
            m('raddiff --ensemble off', one.outputs[0].volume.data as Float32Array, (one.report.sigma as number) / sigma)
          }
        }
      }
      if (si === 0 && level === 0.05) panel(path.join(path.dirname(a.out), 'results/denoise-5pct.png'), size, panelImgs, 0, P)
    }
  }
  md.push('| noise | method | PSNR (dB) | SSIM | σ̂/σ |', '|---|---|---|---|---|')
  for (const [key, r] of rows) {
    const [lvl, method] = key.split('|')
    md.push(`| ${lvl} | ${method} | ${fmt(meanOf(r.psnr))} | ${fmt(meanOf(r.ssim), 4)} | ${fmt(meanOf(r.sigmaRatio))} |`)
  }
  md.push('', 'Striping: mean |x[s+1] − x[s]| between neighbouring slices of the model\'s plane inside the brain, relative to the clean volume\'s (target: within 10 %).', '')
  md.push('| noise | clean | NLM | raddiff (default) | raddiff / clean |', '|---|---|---|---|---|')
  for (const lvl of levels) {
    const r = stripes.filter((x) => x.level === lvl)
    const c = meanOf(r.map((x) => x.clean))
    const d = meanOf(r.map((x) => x.raddiff ?? NaN))
    md.push(`| ${Math.round(lvl * 100)}% | ${fmt(c, 3)} | ${fmt(meanOf(r.map((x) => x.nlm)), 3)} | ${fmt(d, 3)} | ${fmt(d / c, 3)} |`)
  }
  if (gains.size > 0) {
    md.push('', 'Per subject: PSNR of raddiff (default options) minus NLM (better h), dB.', '')
    md.push(`| subject | ${levels.map((l) => `${Math.round(l * 100)}%`).join(' | ')} |`, `|---|${levels.map(() => '---|').join('')}`)
    for (const [subj, g] of gains) md.push(`| ${subj} | ${levels.map((l) => fmt(g.get(l) ?? NaN)).join(' | ')} |`)
  }
  md.push('', `Panel (first subject, 5%, mid slice): clean · noisy · NLM (better h) · TV${model.ok ? ` · raddiff (default)${a.noSample ? '' : ' · raddiff --mode sample'}` : ''} — ![denoise](results/denoise-5pct.png)`, '')
}

/**
 * CT denoising on the CT held out from head-ct training (abdomen/pelvis, 3 mm): additive Gaussian
 * noise in HU. Real low-dose CT noise is spatially correlated and non-stationary; white Gaussian noise
 * is the simple, reproducible stand-in, and the section says so.
 */
async function denoiseCtSection(a: Args, tmp: string, md: string[]): Promise<void> {
  const model = await modelStatus(a, 'denoise', undefined, 'CT')
  const file = path.join(a.data, 'ct/abdomen_pelvis_3mm.nii.gz')
  md.push('## CT denoising (held-out abdomen/pelvis CT, simulated noise)', '')
  if (!existsSync(file)) {
    md.push('ct/abdomen_pelvis_3mm.nii.gz not found under --data: section skipped.', '')
    return
  }
  md.push('The TotalSegmentator abdomen/pelvis CT (3 mm) is held out from head-ct training. Noise: additive white Gaussian, σ = 25 and 50 HU (a stand-in for low-dose noise, which is really correlated and non-stationary). Metrics inside the body (clean > −500 HU): MAE in HU, PSNR with data range 400 HU (the soft-tissue window width), SSIM with the same range. NLM / TV as for MRI (TV weight picked on the clean volume: an oracle).', '')
  md.push(model.ok ? `raddiff model: ${model.name} ${model.version}.` : `**raddiff not measured: ${model.why}.**`, '')
  const clean = await load(file)
  const size = clean.vol.size
  const body = Uint8Array.from(clean.data, (v) => (v > -500 ? 1 : 0))
  const R = 400
  const rows: string[] = []
  for (const sigma of a.quick ? [50] : [25, 50]) {
    const rng = new Rng(77, sigma)
    const noisy = Float32Array.from(clean.data, (v) => v + sigma * rng.normal())
    const row = (name: string, x: Float32Array): void => {
      rows.push(`| ${sigma} HU | ${name} | ${fmt(mae(clean.data, x, body), 1)} | ${fmt(psnr(clean.data, x, R, body))} | ${fmt(ssim(clean.data, x, size, R, { mask: body }), 4)} |`)
    }
    row('noisy input', noisy)
    // the baselines scale by a high percentile: shift HU so values are positive
    writeRaw(path.join(tmp, 'noisy.f32'), noisy.map((v) => v + 1024))
    writeRaw(path.join(tmp, 'clean.f32'), clean.data.map((v) => v + 1024))
    const py = python(a, tmp, ['denoise', path.join(tmp, 'noisy.f32'), ...size.map(String), String(sigma), tmp, '--clean', path.join(tmp, 'clean.f32'), ...(a.quick ? ['--quick'] : [])])
    const nlm06 = readRaw(path.join(tmp, 'nlm06.f32')).map((v) => v - 1024)
    const nlm08 = readRaw(path.join(tmp, 'nlm08.f32')).map((v) => v - 1024)
    const tv = readRaw(path.join(tmp, 'tv.f32')).map((v) => v - 1024)
    const nlm = mae(clean.data, nlm06, body) <= mae(clean.data, nlm08, body) ? nlm06 : nlm08
    row('NLM h = 0.6 σ̂', nlm06)
    row('NLM h = 0.8 σ̂', nlm08)
    row('NLM (better h)', nlm)
    row('TV (skimage, oracle weight)', tv)
    timings.push({ task: 'NLM baseline (CT)', size, steps: 0, seconds: py.seconds.nlm })
    const imgs = [clean.data, noisy, nlm, tv]
    if (model.ok) {
      for (const mode of ['sample', 'mean'] as const) {
        const v = createVolume({ data: noisy, size, spacing: clean.vol.spacing, origin: clean.vol.origin, direction: clean.vol.direction, modality: 'CT', meta: clean.vol.meta.clone({ rescaleSlope: 1, rescaleIntercept: 0 }) })
        const r = await timed('denoise', v, { model: model.name, steps: a.steps, seed: 0, mode }, a)
        const x = toFloat32(r.outputs[0].volume)
        row(`raddiff ${mode} (σ̂ = ${fmt(r.report.sigma as number, 1)} HU)`, x)
        imgs.push(x)
        if (mode === 'mean' && viewCount(r) > 1) {
          const one = await timed('denoise', v, { model: model.name, steps: a.steps, seed: 0, mode, ensemble: 'off' }, a)
          row(`raddiff mean --ensemble off`, toFloat32(one.outputs[0].volume))
        }
      }
    }
    if (sigma === 50) panel(path.join(path.dirname(a.out), 'results/denoise-ct.png'), size, imgs, 40 - 200, 40 + 200)
  }
  md.push('| noise | method | MAE (HU) | PSNR (dB, range 400 HU) | SSIM |', '|---|---|---|---|---|', ...rows, '')
  md.push(`Panel (σ = 50 HU, mid slice, window 40 ± 200 HU): clean · noisy · NLM · TV${model.ok ? ' · raddiff sample · raddiff mean' : ''} — ![CT denoise](results/denoise-ct.png)`, '')
}

async function superresSection(a: Args, tmp: string, md: string[]): Promise<void> {
  const model = await modelStatus(a, 'superres', 'T1')
  // [factor, which]: in-plane (mean-pooled in the model's plane) and through-plane (thick slices)
  const factors: [number, 'inplane' | 'through'][] = a.quick ? [[2, 'inplane']] : [[2, 'inplane'], [4, 'inplane'], [2, 'through']]
  const subjects = ixiVal(a)
  md.push('## Super-resolution (IXI T1 validation subjects)', '')
  md.push('The clean volume is average-pooled by the factor in-plane (the two anatomical axes of the model plane; brain-t1: S and P) or through-plane (along the model plane\'s slice axis: thick slices, L–R for the sagittal models; a model whose card names superres.plane_through runs in that plane for them); each method upsamples it back. PSNR/SSIM against the clean volume inside the brain mask, data range = 99.5th percentile of the brain. Bicubic: skimage.transform.resize(order=3); nearest: voxel replication.', '')
  md.push(model.ok ? `raddiff model: ${model.name} ${model.version}.` : `**raddiff not measured: ${model.why}.**`, '')
  const rows = new Map<string, { psnr: number[]; ssim: number[] }>()
  for (const [si, subj] of subjects.entries()) {
    const clean = await load(path.join(a.data, 'mri/ixi-t1', `${subj}_T1.nii.gz`))
    const mask = await brainMask(a, subj, clean.data.length)
    const P = percentileOf(clean.data, 99.5, mask)
    for (const [f, which] of factors) {
      // in-plane of the model's (anatomical) plane, or along its slice axis, in this volume's voxel order
      const axes: Axes = superresInputAxes(clean.vol, model.ok ? model.plane : 'axial', which)
      const tag = `×${f}${which === 'through' ? ' through-plane' : ''}`
      const size = clean.vol.size
      const low = averagePool(clean.data, size, f, axes)
      const m = (key: string, x: Float32Array): void => {
        const r = rows.get(`${tag}|${key}`) ?? { psnr: [], ssim: [] }
        r.psnr.push(psnr(clean.data, x, P, mask))
        r.ssim.push(ssim(clean.data, x, size, P, { mask }))
        rows.set(`${tag}|${key}`, r)
      }
      const nearest = replicateUpsample(low.data, low.size, f, axes).data
      m('nearest', nearest)
      writeRaw(path.join(tmp, 'low.f32'), low.data)
      const py = python(a, tmp, ['superres', path.join(tmp, 'low.f32'), ...low.size.map(String), String(f), axes.map((x) => (x ? '1' : '0')).join(''), tmp])
      const bicubic = readRaw(path.join(tmp, 'bicubic.f32'))
      m('bicubic (skimage)', bicubic)
      timings.push({ task: `bicubic ×${f}`, size: low.size, steps: 0, seconds: py.seconds.bicubic })
      const imgs = [clean.data, nearest, bicubic]
      if (model.ok) {
        const spacing = clean.vol.spacing.map((s, d) => (axes[d] ? s * f : s)) as Vec3
        for (const mode of a.noSample ? [undefined] : ([undefined, 'sample'] as const)) {
          // no --model: the pipeline picks per axes as the CLI does (a conditioned model may serve only some)
          const r = await timed('superres', like(clean.vol, low.data, low.size, spacing), { steps: a.steps, seed: 0, scale: f, axes: which, ...(mode ? { mode } : {}) }, a)
          const x = r.outputs[0].volume.data as Float32Array
          const used = (r.provenance as { model?: { name?: string } }).model?.name ?? '?'
          m(mode ? `raddiff --mode ${mode} (${used})` : `raddiff (default options: ${used})`, x)
          imgs.push(x)
          if (!mode && viewCount(r) > 1) {
            const one = await timed('superres', like(clean.vol, low.data, low.size, spacing), { steps: a.steps, seed: 0, scale: f, axes: which, ensemble: 'off' }, a)
            m(`raddiff --ensemble off (${used})`, one.outputs[0].volume.data as Float32Array)
          }
        }
        for (const other of a.superresAlso.filter((n) => n !== model.name)) {
          const r = await timed('superres', like(clean.vol, low.data, low.size, spacing), { model: other, steps: a.steps, seed: 0, scale: f, axes: which }, a)
          m(`raddiff --model ${other}`, r.outputs[0].volume.data as Float32Array)
        }
      }
      if (si === 0) panel(path.join(path.dirname(a.out), `results/superres-x${f}${which === 'through' ? '-through' : ''}.png`), size, imgs, 0, P)
    }
  }
  md.push('| factor | method | PSNR (dB) | SSIM |', '|---|---|---|---|')
  for (const [key, r] of rows) {
    const [f, method] = key.split('|')
    md.push(`| ${f} | ${method} | ${fmt(meanOf(r.psnr))} | ${fmt(meanOf(r.ssim), 4)} |`)
  }
  md.push('', `Panels (first subject, mid slice): clean · nearest · bicubic${model.ok ? ' · raddiff (default)' + (a.noSample ? '' : ' · raddiff --mode sample') : ''} — ${factors.map(([f, w]) => `![×${f}${w === 'through' ? ' through' : ''}](results/superres-x${f}${w === 'through' ? '-through' : ''}.png)`).join(' ')}`, '')
}

async function translateSection(a: Args, md: string[]): Promise<void> {
  const model = await modelStatus(a, 'translate')
  md.push('## MRI → CT translation', '')
  const dir = a.pairs && existsSync(a.pairs) ? a.pairs : undefined
  const all = dir ? readdirSync(dir).filter((c) => existsSync(path.join(dir, c, 'mr.nii.gz')) && existsSync(path.join(dir, c, 'ct.nii.gz'))) : []
  // only held-out cases: the split file written by training/raddiff_train/make_pairs.py (or the user's)
  const splitFile = dir ? path.join(dir, 'splits.txt') : ''
  const split = splitFile && existsSync(splitFile) ? new Map(readFileSync(splitFile, 'utf8').trim().split(/\r?\n/).map((l) => l.trim().split(/\s+/) as [string, string])) : undefined
  const cases = (split ? all.filter((c) => split.get(c) === 'val' || split.get(c) === 'test') : all).slice(0, a.quick ? 1 : undefined)
  if (cases.length === 0) {
    md.push('No held-out MRI/CT pairs given, so MAE in HU is not measured. Pass `--pairs DIR` (SynthRAD layout: CASE/mr.nii.gz, ct.nii.gz, optional mask.nii.gz, brain.nii.gz, splits.txt); `training/raddiff_train/make_pairs.py` builds weak pairs from the shared data.', '')
    if (!model.ok) md.push(`Model status: ${model.why}.`, '')
    return
  }
  if (!model.ok) {
    md.push(`**raddiff not measured: ${model.why}.**`, '')
    return
  }
  md.push(`Cases: ${cases.join(', ')}${split ? ' (val in splits.txt: never used in training)' : ' (no splits.txt: every case in the folder)'}. raddiff model: ${model.name} ${model.version}.`)
  md.push('**Weak pairs:** the reference CT of each case is one real head CT registered onto that subject\'s T1 (elastix, affine + B-spline), not the subject\'s own CT. These numbers measure agreement with a registered CT; a registration error counts against the model.', '')
  md.push('MAE in HU inside: head (case mask.nii.gz: T1 head within the CT field of view), bone (reference > 300 HU within the head), brain (brain.nii.gz, DLMUSE labels, within the head). Baseline: bulk density, the classical MR-only assignment (head → 0 HU water, outside → −1024 HU air).', '')
  md.push('| case | method | MAE head | MAE bone | MAE brain |', '|---|---|---|---|---|')
  const imgs: Float32Array[] = []
  let panelSize: Vec3 | undefined
  const means: { name: string; sums: number[] }[] = []
  for (const c of cases) {
    const mr = await load(path.join(dir!, c, 'mr.nii.gz'))
    const ct = await load(path.join(dir!, c, 'ct.nii.gz'))
    const maskFile = path.join(dir!, c, 'mask.nii.gz')
    const head = existsSync(maskFile) ? Uint8Array.from((await load(maskFile)).data, (v) => (v > 0 ? 1 : 0)) : Uint8Array.from(ct.data, (v) => (v > -500 ? 1 : 0))
    const brainFile = path.join(dir!, c, 'brain.nii.gz')
    const brain = existsSync(brainFile) ? Uint8Array.from((await load(brainFile)).data, (v, i) => (v > 0 && head[i] ? 1 : 0)) : undefined
    const bone = Uint8Array.from(ct.data, (v, i) => (v > 300 && head[i] ? 1 : 0))
    // the CLI's default (a posterior-mean call for a card with translate.mean_call) and a posterior sample
    const rd = await timed('translate', like(mr.vol, mr.data), { model: model.name, seed: 0 }, a)
    const synMean = toFloat32(rd.outputs[0].volume)
    const r = await timed('translate', like(mr.vol, mr.data), { model: model.name, steps: a.steps, seed: 0, mode: 'sample' }, a)
    const syn = toFloat32(r.outputs[0].volume)
    const bulk = Float32Array.from(head, (h) => (h ? 0 : -1024))
    const rows = [
      [`raddiff default (${rd.report.mode}, ${rd.report.steps} step${rd.report.steps === 1 ? '' : 's'} from ${rd.report.start})`, synMean],
      [`raddiff sample (${r.report.steps} steps from ${r.report.start} at t* = ${r.report.depth})`, syn],
      ['bulk density', bulk],
    ] as const
    rows.forEach(([name, x], j) => {
      const m = [mae(ct.data, x, head), mae(ct.data, x, bone), brain ? mae(ct.data, x, brain) : NaN]
      means[j] = { name: j < 2 ? name.split(' (')[0] : name, sums: (means[j]?.sums ?? [0, 0, 0]).map((v, i) => v + m[i]) }
      md.push(`| ${c} | ${name} | ${fmt(m[0], 1)} | ${fmt(m[1], 1)} | ${brain ? fmt(m[2], 1) : '–'} |`)
    })
    if (!panelSize) {
      panelSize = mr.vol.size
      const [lo, hi] = [percentileOf(mr.data, 0.5), percentileOf(mr.data, 99.5)]
      // T1 mapped into the CT window so one grey scale fits the panel
      imgs.push(mr.data.map((v) => -1000 + ((v - lo) / (hi - lo || 1)) * 2500), ct.data, syn, synMean)
    }
  }
  for (const m of means) md.push(`| **mean of ${cases.length}** | ${m.name} | ${m.sums.map((v) => fmt(v / cases.length, 1)).join(' | ')} |`)
  md.push('')
  if (panelSize) {
    panel(path.join(path.dirname(a.out), 'results/translate.png'), panelSize, imgs, -1000, 1500, Math.floor(panelSize[2] / 2))
    md.push('Panel (first case, mid slice of its voxel grid; window −1000…1500 HU): T1 · registered CT (reference) · raddiff sample · raddiff default — ![translate](results/translate.png)', '')
  }
}

/**
 * Each section writes its own fragment (docs/results/<section>.md) so one section can be re-run
 * (e.g. when a model is retrained) without repeating the hours of the others; RESULTS.md is then
 * assembled from every fragment present.
 */
async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2))
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'raddiff-eval-'))
  const fragDir = path.join(path.dirname(a.out), 'results')
  mkdirSync(fragDir, { recursive: true })
  const run: Record<string, () => Promise<void>> = {
    denoise: () => denoiseSection(a, tmp, md),
    'denoise-ct': () => denoiseCtSection(a, tmp, md),
    superres: () => superresSection(a, tmp, md),
    anomaly: () => anomalyEvalSection({ data: a.data, modelsDir: a.modelsDir, out: a.out, quick: a.quick, methods: a.anomalyMethods, only: a.anomalyCases }, md, timings),
    translate: () => translateSection(a, md),
  }
  let md: string[] = []
  try {
    for (const name of a.sections) {
      process.stderr.write(`eval: ${name}…\n`)
      const started = new Date()
      md = []
      timings.length = 0
      try {
        await run[name]()
      } catch (e) {
        md.push(`**${name} evaluation failed: ${(e as Error).message}**`, '')
      }
      if (timings.length) {
        // one row per kind of run (median and range over its volumes): ten subjects × three levels made 60 rows
        const groups = new Map<string, { t: Timing; s: number[] }>()
        for (const t of timings) {
          const key = `${t.task}|${t.size.join('×')}|${t.steps}`
          if (!groups.has(key)) groups.set(key, { t, s: [] })
          groups.get(key)!.s.push(t.seconds)
        }
        md.push('Time per volume:', '', '| what | volume | steps | runs | seconds (median) | range |', '|---|---|---|---|---|---|')
        for (const { t, s } of groups.values()) {
          md.push(`| ${t.task} | ${t.size.join('×')} | ${t.steps || '–'} | ${s.length} | ${fmt(percentileOf(Float32Array.from(s), 50), 1)} | ${fmt(Math.min(...s), 1)}–${fmt(Math.max(...s), 1)} |`)
        }
        md.push('')
      }
      md.push(`<sub>Section measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC by raddiff ${RADDIFF_VERSION}, ${os.cpus().length} CPU cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${name === 'anomaly' ? `the card's anomaly settings, methods ${a.anomalyMethods.join(', ')}` : `${a.steps} sampler steps`}${a.quick ? ', **--quick** (subset: indicative only)' : ''}; ${fmt((Date.now() - started.getTime()) / 1000, 0)} s.</sub>`, '')
      writeFileSync(path.join(fragDir, `${name}.md`), md.join('\n'))
    }
    const head = [
      '# raddiff results',
      '',
      `Generated by \`npm run eval -- --data ../shared/data\` (scripts/eval.ts; models from \`${path.relative(root, a.modelsDir) || a.modelsDir}\`). Every number is measured on scans held out from training. NOT FOR CLINICAL USE.`,
      '',
      'Targets from issue 5: denoise ≥ NLM + 1.5 dB at 5%; SR×2 ≥ bicubic + 2.5 dB; anomaly Dice ≥ 0.5 on BraTS FLAIR; each task < 60 s for 120×120×90 on 2 cores.',
      '',
    ]
    // summary.md is written by people (what the numbers mean), the rest by the sections
    const body = ['summary', ...SECTIONS].filter((n) => existsSync(path.join(fragDir, `${n}.md`))).map((n) => readFileSync(path.join(fragDir, `${n}.md`), 'utf8'))
    writeFileSync(a.out, [...head, ...body].join('\n'))
    process.stderr.write(`eval: wrote ${a.out}\n`)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

main().catch((e) => {
  process.stderr.write(`eval: ${(e as Error).message}\n`)
  process.exitCode = 2
})
