import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readImageFile } from '../../src/io/image/index.js'
import { writeDicomSeg } from '../../src/io/writers/write-dicom-seg.js'
import { createVolume, toFloat32, type Mat3 } from '../../src/volume/index.js'
import { fixture } from '../service/helpers.js'
import { decodeRaw, ones, unzipOne } from '../service/seg-helpers.js'
import { hasChromium, openViewer, runJobInPage, type Session } from './harness.js'

/** Drawn pixels of one overlay-viewport canvas (cyan only for the viewer's own, whose heat colours are not), and their centroid. */
async function drawn(s: Session, canvas: 'vp-seg' | 'vp-cross'): Promise<{ n: number; x: number; y: number; h: number }> {
  return s.page.evaluate((cls) => {
    const c = (globalThis as any).document.querySelector(`.vp[data-vp="overlay"] canvas.${cls}`)
    const d: Uint8ClampedArray = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
    let n = 0, sx = 0, sy = 0
    for (let i = 0; i < d.length; i += 4) {
      const hit = cls === 'vp-seg' ? d[i + 3] > 0 : d[i + 3] > 0 && d[i + 2] > d[i] + 60 && d[i + 1] > d[i] + 60
      if (!hit) continue
      n++
      sx += (i / 4) % c.width
      sy += Math.floor(i / 4 / c.width)
    }
    return { n, x: sx / n, y: sy / n, h: c.height }
  }, canvas)
}

const dataset = (s: Session) => s.page.evaluate(() => ({ ...(globalThis as any).document.body.dataset }) as Record<string, string>)
/** Waits for a SEG load to end in `state` (shown or error). */
const settledSeg = (s: Session, state: string) => s.page.waitForFunction((st) => (globalThis as any).document.body.dataset.segMask === st, state)

describe.skipIf(!hasChromium)('viewer: a DICOM SEG loaded back as the mask overlay', () => {
  let s: Session
  let tmp: string
  let jobId: string
  let maskVoxels: number
  let first: { n: number; x: number; y: number; h: number }

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'raddiff-e2e-seg-'))
    s = await openViewer({ width: 1500, height: 640 })
  }, 600_000)
  afterAll(async () => {
    await s?.close()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  it("the job's own SEG: its voxel count is the job's mask's, centred where the heatmap's outline is, which it replaces", async () => {
    jobId = await runJobInPage(s.page, fixture('nifti/ixi-t1-small.nii.gz'))
    const nii = path.join(tmp, 'mask.nii.gz')
    await writeFile(nii, Buffer.from(await (await fetch(`${s.server.url}/v1/jobs/${jobId}/results/mask`)).arrayBuffer()))
    maskVoxels = ones(toFloat32(await readImageFile(nii, 'mask.nii.gz'))).length
    expect(maskVoxels).toBeGreaterThan(50)

    // The scan is sagittal: the first axial view passes 6 voxels from the blob, where the mask
    // (heatmap > 0.5) is empty. The slice through the heatmap's peak holds both.
    await s.page.evaluate("globalThis.raddiffViewer.focus('axial', 'heatmap-peak')")
    // The stub's mask is heatmap > 0.5 and the heatmap a Gaussian: the viewer's own outline (at its
    // default threshold) is a circle about the same centre.
    const heat = await drawn(s, 'vp-cross')
    expect(heat.n).toBeGreaterThan(20)
    expect(await dataset(s)).toMatchObject({ segMask: 'none' })

    await s.page.click('#seg-job')
    await settledSeg(s, 'shown')
    const d = await dataset(s)
    expect(Number(d.segVoxels)).toBe(maskVoxels)
    expect(await s.page.textContent('#seg-info')).toBe(`SEG: ${maskVoxels} voxels`)
    expect(await s.page.isHidden('#error')).toBe(true)
    first = await drawn(s, 'vp-seg')
    expect(first.n).toBeGreaterThan(20)
    // The page's layout is unchanged (the viewports keep their size), so the comparison is like for like.
    expect(first.h).toBe(heat.h)
    // On screen, above the heatmap's colour wash: cyan that no hot-map colour has.
    const png = PNG.sync.read(await s.page.locator('.vp[data-vp="overlay"]').screenshot())
    let cyan = 0
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i + 2] > png.data[i] + 60 && png.data[i + 1] > png.data[i] + 60) cyan++
    // (the canvas count includes faint anti-aliased edge pixels that do not read as cyan once composited)
    expect(cyan).toBeGreaterThan(first.n / 4)
    // Aligned with the scan: the same centre as the heatmap's outline, within half a voxel on screen (≈ 4 px here).
    expect(Math.abs(first.x - heat.x)).toBeLessThan(4)
    expect(Math.abs(first.y - heat.y)).toBeLessThan(4)
    // One mask on screen: the heatmap's outline is off while the SEG is shown.
    expect((await drawn(s, 'vp-cross')).n).toBe(0)
  })

  it("the mask mode applies to the SEG: 'label' fills what 'outline' traced", async () => {
    const draws = Number((await dataset(s)).segDraws)
    await s.page.selectOption('#mask-mode', 'label')
    await s.page.waitForFunction((n) => Number((globalThis as any).document.body.dataset.segDraws) > n, draws)
    const label = await drawn(s, 'vp-seg')
    expect(label.n).toBeGreaterThan(first.n * 2)
    expect(Math.abs(label.x - first.x)).toBeLessThan(2)
    await s.page.selectOption('#mask-mode', 'outline')
    await s.page.waitForFunction((n) => Number((globalThis as any).document.body.dataset.segDraws) > n + 1, draws)
    expect((await drawn(s, 'vp-seg')).n).toBe(first.n)
  })

  it('a SEG file that does not fit the scan: SEG_MISMATCH in the error box and no mask drawn', async () => {
    const { header } = decodeRaw(await (await fetch(`${s.server.url}/v1/jobs/${jobId}/volumes/original`)).arrayBuffer())
    const shifted = createVolume({
      data: new Float32Array(header.size[0] * header.size[1] * header.size[2]).fill(1),
      size: header.size,
      spacing: header.spacing,
      origin: [header.origin[0], header.origin[1] + header.spacing[1] / 2, header.origin[2]],
      direction: header.direction as Mat3,
    })
    const w = await writeDicomSeg(shifted, path.join(tmp, 'shifted'))
    await s.page.setInputFiles('#seg-file', w.files[0])
    await settledSeg(s, 'error')
    expect(await s.page.isVisible('#error')).toBe(true)
    expect(await s.page.textContent('#error')).toMatch(/voxel grid[\s\S]*\(SEG_MISMATCH\)/)
    expect((await drawn(s, 'vp-seg')).n).toBe(0)
  })

  it('the SEG the results route downloads, picked as a file, shows the same mask', async () => {
    const zip = await fetch(`${s.server.url}/v1/jobs/${jobId}/results/mask?format=dicom`)
    const file = path.join(tmp, 'job-seg.dcm')
    await writeFile(file, await unzipOne(Buffer.from(await zip.arrayBuffer())))
    await s.page.setInputFiles('#seg-file', file)
    await settledSeg(s, 'shown')
    expect(Number((await dataset(s)).segVoxels)).toBe(maskVoxels)
    expect(await s.page.isHidden('#error')).toBe(true)
    const again = await drawn(s, 'vp-seg')
    expect(again.n).toBe(first.n)
    await s.page.click('#seg-clear')
    expect((await drawn(s, 'vp-seg')).n).toBe(0)
  })
})
