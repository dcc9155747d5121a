import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixture, repoRoot } from '../service/helpers.js'
import { hasChromium, openViewer, runJobInPage, setRange, type Session } from './harness.js'

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

async function shot(s: Session, vp: string): Promise<PNG> {
  return PNG.sync.read(await s.page.locator(`.vp[data-vp="${vp}"]`).screenshot())
}

function compareGolden(name: string, png: PNG): number {
  const file = path.join(GOLDEN, `${name}.png`)
  if (UPDATE || !existsSync(file)) {
    writeFileSync(file, PNG.sync.write(png))
    if (!UPDATE) throw new Error(`golden ${name}.png was missing and has been written; re-run`)
  }
  return meanAbsDiff(png, PNG.sync.read(readFileSync(file)))
}

describe.skipIf(!hasChromium)('viewer in headless Chromium against the real service (stub task runner)', () => {
  let s: Session
  let jobId: string

  beforeAll(async () => {
    s = await openViewer({ width: 1500, height: 640 })
  })
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

  it('shows readable service errors', async () => {
    await s.page.setInputFiles('#file-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a scan') })
    await s.page.waitForSelector('#error:not([hidden])')
    const msg = await s.page.textContent('#error')
    expect(msg).toMatch(/\([A-Z_]+\)/)
    expect(msg).not.toMatch(/at \w+ \(|\/tmp\//)
  })
})
