import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixture, repoRoot } from '../service/helpers.js'
import { derivedScan } from './derived-scan.js'
import { hasChromium, openViewer, runJobInPage, setRange, startJobInPage, uploadInPage, waitShown, type Session } from './harness.js'
import { BLOB } from './stub-task.js'

const GOLDEN = path.join(repoRoot, 'tests/e2e/golden')
// RADDIFF_UPDATE_GOLDEN=1 rewrites the goldens (look at them before committing).
const UPDATE = process.env.RADDIFF_UPDATE_GOLDEN === '1'
/** Mean absolute difference per channel (0–255) allowed between a screenshot and its golden. */
const TOLERANCE = 3

function meanAbsDiff(a: PNG, b: PNG): number {
  expect([a.width, a.height]).toEqual([b.width, b.height])
  let s = 0
  for (let i = 0; i < a.data.length; i++) if (i % 4 !== 3) s += Math.abs(a.data[i] - b.data[i])
  return s / ((a.data.length / 4) * 3)
}

/** Share of image-area pixels that are strongly coloured (the overlay over a grey image); the colour bar and captions are left out. */
function colourFraction(p: PNG, strength = false): number {
  let n = 0
  let total = 0
  for (let y = Math.round(p.height * 0.15); y < p.height * 0.9; y++)
    for (let x = Math.round(p.width * 0.05); x < p.width * 0.8; x++) {
      const i = (y * p.width + x) * 4
      total++
      const r = Math.max(p.data[i], p.data[i + 1], p.data[i + 2]) - Math.min(p.data[i], p.data[i + 1], p.data[i + 2])
      if (strength) n += Math.max(0, r)
      else if (r > 60) n++
    }
  return n / total
}

/** A viewport as on screen; the overlay with the colour bar's column beside it. */
async function shot(s: Session, vp: string): Promise<PNG> {
  if (vp !== 'overlay') return PNG.sync.read(await s.page.locator(`.vp[data-vp="${vp}"]`).screenshot())
  const a = (await s.page.locator('.vp[data-vp="overlay"]').boundingBox())!
  const b = (await s.page.locator('.colorbar-col').boundingBox())!
  return PNG.sync.read(await s.page.screenshot({ clip: { x: a.x, y: a.y, width: b.x + b.width - a.x, height: a.height } }))
}

/** The middle of a viewport: the image without captions, orientation letters or colour bar. */
async function core(s: Session, vp: string): Promise<PNG> {
  const p = await shot(s, vp)
  const [x0, x1, y0, y1] = [0.15, 0.75, 0.15, 0.85].map((f, i) => Math.round(f * (i < 2 ? p.width : p.height)))
  const out = new PNG({ width: x1 - x0, height: y1 - y0 })
  PNG.bitblt(p, out, x0, y0, x1 - x0, y1 - y0, 0, 0)
  return out
}

/** Waits for interaction to pause and the full-resolution frame (the viewer scrolls at a lower one). */
const settle = (s: Session) => s.page.evaluate('globalThis.raddiffViewer.settled()')
const texts = (s: Session, vp: string, sel: string) => s.page.locator(`.vp[data-vp="${vp}"] ${sel}`).allTextContents()

type Box = { left: number; right: number; top: number; bottom: number }
const overlaps = (a: Box, b: Box) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom

/**
 * Page boxes of the overlay viewport's image (the volume's outer voxel edges on its canvas, clipped
 * to the canvas), of its canvas, and of the colour bar and its labels.
 */
const overlayBoxes = (s: Session) =>
  s.page.evaluate(`(() => {
    const v = globalThis.raddiffViewer, vp = v.vp('overlay'), o = v.vols.original, d = o.direction
    const r = v.els.overlay.getBoundingClientRect()
    const xs = [], ys = []
    for (const c of [0, 1, 2, 3, 4, 5, 6, 7].map((b) => [0, 1, 2].map((a) => ((b >> a) & 1 ? o.size[a] - 0.5 : -0.5)))) {
      const w = [0, 1, 2].map((q) => o.origin[q] + d[3 * q] * o.spacing[0] * c[0] + d[3 * q + 1] * o.spacing[1] * c[1] + d[3 * q + 2] * o.spacing[2] * c[2])
      const [x, y] = vp.worldToCanvas(w)
      xs.push(x)
      ys.push(y)
    }
    const box = (e) => { const b = e.getBoundingClientRect(); return { left: b.left, right: b.right, top: b.top, bottom: b.bottom } }
    return {
      canvas: box(v.els.overlay),
      image: { left: r.left + Math.max(0, Math.min(...xs)), right: r.left + Math.min(r.width, Math.max(...xs)), top: r.top + Math.max(0, Math.min(...ys)), bottom: r.top + Math.min(r.height, Math.max(...ys)) },
      bar: box(document.getElementById('colorbar')),
      labels: box(document.querySelector('.colorbar-labels')),
      barShown: !document.getElementById('colorbar').hidden,
    }
  })()`) as Promise<Record<'canvas' | 'image' | 'bar' | 'labels', Box> & { barShown: boolean }>

/** The voxel index each viewport's caption names (original, enhanced, overlay). */
const readouts = async (s: Session) =>
  Promise.all(['original', 'enhanced', 'overlay'].map(async (v) => /ijk (-?\d+),(-?\d+),(-?\d+)/.exec((await texts(s, v, '.vp-info'))[0])!.slice(1).map(Number)))

/** Wheel events on the original viewport, as a mouse wheel sends them (the stack-scroll tool moves one slice each, linked cameras follow). */
const wheel = (s: Session, steps: number) =>
  s.page.evaluate((n) => {
    const el = (globalThis as any).document.getElementById('vp-original')
    const r = el.getBoundingClientRect()
    for (let i = 0; i < Math.abs(n); i++)
      el.dispatchEvent(new (globalThis as any).WheelEvent('wheel', { deltaY: Math.sign(n) * 100, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true, cancelable: true }))
  }, steps)

/** Pixels of the mask's cyan (0, 230, 255 outline; 0, 220, 255 label) that no hot-map colour has. */
function cyanCount(p: PNG): number {
  let n = 0
  for (let i = 0; i < p.data.length; i += 4) if (p.data[i + 2] > p.data[i] + 60 && p.data[i + 1] > p.data[i] + 60) n++
  return n
}

function compareGolden(name: string, png: PNG): number {
  const file = path.join(GOLDEN, `${name}.png`)
  if (UPDATE || !existsSync(file)) {
    writeFileSync(file, PNG.sync.write(png))
    if (!UPDATE) throw new Error(`golden ${name}.png was missing and has been written; re-run`)
  }
  return meanAbsDiff(png, PNG.sync.read(readFileSync(file)))
}

// Each test waits on page events only; the bound is for a hung browser, not for a slow one (one test
// runs two jobs on 120×120×90 scans and scrolls through them).
describe.skipIf(!hasChromium)('viewer in headless Chromium against the real service (stub task runner)', { timeout: 600_000 }, () => {
  let s: Session
  let jobId: string

  // Loading the 8 MB bundle and starting Chromium took over 2 min on a 2-core machine at load 35:
  // the bound is for a hung browser, not for a slow one.
  beforeAll(async () => {
    s = await openViewer({ width: 1500, height: 640 })
  }, 600_000)
  afterAll(async () => {
    await s?.close()
  })

  it('uploads through the file input, shows the header, runs a job with live progress and draws three viewports', async () => {
    const progress: string[] = []
    s.page.on('request', (r) => r.url().includes('/events') && progress.push(r.url()))
    jobId = await runJobInPage(s.page, fixture('nifti/ixi-t1-small.nii.gz'))
    expect(progress.length).toBeGreaterThan(0)
    // Header summary from the service (nibabel: 60×60×45, 4 mm).
    expect(await s.page.textContent('#series-list li.selected')).toContain('60×60×45')
    expect(await s.page.textContent('#job-status')).toContain('done')
    const job = await (await fetch(`${s.server.url}/v1/jobs/${jobId}`)).json() as any
    expect(job.state).toBe('succeeded')
    // Model and notice on every view.
    expect(await s.page.textContent('#model-info')).toContain('e2e-stub v1.0.0')
    const notices = await s.page.locator('.vp-notice').allTextContents()
    expect(notices).toHaveLength(3)
    for (const n of notices) expect(n).toMatch(/e2e-stub v1\.0\.0 · NOT FOR CLINICAL USE/)
    expect(await s.page.textContent('#banner')).toBe('NOT FOR CLINICAL USE')
    // Orientation letters for an axial view of LPS data: anterior up, patient right on screen left.
    const o = await s.page.locator('.vp[data-vp="original"] .vp-orient').allTextContents()
    expect(o).toEqual(['A', 'P', 'R', 'L'])
  })

  it('matches the golden images of the three viewports', async () => {
    for (const vp of ['original', 'enhanced', 'overlay']) {
      const d = compareGolden(`anomaly-${vp}`, await shot(s, vp))
      expect(d, vp).toBeLessThan(TOLERANCE)
    }
  })

  it('threshold and opacity change the overlay, and only the overlay', async () => {
    const before = await shot(s, 'overlay')
    const redBefore = colourFraction(before)
    expect(redBefore).toBeGreaterThan(0.005)
    await setRange(s.page, '#threshold', 42)
    const high = await shot(s, 'overlay')
    // The blob is a Gaussian of peak 1: a higher threshold leaves a smaller disc (still visible on this slice).
    expect(colourFraction(high)).toBeLessThan(redBefore * 0.8)
    expect(colourFraction(high)).toBeGreaterThan(0.001)
    expect(meanAbsDiff(before, high)).toBeGreaterThan(0.3)
    expect(compareGolden('anomaly-overlay-threshold42', high)).toBeLessThan(TOLERANCE)

    await setRange(s.page, '#opacity', 0)
    const clear = await shot(s, 'overlay')
    // Only the thin mask outline keeps colour.
    expect(colourFraction(clear)).toBeLessThan(colourFraction(before) * 0.2)
    await setRange(s.page, '#opacity', 100)
    await setRange(s.page, '#threshold', 30)
    const opaque = await shot(s, 'overlay')
    // Same disc, stronger colour: mean chroma grows with opacity.
    expect(colourFraction(opaque, true)).toBeGreaterThan(colourFraction(before, true) * 1.2)
    expect(compareGolden('anomaly-overlay-opacity100', opaque)).toBeLessThan(TOLERANCE)
  })

  it('syncs window / level dragged in one viewport to the linked ones', async () => {
    const wl = async () => (await Promise.all(['original', 'enhanced', 'overlay'].map((v) => texts(s, v, '.vp-info')))).map((t) => /W (\S+) L (\S+)/.exec(t[0])!.slice(1).join('/'))
    const before = await wl()
    const enhBefore = await core(s, 'enhanced')
    const box = (await s.page.locator('#vp-original').boundingBox())!
    await s.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2)
    await s.page.mouse.down()
    await s.page.mouse.move(box.x + box.width / 2 + 60, box.y + box.height / 2 + 40, { steps: 6 })
    await s.page.mouse.up()
    await settle(s)
    const after = await wl()
    expect(after[0]).not.toBe(before[0])
    expect(after[1]).toBe(after[0])
    expect(after[2]).toBe(after[0])
    // The enhanced image itself is redrawn with the new window, not only its caption.
    expect(meanAbsDiff(enhBefore, await core(s, 'enhanced'))).toBeGreaterThan(2)
    await s.page.selectOption('#wl-preset', 'brain')
    await s.page.selectOption('#wl-preset', 'auto')
    await settle(s)
    expect(await wl()).toEqual(before)
  })

  it('switches to coronal and sagittal with orientation letters from the geometry', async () => {
    const axial = await core(s, 'original')
    // [top, bottom, left, right]; patient right on screen left (radiological convention).
    const expected: Record<string, string[]> = { coronal: ['S', 'I', 'R', 'L'], sagittal: ['S', 'I', 'A', 'P'] }
    for (const plane of ['coronal', 'sagittal']) {
      await s.page.click(`[data-plane="${plane}"]`)
      await settle(s)
      for (const vp of ['original', 'enhanced', 'overlay']) expect(await texts(s, vp, '.vp-orient'), `${plane} ${vp}`).toEqual(expected[plane])
      expect((await texts(s, 'original', '.vp-info'))[0]).toMatch(new RegExp(`^${plane} `))
      expect(meanAbsDiff(axial, await core(s, 'original')), plane).toBeGreaterThan(5)
    }
    await s.page.click('[data-plane="axial"]')
    await settle(s)
    expect(await texts(s, 'original', '.vp-orient')).toEqual(['A', 'P', 'R', 'L'])
    expect(meanAbsDiff(axial, await core(s, 'original'))).toBeLessThan(1)
  })

  it('fades and flickers the enhanced viewport between enhanced and original', async () => {
    const enhanced = await core(s, 'enhanced')
    const original = await core(s, 'original')
    // The stub's enhancement is a 3×3×3 box blur: visible against the original.
    expect(meanAbsDiff(enhanced, original)).toBeGreaterThan(2)
    await setRange(s.page, '#fade', 100)
    await settle(s)
    const faded = await core(s, 'enhanced')
    expect(meanAbsDiff(faded, original)).toBeLessThan(1)
    await setRange(s.page, '#fade', 50)
    await settle(s)
    const half = await core(s, 'enhanced')
    expect(meanAbsDiff(half, original)).toBeGreaterThan(0.5)
    expect(meanAbsDiff(half, enhanced)).toBeGreaterThan(0.5)
    await setRange(s.page, '#fade', 0)
    await settle(s)
    expect(meanAbsDiff(await core(s, 'enhanced'), enhanced)).toBeLessThan(1)

    await s.page.click('#flicker')
    // Each flip rewrites the caption: wait for both captions on each frame, not on a clock.
    const caption = (text: string) =>
      s.page.waitForFunction((t) => (globalThis as any).document.querySelector('.vp[data-vp="enhanced"] .vp-label').textContent === t, text, { polling: 'raf' })
    await caption('Original (fade 100%)')
    await caption('Pseudo-healthy')
    await s.page.click('#flicker')
    await settle(s)
    expect((await texts(s, 'enhanced', '.vp-label'))[0]).toBe('Pseudo-healthy')
  })

  it('probes the values under the cursor', async () => {
    // Canvas position of the blob's centre voxel, from the viewer's own camera.
    const at = (await s.page.evaluate(`(() => {
      const v = globalThis.raddiffViewer, o = v.vols.original, c = ${JSON.stringify(BLOB.centre)}, d = o.direction
      const w = [0, 1, 2].map((r) => o.origin[r] + d[3 * r] * o.spacing[0] * c[0] + d[3 * r + 1] * o.spacing[1] * c[1] + d[3 * r + 2] * o.spacing[2] * c[2])
      return v.vp('overlay').worldToCanvas(w)
    })()`)) as [number, number]
    const box = (await s.page.locator('#vp-overlay').boundingBox())!
    await s.page.mouse.move(box.x + at[0] + 9, box.y + at[1] + 5)
    const text = (await s.page.textContent('#probe'))!
    const ijk = /ijk (\d+),(\d+),(\d+)/.exec(text)!.slice(1).map(Number)
    const heat = Number(/heatmap (\S+)/.exec(text)![1])
    // The stub's heatmap is exp(−r²/2σ²) around BLOB.centre: the probe must show it at the voxel it names.
    const r2 = ijk.reduce((a, x, i) => a + (x - BLOB.centre[i]) ** 2, 0)
    expect(r2).toBeGreaterThan(0)
    expect(heat).toBeCloseTo(Math.exp(-r2 / (2 * BLOB.sigma ** 2)), 2)
    expect(text).toMatch(/original -?\d/)
    expect(text).toMatch(/pseudo-healthy -?\d/)
    expect(text).toMatch(/LPS -?\d+\.\d, -?\d+\.\d, -?\d+\.\d mm/)
    // The linked cursor is drawn in every viewport.
    const cross = await core(s, 'original')
    await s.page.mouse.move(5, 5)
    expect(meanAbsDiff(cross, await core(s, 'original'))).toBeGreaterThan(0.05)
    expect(await s.page.textContent('#probe')).toMatch(/move the cursor/)
  })

  it('toggles the mask as an outline or a filled label', async () => {
    const grab = async (mode: string) => {
      await s.page.selectOption('#mask-mode', mode)
      await settle(s)
      return core(s, 'overlay')
    }
    const none = await grab('none')
    const outline = await grab('outline')
    const label = await grab('label')
    expect(cyanCount(none)).toBe(0)
    expect(cyanCount(outline)).toBeGreaterThan(100)
    // A filled disc changes more pixels than its outline does.
    expect(meanAbsDiff(none, label)).toBeGreaterThan(meanAbsDiff(none, outline) * 1.5)
    await grab('outline')
  })

  it('keeps the colour bar and its labels off the image, fitted and zoomed in', async () => {
    const fitted = await overlayBoxes(s)
    expect(fitted.barShown).toBe(true)
    expect(fitted.bar.bottom - fitted.bar.top).toBeGreaterThan(50)
    // the fitted image reaches the canvas's sides: nothing over the canvas could stay clear of it
    expect(fitted.image.right - fitted.image.left).toBeGreaterThan((fitted.canvas.right - fitted.canvas.left) * 0.9)
    expect(overlaps(fitted.image, fitted.bar)).toBe(false)
    expect(overlaps(fitted.image, fitted.labels)).toBe(false)
    // zoomed in, the image covers the whole canvas
    await s.page.evaluate('globalThis.raddiffViewer.vp("overlay").setZoom(3)')
    await settle(s)
    const zoomed = await overlayBoxes(s)
    expect(zoomed.image).toEqual(zoomed.canvas)
    expect(overlaps(zoomed.image, zoomed.bar)).toBe(false)
    expect(overlaps(zoomed.image, zoomed.labels)).toBe(false)
    await s.page.click('#reset')
    await settle(s)
  })

  it('names the same voxel in the three linked viewports after a denoise job, first to last slice, even and odd slice counts', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'raddiff-e2e-'))
    try {
      // 120×120×90 as reported (axial: in-plane centre on a voxel boundary, k = 44.5), and a cut of it to 45
      for (const scan of [await derivedScan(fixture('nifti/ixi-t1-small.nii.gz'), dir, 2), await derivedScan(fixture('nifti/ixi-t1-small.nii.gz'), dir, 2, 45)]) {
        await runJobInPage(s.page, scan.file, 'denoise')
        for (const plane of ['axial', 'sagittal']) {
          await s.page.click(`[data-plane="${plane}"]`)
          await settle(s)
          // the voxel axis along the view normal and its slice count
          const axis = (await s.page.evaluate(`(() => {
            const v = globalThis.raddiffViewer, n = v.vp('original').getCamera().viewPlaneNormal, d = v.vols.original.direction
            const c = [0, 1, 2].map((j) => Math.abs(d[j] * n[0] + d[3 + j] * n[1] + d[6 + j] * n[2]))
            return c.indexOf(Math.max(...c))
          })()`)) as number
          const count = scan.size[axis]
          const at = async (steps: number, where: string) => {
            await wheel(s, steps)
            await settle(s)
            const r = await readouts(s)
            expect(r[1], `${scan.size.join('×')} ${plane} ${where}: enhanced`).toEqual(r[0])
            expect(r[2], `${scan.size.join('×')} ${plane} ${where}: overlay`).toEqual(r[0])
            return r[0][axis]
          }
          // the scroll stops at the ends: one slice count of steps reaches an end from anywhere
          const a = await at(-count, 'one end')
          const b = await at(count, 'other end')
          expect([a, b].sort((x, y) => x - y), `${plane} ends`).toEqual([0, count - 1])
          const step = Math.sign(b - a)
          expect(await at(-1, 'one in from the end')).toBe(b - step)
          const half = Math.floor(count / 2)
          expect(await at(1 - half, 'middle')).toBe(b - step * half)
        }
      }
      await s.page.click('[data-plane="axial"]')
      await settle(s)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('shows each task its own options and sends anomaly method, polarity and depth with the job; shows the method and threshold used', async () => {
    await uploadInPage(s.page, fixture('nifti/ixi-t1-small.nii.gz'))
    await s.page.selectOption('#task', 'superres')
    expect(await s.page.isVisible('#p-scale')).toBe(true)
    expect(await s.page.isVisible('#p-polarity')).toBe(false)
    await s.page.selectOption('#task', 'anomaly')
    expect(await s.page.isVisible('#p-scale')).toBe(false)
    await s.page.selectOption('#p-polarity', 'dark')
    await s.page.fill('#p-depth', '300')
    await s.page.selectOption('#p-method', 'intensity')
    const posted = s.page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/v1/jobs'))
    const { id } = await startJobInPage(s.page)
    expect((await posted).postDataJSON()).toMatchObject({ task: 'anomaly', params: { method: 'intensity', polarity: 'dark', depth: 300 } })
    await waitShown(s.page, id)
    const job = (await (await fetch(`${s.server.url}/v1/jobs/${id}`)).json()) as any
    expect(job.params).toMatchObject({ method: 'intensity', polarity: 'dark', depth: 300 })
    // the header states the job's method and threshold, and the overlay threshold starts there
    // (the stub's heatmap runs 0…1, its threshold is 0.5)
    expect(await s.page.textContent('#model-info')).toMatch(/method intensity · mask threshold 0\.500 \(calibrated\)/)
    expect(await s.page.getAttribute('#model-info', 'title')).toBe('stub calibration')
    expect(Number(await s.page.inputValue('#threshold'))).toBeCloseTo(50, -0.5)
    await s.page.selectOption('#p-method', '')
    await s.page.selectOption('#p-polarity', '')
    await s.page.fill('#p-depth', '')
  })

  it('shows readable service errors', async () => {
    await s.page.setInputFiles('#file-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a scan') })
    await s.page.waitForSelector('#error:not([hidden])')
    const msg = await s.page.textContent('#error')
    expect(msg).toMatch(/\([A-Z_]+\)/)
    expect(msg).not.toMatch(/at \w+ \(|\/tmp\//)
    expect(msg).toMatch(/[a-z]+ [a-z]+ [a-z]+/)
  })

  it('cancels a running job', async () => {
    // The stub holds the job after its first step until it is cancelled: no race with the clock.
    process.env.RADDIFF_E2E_HOLD = '1'
    try {
      await uploadInPage(s.page, fixture('nifti/ixi-t1-small.nii.gz'))
      const { id } = await startJobInPage(s.page)
      await s.page.waitForFunction(() => /running/.test((globalThis as any).document.getElementById('job-status').textContent))
      await s.page.click('#cancel')
      await s.page.waitForFunction(() => /cancelled/.test((globalThis as any).document.getElementById('job-status').textContent))
      const job = (await (await fetch(`${s.server.url}/v1/jobs/${id}`)).json()) as any
      expect(job.state).toBe('cancelled')
      expect(await s.page.isDisabled('#cancel')).toBe(true)
      expect(await s.page.isEnabled('#start')).toBe(true)
    } finally {
      delete process.env.RADDIFF_E2E_HOLD
    }
  })
})
