import { ApiError, cancelJob, fetchScanVolume, fetchVolume, followJob, getJob, getScan, listModels, listOutputs, setToken, startJob, uploadFiles, type Job, type ModelInfo, type Output, type RawVolume, type Scan } from './api.js'
import { worldToIndex } from './geometry.js'
import { ResultViewer, type MaskMode, type Plane, type ViewerVolumes } from './viewports.js'
import { initSegLoader } from './seg-loader.js'
import type { PreviewBackend, PreviewResult } from './preview.js'
import { TASK_OUTPUTS, type TaskOutputs } from '../../src/pipelines/task-outputs.js'

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T

const state: { scans: Scan[]; scan?: Scan; job?: Job; stream?: { close(): void }; viewer?: ResultViewer; shownScan?: string } = { scans: [] }

function showError(e: unknown): void {
  const box = $('error')
  const msg = e instanceof ApiError ? `${e.message}\n(${e.code})` : e instanceof Error ? e.message : String(e)
  box.textContent = msg
  box.hidden = false
}
const clearError = () => ($('error').hidden = true)
const setStatus = (s: string) => ($('job-status').textContent = s)

$<HTMLInputElement>('token').value = localStorage.getItem('raddiff-token') ?? ''
setToken($<HTMLInputElement>('token').value)
$<HTMLInputElement>('token').addEventListener('change', (e) => {
  const t = (e.target as HTMLInputElement).value
  localStorage.setItem('raddiff-token', t)
  setToken(t)
})

// ── upload ────────────────────────────────────────────────────────────────────────────────────
async function upload(files: { file: File; name: string }[]): Promise<void> {
  if (files.length === 0) return
  clearError()
  setStatus(`uploading ${files.length} file${files.length > 1 ? 's' : ''}…`)
  try {
    const r = await uploadFiles(files)
    state.scans = r.scans
    renderSeries(r.problems)
    selectScan(r.scans[0])
    setStatus(`${r.scans.length} series found`)
  } catch (e) {
    setStatus('upload failed')
    showError(e)
  }
}

function renderSeries(problems: { name: string; message: string }[]): void {
  const ul = $('series-list')
  ul.innerHTML = ''
  for (const s of state.scans) {
    const li = document.createElement('li')
    li.dataset.scan = s.id
    const m = s.summary
    const title = m.seriesDescription ? `${m.seriesNumber ?? ''} ${m.seriesDescription}` : m.source
    li.innerHTML = '<div class="title"></div><div class="meta"></div>'
    li.querySelector('.title')!.textContent = `${m.modality} · ${title}`
    li.querySelector('.meta')!.textContent =
      `${m.format} · ${m.size.join('×')} · ${m.spacing.map((x) => +x.toFixed(2)).join('×')} mm · ${m.voxelType}${m.files > 1 ? ` · ${m.files} files` : ''}${m.transferSyntax ? ` · ${m.transferSyntax.name}` : ''}`
    for (const w of m.warnings) {
      const d = document.createElement('div')
      d.className = 'warn'
      d.textContent = w
      li.appendChild(d)
    }
    li.onclick = () => selectScan(s)
    ul.appendChild(li)
  }
  for (const p of problems) {
    const li = document.createElement('li')
    li.className = 'warn'
    li.textContent = `${p.name}: ${p.message}`
    ul.appendChild(li)
  }
}

function selectScan(s: Scan | undefined): void {
  state.scan = s
  for (const li of $('series-list').querySelectorAll('li[data-scan]')) li.classList.toggle('selected', (li as HTMLElement).dataset.scan === s?.id)
  $<HTMLButtonElement>('start').disabled = !s
  $<HTMLButtonElement>('preview').disabled = !s
}

const withName = (f: File) => ({ file: f, name: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name })
for (const id of ['file-input', 'folder-input']) {
  $<HTMLInputElement>(id).addEventListener('change', (e) => {
    const input = e.target as HTMLInputElement
    void upload([...(input.files ?? [])].map(withName))
    input.value = ''
  })
}

/** Dropped folders arrive as directory entries: walk them (readEntries answers in batches). */
async function entryFiles(entry: FileSystemEntry, prefix = ''): Promise<{ file: File; name: string }[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej))
    return [{ file, name: prefix + file.name }]
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader()
  const out: { file: File; name: string }[] = []
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej))
    if (batch.length === 0) return out
    for (const e of batch) out.push(...(await entryFiles(e, `${prefix}${entry.name}/`)))
  }
}

const dz = $('dropzone')
dz.addEventListener('dragover', (e) => {
  e.preventDefault()
  dz.classList.add('over')
})
dz.addEventListener('dragleave', () => dz.classList.remove('over'))
dz.addEventListener('drop', async (e) => {
  e.preventDefault()
  dz.classList.remove('over')
  const items = [...(e.dataTransfer?.items ?? [])].map((i) => i.webkitGetAsEntry?.()).filter((x): x is FileSystemEntry => !!x)
  const files = items.length ? (await Promise.all(items.map((i) => entryFiles(i)))).flat() : [...(e.dataTransfer?.files ?? [])].map(withName)
  await upload(files)
})

// ── jobs ──────────────────────────────────────────────────────────────────────────────────────
function params(task: string): Record<string, unknown> {
  const p: Record<string, unknown> = {}
  const num = (id: string) => {
    const v = $<HTMLInputElement>(id).value.trim()
    return v === '' ? undefined : Number(v)
  }
  if (num('p-steps') !== undefined) p.steps = num('p-steps')
  if (num('p-seed') !== undefined) p.seed = num('p-seed')
  if ((num('p-samples') ?? 1) > 1) p.samples = num('p-samples')
  if (task === 'superres') p.scale = Number($<HTMLSelectElement>('p-scale').value)
  if (task === 'anomaly') {
    const polarity = $<HTMLSelectElement>('p-polarity').value
    if (polarity) p.polarity = polarity
    const method = $<HTMLSelectElement>('p-method').value
    if (method) p.method = method
    if (num('p-depth') !== undefined) p.depth = num('p-depth')
  }
  return p
}

/** Options that belong to one task are shown only while that task is chosen. */
function showTaskOptions(): void {
  const task = $<HTMLSelectElement>('task').value
  for (const el of document.querySelectorAll<HTMLElement>('[data-for]')) el.hidden = el.dataset.for !== task
}
$('task').addEventListener('change', showTaskOptions)
showTaskOptions()

function setProgress(fraction: number, text: string): void {
  $('progress-bar').style.width = `${Math.round(fraction * 100)}%`
  setStatus(text)
}

$('start').addEventListener('click', async () => {
  if (!state.scan) return
  clearError()
  const task = $<HTMLSelectElement>('task').value
  try {
    const job = await startJob(state.scan.id, task, params(task))
    state.job = job
    document.body.dataset.job = job.id
    $<HTMLButtonElement>('cancel').disabled = false
    $<HTMLButtonElement>('start').disabled = true
    setProgress(0, `${task}: queued`)
    const s = followJob(job.id, (u) => setProgress(u.progress, `${task}: ${u.state}${u.stage ? ` · ${u.stage}` : ''} · ${Math.round(u.progress * 100)}%`))
    state.stream = s
    const end = await s.done
    const requested = performance.now()
    $<HTMLButtonElement>('cancel').disabled = true
    $<HTMLButtonElement>('start').disabled = false
    // The original and the output list do not wait for the job record: one round trip, not three.
    const early = end.state === 'succeeded' ? prefetch(job.id) : undefined
    const full = await getJob(job.id)
    state.job = full
    if (early) {
      setProgress(1, `${task}: done · loading volumes…`)
      await showResults(full, requested, early)
      setStatus(`${task}: done`)
    } else if (end.state === 'cancelled') {
      setProgress(0, `${task}: cancelled`)
    } else {
      setProgress(0, `${task}: failed`)
      showError(new ApiError(full.error?.code ?? 'FAILED', full.error?.message ?? 'the job failed', 0))
    }
  } catch (e) {
    $<HTMLButtonElement>('cancel').disabled = true
    $<HTMLButtonElement>('start').disabled = !state.scan
    showError(e)
  }
})

$('cancel').addEventListener('click', async () => {
  if (!state.job) return
  try {
    await cancelJob(state.job.id)
    setStatus('cancelling…')
  } catch (e) {
    showError(e)
  }
})

// ── results ───────────────────────────────────────────────────────────────────────────────────
/** |enhanced − original| when both share a grid: the change a denoiser made, as an overlay. */
function difference(a: RawVolume, b: RawVolume): RawVolume | undefined {
  if (a.size.some((n, i) => n !== b.size[i])) return undefined
  const data = new Float32Array(a.data.length)
  let hi = 0
  for (let i = 0; i < data.length; i++) {
    data[i] = Math.abs(a.data[i] - b.data[i])
    if (data[i] > hi) hi = data[i]
  }
  return { ...a, role: 'difference', data, range: [0, hi] }
}

function prefetch(jobId: string): { outputs: Promise<Output[]>; original: Promise<RawVolume> } {
  const p = { outputs: listOutputs(jobId), original: fetchVolume(jobId, 'original') }
  // Awaited in showResults; a failure there is the one reported.
  p.outputs.catch(() => undefined)
  p.original.catch(() => undefined)
  return p
}

async function showResults(job: Job, requested: number, early = prefetch(job.id)): Promise<void> {
  const roles = new Set((await early.outputs).map((o) => o.role))
  const outputs = (TASK_OUTPUTS as Record<string, TaskOutputs | undefined>)[job.task]
  const [enhRole, enhLabel] = outputs ? [outputs.enhanced, outputs.label] : ['denoised', 'Enhanced']
  const want = [enhRole, 'heatmap', 'std'].filter((r) => roles.has(r))
  const got = Object.fromEntries(await Promise.all([['original', early.original] as const, ...want.map((r) => [r, fetchVolume(job.id, r)] as const)].map(async ([r, v]) => [r, await v] as const))) as Record<string, RawVolume>
  performance.mark('raddiff:fetched')
  const heat = got.heatmap ?? (got[enhRole] ? difference(got[enhRole], got.original) : undefined)
  const model = job.provenance?.model
  const modelText = model ? `${model.name} v${model.version}` : 'unknown model'
  const vols: ViewerVolumes = {
    original: got.original,
    enhanced: got[enhRole],
    heatmap: heat,
    std: got.std,
    heatmapKind: got.heatmap ? 'heatmap' : 'difference',
    labels: {
      original: got.original.modality && got.original.modality !== 'OT' ? `Original ${got.original.modality}` : 'Original',
      enhanced: !got[enhRole] && job.task === 'anomaly' ? 'No pseudo-healthy image (intensity method)' : got[enhRole] ? `${enhLabel}${job.task === 'superres' ? ` ×${(job.provenance as { params?: { scale?: number } })?.params?.scale ?? ''}` : ''}` : 'Original (no enhanced output)',
      overlay: got.heatmap ? 'Original + anomaly heatmap' : heat ? 'Original + |enhanced − original|' : 'Original (no heatmap)',
    },
  }
  const anomaly = job.task === 'anomaly' ? anomalyChoice(job.report) : undefined
  $('model-info').textContent = `${job.task} · model ${modelText}${anomaly ? ` · ${anomaly.text}` : ''}${job.provenance?.steps ? ` · ${job.provenance.steps} steps` : ''} · seed ${job.provenance?.seed ?? '—'}`
  $('model-info').title = anomaly?.calibration ?? ''
  $('std-toggle').hidden = !got.std
  // |enhanced − original| is speckle where a denoiser worked: an outline of it is clutter.
  if (!got.heatmap) $<HTMLSelectElement>('mask-mode').value = 'none'
  const v = await viewer()
  state.shownScan = job.scanId
  v.timing = { requested }
  v.setOverlay({ mask: $<HTMLSelectElement>('mask-mode').value as MaskMode }, false)
  await v.show(job.id, vols)
  // The overlay's threshold starts at the job's own: its outline is then the mask the job wrote.
  if (anomaly && got.heatmap) {
    const [lo, hi] = v.heatRange()
    const f = Math.min(1, Math.max(0, (anomaly.threshold - lo) / (hi - lo)))
    $<HTMLInputElement>('threshold').value = String(Math.round(f * 100))
    v.setOverlay({ threshold: f })
  }
  // After show: the first viewer creates the notice elements only then.
  for (const n of document.querySelectorAll('.vp-notice')) n.textContent = `${modelText} · NOT FOR CLINICAL USE`
  syncThresholdLabel()
}

/** The method and mask threshold an anomaly job used (its report), for the header line. */
function anomalyChoice(report: Record<string, unknown> | null | undefined): { text: string; threshold: number; calibration?: string } | undefined {
  const method = report?.method
  const threshold = report?.threshold
  if (typeof method !== 'string' || typeof threshold !== 'number') return undefined
  const source = report?.thresholdSource === 'card' ? 'calibrated' : "scan's 99th percentile"
  const calibration = typeof report?.calibration === 'string' ? report.calibration : undefined
  return { text: `method ${method}${report?.methodSource === 'card' ? ' (model default)' : ''} · mask threshold ${threshold.toPrecision(3)} (${source})`, threshold, calibration }
}

let viewerPromise: Promise<ResultViewer> | undefined
function viewer(): Promise<ResultViewer> {
  viewerPromise ??= ResultViewer.create({
    original: $<HTMLDivElement>('vp-original'),
    enhanced: $<HTMLDivElement>('vp-enhanced'),
    overlay: $<HTMLDivElement>('vp-overlay'),
  }).then((v) => {
    v.onProbe = (t) => ($('probe').textContent = t)
    state.viewer = v
    ;(window as unknown as { raddiffViewer: ResultViewer }).raddiffViewer = v
    return v
  })
  return viewerPromise
}

// ── in-browser preview ────────────────────────────────────────────────────────────────────────
let models: ModelInfo[] = []
/** Models the preview can run: verified files of single-channel unconditional models, denoisers first. */
async function loadPreviewModels(): Promise<void> {
  models = (await listModels()).filter((m) => m.verified && m.card.channels === 1 && m.card.cond_channels === 0)
  models.sort((a, b) => Number(b.tasks.includes('denoise')) - Number(a.tasks.includes('denoise')))
  const sel = $<HTMLSelectElement>('preview-model')
  const keep = sel.value
  sel.innerHTML = ''
  for (const m of models) sel.add(new Option(`${m.name} v${m.version} (${m.tasks.join('/')}, ${m.modality})`, m.name))
  if (models.some((m) => m.name === keep)) sel.value = keep
  if (models.length === 0) sel.add(new Option('(no model the preview can run)', ''))
}
// Listing needs the token when the service has them: a failure here is retried on the first preview.
void loadPreviewModels().catch(() => undefined)

const scanVolumes = new Map<string, Promise<RawVolume>>()
function scanVolume(id: string): Promise<RawVolume> {
  let p = scanVolumes.get(id)
  if (!p) {
    scanVolumes.set(id, (p = fetchScanVolume(id)))
    p.catch(() => scanVolumes.delete(id))
  }
  return p
}

const AXIS: Record<Plane, number> = { sagittal: 0, coronal: 1, axial: 2 }
const ANATOMICAL: Plane[] = ['sagittal', 'coronal', 'axial']

/**
 * The viewer plane that shows slices across voxel axis `axis`: the LPS axis its direction runs
 * closest to. The denoise task slices the voxel grid, which need not be stored axially.
 */
function anatomicalPlane(vol: RawVolume, axis: number): Plane {
  const c = [0, 1, 2].map((r) => Math.abs(vol.direction[3 * r + axis]))
  return ANATOMICAL[c.indexOf(Math.max(...c))]
}

interface ShownPreview extends PreviewResult {
  /** The viewer plane showing the previewed slice, and whether it is the one in view now. */
  shows: Plane
  inView: boolean
}

/** Input | preview side by side, one grey window (the input slice's 1st–99th percentile). */
function drawPreview(r: ShownPreview): void {
  const c = $<HTMLCanvasElement>('preview-canvas')
  c.width = 2 * r.W
  c.height = r.H
  const sorted = Float32Array.from(r.input).sort()
  const lo = sorted[Math.floor(0.01 * (sorted.length - 1))]
  const hi = Math.max(sorted[Math.floor(0.99 * (sorted.length - 1))], lo + 1e-6)
  const img = new ImageData(2 * r.W, r.H)
  for (let y = 0; y < r.H; y++)
    for (let x = 0; x < 2 * r.W; x++) {
      const v = x < r.W ? r.input[y * r.W + x] : r.output[y * r.W + x - r.W]
      const g = Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo))))
      const o = 4 * (y * 2 * r.W + x)
      img.data[o] = img.data[o + 1] = img.data[o + 2] = g
      img.data[o + 3] = 255
    }
  c.getContext('2d')!.putImageData(img, 0, 0)
  $('preview-caption').textContent =
    `PREVIEW · NOT FOR CLINICAL USE\ninput | denoised (mean) · ${r.model} · ${r.plane} slice ${r.slice} of the voxel grid = a ${r.shows} slice${r.inView ? ', the one in view' : ` (the view is not ${r.shows}: switch to see it)`} · t* ${r.tStar.toFixed(1)} · ${r.backend} · ${r.sliceMs.toFixed(0)} ms per slice`
  $('preview-figure').hidden = false
}

$('preview').addEventListener('click', async () => {
  const scan = state.scan
  if (!scan) return
  clearError()
  const btn = $<HTMLButtonElement>('preview')
  btn.disabled = true
  delete document.body.dataset.preview
  try {
    if (models.length === 0) await loadPreviewModels()
    const m = models.find((x) => x.name === $<HTMLSelectElement>('preview-model').value)
    if (!m) throw new ApiError('MODEL_NOT_FOUND', 'no installed model the preview can run (single-channel, unconditional, verified)', 0)
    setStatus('preview: loading the scan…')
    const vol = await scanVolume(scan.id)
    const v = await viewer()
    // Without a job on this scan in view, show the scan itself: the preview runs on the slice in view.
    if (state.shownScan !== scan.id) {
      await v.show(`scan-${scan.id}`, { original: vol, heatmapKind: 'difference', labels: { original: 'Original', enhanced: 'Original (no job run yet)', overlay: 'Original' } })
      state.shownScan = scan.id
      for (const n of document.querySelectorAll('.vp-notice')) n.textContent = 'NOT FOR CLINICAL USE'
    }
    const centre = v.viewCentre()
    const axis = AXIS[m.card.plane]
    const slice = centre ? Math.round(worldToIndex(vol, centre)[axis]) : vol.size[axis] >> 1
    setStatus('preview: running the model in the browser…')
    const { previewDenoiseSlice } = await import('./preview.js')
    const shows = anatomicalPlane(vol, axis)
    const r: ShownPreview = { ...(await previewDenoiseSlice(vol, m, slice, $<HTMLSelectElement>('preview-backend').value as PreviewBackend)), shows, inView: shows === v.viewPlane }
    drawPreview(r)
    ;(window as unknown as { raddiffPreview: ShownPreview }).raddiffPreview = r
    // Tests wait for this mark, not for time.
    document.body.dataset.preview = `${scan.id}:${r.slice}`
    setStatus(`preview: ${r.backend} · ${r.sliceMs.toFixed(0)} ms`)
  } catch (e) {
    setStatus('preview failed')
    document.body.dataset.preview = 'error'
    showError(e)
  } finally {
    btn.disabled = !state.scan
  }
})

// ── toolbar ───────────────────────────────────────────────────────────────────────────────────
const withViewer = (f: (v: ResultViewer) => void) => () => state.viewer && f(state.viewer)

function syncThresholdLabel(): void {
  const v = state.viewer
  if (v) $('threshold-value').textContent = v.thresholdValue().toPrecision(3)
}

$('wl-preset').addEventListener('change', withViewer((v) => v.applyPreset($<HTMLSelectElement>('wl-preset').value)))
$('invert').addEventListener('click', withViewer((v) => $('invert').classList.toggle('active', v.toggleInvert())))
$('reset').addEventListener('click', withViewer((v) => v.resetCamera()))
for (const b of document.querySelectorAll<HTMLButtonElement>('[data-plane]')) {
  b.addEventListener('click', withViewer((v) => {
    for (const o of document.querySelectorAll('[data-plane]')) o.classList.toggle('active', o === b)
    v.setPlane(b.dataset.plane as Plane)
  }))
}
$('colormap').addEventListener('change', withViewer((v) => v.setOverlay({ colormap: $<HTMLSelectElement>('colormap').value })))
$('opacity').addEventListener('input', withViewer((v) => v.setOverlay({ opacity: Number($<HTMLInputElement>('opacity').value) / 100 })))
$('threshold').addEventListener('input', withViewer((v) => {
  v.setOverlay({ threshold: Number($<HTMLInputElement>('threshold').value) / 100 })
  syncThresholdLabel()
}))
$('mask-mode').addEventListener('change', withViewer((v) => v.setOverlay({ mask: $<HTMLSelectElement>('mask-mode').value as MaskMode })))
$('show-std').addEventListener('change', withViewer((v) => v.setOverlay({ showStd: $<HTMLInputElement>('show-std').checked })))
$('fade').addEventListener('input', withViewer((v) => v.setFade(Number($<HTMLInputElement>('fade').value) / 100)))

let flicker: number | undefined
$('flicker').addEventListener('click', withViewer((v) => {
  if (flicker !== undefined) {
    clearInterval(flicker)
    flicker = undefined
    v.setFade(Number($<HTMLInputElement>('fade').value) / 100)
  } else {
    let on = false
    // ~2 Hz: fast enough to see change, slow enough to read each frame.
    flicker = window.setInterval(() => v.setFade((on = !on) ? 1 : 0), 450)
  }
  $('flicker').classList.toggle('active', flicker !== undefined)
}))

// ── a finished job by link: /#job=<id> ─────────────────────────────────────────────────────────
async function openFromHash(): Promise<void> {
  const id = /(?:^#|&)job=([\w-]{1,200})/.exec(location.hash)?.[1]
  if (!id) return
  clearError()
  try {
    const job = await getJob(id)
    state.job = job
    document.body.dataset.job = job.id
    $<HTMLSelectElement>('task').value = job.task
    showTaskOptions()
    state.scans = [await getScan(job.scanId)]
    renderSeries([])
    selectScan(state.scans[0])
    if (job.state !== 'succeeded') {
      setStatus(`${job.task}: ${job.state}`)
      if (job.error) showError(new ApiError(job.error.code, job.error.message, 0))
      return
    }
    const requested = performance.now()
    setProgress(1, `${job.task}: done · loading volumes…`)
    await showResults(job, requested)
    setStatus(`${job.task}: done`)
  } catch (e) {
    showError(e)
  }
}
initSegLoader({ viewer: () => state.viewer, showError, clearError })

window.addEventListener('hashchange', () => void openFromHash())
void openFromHash()
