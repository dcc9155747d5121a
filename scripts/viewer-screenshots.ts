/**
 * Screenshots of the real models' outputs in the viewer, for docs/viewer/:
 *   denoise  — IXI T1 validation subject IXI162 with brain-t1  → docs/viewer/denoise-brain-t1.png
 *   anomaly  — BraTS 2013 validation patient 0003 FLAIR with brain-flair → docs/viewer/anomaly-brain-flair.png
 *
 *   npx tsx scripts/viewer-screenshots.ts --data ../shared/data [--only denoise|anomaly] [--fresh]
 *
 * Starts the real service in-process (forked inference workers, shipped models), uploads the scan
 * and runs the job through the HTTP API, then opens the viewer in headless Chromium at `#job=<id>`,
 * moves to a slice through the brain (denoise) or the lesion (anomaly: the heatmap's peak slice)
 * and captures the page. A job takes minutes on a small CPU; finished jobs are kept in --work
 * (default $TMPDIR/raddiff-viewer-shots) and reused unless --fresh, so re-captures are quick.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Command } from 'commander'
import { chromium } from 'playwright-core'
import { buildApp } from '../src/service/app.js'
import { CHROMIUM, CHROMIUM_ARGS, ensureViewerBuilt } from '../tests/e2e/harness.js'
import { repoRoot } from '../tests/service/helpers.js'

interface Shot {
  task: 'denoise' | 'anomaly'
  file: string
  params: Record<string, unknown>
  out: string
  /** Where to look: the heatmap's peak slice, or the middle of the brain. */
  focus: 'heatmap-peak' | 'centre'
  plane: 'axial' | 'coronal' | 'sagittal'
  /** Then move the slice by this much (LPS, mm): IXI's field of view takes in the neck, so its foreground centroid lies low in the brain. */
  shiftLps?: [number, number, number]
  /** Zoom relative to the whole field of view: BraTS's 240 mm field holds a brain of ~140 mm. */
  zoom?: number
}

const SHOTS: Shot[] = [
  { task: 'denoise', file: 'mri/ixi-t1/IXI162-HH-1548_T1.nii.gz', params: { model: 'brain-t1', seed: 0 }, out: 'docs/viewer/denoise-brain-t1.png', focus: 'centre', plane: 'axial', shiftLps: [0, 0, 24] },
  { task: 'anomaly', file: 'lesion/brats2013/brats_2013_pat0003_1/Flair_subtrMeanDivStd.nii.gz', params: { model: 'brain-flair', seed: 0 }, out: 'docs/viewer/anomaly-brain-flair.png', focus: 'heatmap-peak', plane: 'axial', zoom: 1.5 },
]

const opts = new Command()
  .option('--data <dir>', 'the shared data folder', path.resolve(repoRoot, '../shared/data'))
  .option('--only <task>', 'denoise or anomaly')
  .option('--work <dir>', 'service data folder (kept between runs)', path.join(os.tmpdir(), 'raddiff-viewer-shots'))
  .option('--fresh', 'run the jobs again even when a finished one is kept')
  .option('--timeout-min <n>', 'minutes to wait for one job (anomaly on 2 busy cores: ~30)', '45')
  .parse()
  .opts<{ data: string; only?: string; work: string; fresh?: boolean; timeoutMin: string }>()

const shots = SHOTS.filter((s) => !opts.only || s.task === opts.only)
if (shots.length === 0) throw new Error(`--only takes denoise or anomaly, not ${opts.only}`)
mkdirSync(opts.work, { recursive: true })
const keptFile = path.join(opts.work, 'jobs.json')
const kept: Record<string, string> = existsSync(keptFile) ? JSON.parse(readFileSync(keptFile, 'utf8')) : {}

ensureViewerBuilt()
const app = await buildApp({ dataDir: opts.work, logger: false, concurrency: 1 })
await app.listen({ port: 0, host: '127.0.0.1' })
const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
const api = async (p: string, init?: RequestInit): Promise<any> => {
  const r = await fetch(url + p, init)
  const body = await r.json()
  if (!r.ok) throw new Error(`${init?.method ?? 'GET'} ${p}: ${r.status} ${JSON.stringify(body)}`)
  return body
}

async function runJob(s: Shot): Promise<string> {
  const previous = kept[s.task]
  if (previous && !opts.fresh) {
    const j = (await fetch(`${url}/v1/jobs/${previous}`).then((r) => (r.ok ? r.json() : undefined))) as { state: string } | undefined
    if (j?.state === 'succeeded') {
      console.log(`${s.task}: reusing finished job ${previous} (--fresh to run again)`)
      return previous
    }
  }
  const file = path.join(opts.data, s.file)
  const form = new FormData()
  form.append('files', new Blob([readFileSync(file)]), path.basename(file))
  const up = await api('/v1/scans', { method: 'POST', body: form })
  const scan = up.scans[0]
  console.log(`${s.task}: uploaded ${path.basename(file)} (${scan.summary.size.join('×')})`)
  const job = await api('/v1/jobs', { method: 'POST', body: JSON.stringify({ scanId: scan.id, task: s.task, params: s.params }), headers: { 'content-type': 'application/json' } })
  const t0 = Date.now()
  const end = t0 + Number(opts.timeoutMin) * 60_000
  let last = ''
  for (;;) {
    const j = await api(`/v1/jobs/${job.id}`)
    const line = `${j.state} ${j.stage ?? ''} ${Math.round(j.progress * 100)}%`
    if (line !== last) console.log(`${s.task}: ${line} (${((Date.now() - t0) / 1000).toFixed(0)} s)`)
    last = line
    if (j.state === 'succeeded') break
    if (j.state === 'failed' || j.state === 'cancelled') throw new Error(`${s.task} job ${j.state}: ${JSON.stringify(j.error)}`)
    if (Date.now() > end) throw new Error(`${s.task} job still ${j.state} after ${opts.timeoutMin} min`)
    await new Promise((r) => setTimeout(r, 2000))
  }
  kept[s.task] = job.id
  writeFileSync(keptFile, JSON.stringify(kept, null, 2))
  return job.id
}

async function capture(s: Shot, jobId: string): Promise<void> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 720 }, deviceScaleFactor: 1 })
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`))
    await page.goto(`${url}/#job=${jobId}`)
    await page.waitForFunction(() => (globalThis as any).document.body.dataset.state === 'ready', undefined, { timeout: 120_000 })
    // Strings, not functions: tsx would inject helpers the page does not have.
    const where = await page.evaluate(`globalThis.raddiffViewer.focus(${JSON.stringify(s.plane)}, ${JSON.stringify(s.focus)}, ${JSON.stringify(s.shiftLps ?? [0, 0, 0])}, ${s.zoom ?? 1})`)
    await page.evaluate('globalThis.raddiffViewer.settled()')
    mkdirSync(path.dirname(path.join(repoRoot, s.out)), { recursive: true })
    await page.screenshot({ path: path.join(repoRoot, s.out) })
    console.log(`${s.task}: ${s.out} (${JSON.stringify(where)})`)
  } finally {
    await browser.close()
  }
}

try {
  for (const s of shots) await capture(s, await runJob(s))
} finally {
  await app.raddiff.pool.drain(5_000).catch(() => undefined)
  await app.close()
}
