import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PNG } from 'pngjs'
import { afterAll, describe, expect, it } from 'vitest'
import { writePng, type Plane } from '../../../src/io/writers/write-png.js'
import { createVolume, indexToPoint, VolumeMetadata, type Mat3, type Volume } from '../../../src/volume/index.js'

const work = mkdtempSync(path.join(tmpdir(), 'raddiff-png-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const DIRECTIONS: Record<string, Mat3> = {
  LPS: [1, 0, 0, 0, 1, 0, 0, 0, 1],
  RAS: [-1, 0, 0, 0, -1, 0, 0, 0, 1],
  // IXI's sagittal acquisition (itk direction of its nibabel affine)
  IXI: [0, 0, -1, 1, 0, 0, 0, 1, 0],
  LPI: [1, 0, 0, 0, 1, 0, 0, 0, -1],
}

/** Physical axis (LPS) along which a plane's image columns and rows run, and its normal. */
const AXES: Record<Plane, { col: number; row: number; rowSign: number }> = {
  axial: { col: 0, row: 1, rowSign: 1 }, // columns toward patient left, rows toward posterior
  coronal: { col: 0, row: 2, rowSign: -1 }, // columns toward left, rows toward feet
  sagittal: { col: 1, row: 2, rowSign: -1 }, // columns toward posterior, rows toward feet
}

/**
 * A volume centred on the LPS origin with two markers that extend through the whole slab
 * along the plane's normal: A (1000) where columns start and rows start (top-left on screen
 * in radiological display), B (500) at the opposite corner, smaller.
 */
function phantom(direction: Mat3, plane: Plane): Volume {
  const size: [number, number, number] = [24, 22, 20]
  const spacing: [number, number, number] = [1, 1, 1]
  const half = size.map((n) => (n - 1) / 2)
  const c0 = indexToPoint({ spacing, origin: [0, 0, 0], direction }, half as [number, number, number])
  const vol = createVolume({ data: new Float32Array(size[0] * size[1] * size[2]), size, spacing, origin: c0.map((x) => -x) as never, direction })
  const { col, row, rowSign } = AXES[plane]
  for (let k = 0; k < size[2]; k++) for (let j = 0; j < size[1]; j++) for (let i = 0; i < size[0]; i++) {
    const p = indexToPoint(vol, [i, j, k])
    const u = p[col]
    const w = p[row] * rowSign
    const idx = i + size[0] * (j + size[1] * k)
    if (u >= -8.5 && u <= -4.5 && w >= -8.5 && w <= -4.5) vol.data[idx] = 1000
    if (u >= 5.5 && u <= 7.5 && w >= 5.5 && w <= 7.5) vol.data[idx] = 500
  }
  return vol
}

async function render(v: Volume, opts: Parameters<typeof writePng>[2], name: string): Promise<PNG> {
  const out = path.join(work, `${name}.png`)
  await writePng(v, out, opts)
  return PNG.sync.read(readFileSync(out))
}

function centroid(png: PNG, value: number): [number, number, number] {
  let sx = 0
  let sy = 0
  let n = 0
  for (let y = 0; y < png.height; y++) for (let x = 0; x < png.width; x++) {
    if (png.data[(y * png.width + x) * 4] === value) {
      sx += x
      sy += y
      n++
    }
  }
  return [sx / n, sy / n, n]
}

describe('writePng orientation (radiological display)', () => {
  for (const [dname, dir] of Object.entries(DIRECTIONS)) {
    for (const plane of ['axial', 'coronal', 'sagittal'] as Plane[]) {
      it(`${dname} ${plane}: marker A top-left, B bottom-right`, async () => {
        const png = await render(phantom(dir, plane), { plane, window: { center: 500, width: 1000 } }, `${dname}-${plane}`)
        const [ax, ay, an] = centroid(png, 255)
        const [bx, by, bn] = centroid(png, 128)
        expect(an).toBe(25)
        expect(bn).toBe(9)
        expect(ax).toBeLessThan(png.width / 2 - 2)
        expect(ay).toBeLessThan(png.height / 2 - 2)
        expect(bx).toBeGreaterThan(png.width / 2 + 2)
        expect(by).toBeGreaterThan(png.height / 2 + 2)
      })
    }
  }

  it('default plane is the volume k axis shown as its closest plane', async () => {
    const ixi = phantom(DIRECTIONS.IXI, 'sagittal')
    const a = await render(ixi, { window: { center: 500, width: 1000 } }, 'ixi-default')
    const b = await render(ixi, { plane: 'sagittal', window: { center: 500, width: 1000 } }, 'ixi-sag')
    expect([a.width, a.height]).toEqual([b.width, b.height])
    expect(Buffer.compare(a.data, b.data)).toBe(0)
    const lps = phantom(DIRECTIONS.LPS, 'axial')
    const c = await render(lps, {}, 'lps-default')
    expect([c.width, c.height]).toEqual([24, 22])
  })
})

describe('writePng windowing', () => {
  const ramp = () => {
    const size: [number, number, number] = [101, 3, 3]
    const data = new Int16Array(101 * 9)
    for (let i = 0; i < data.length; i++) data[i] = (i % 101) * 10 // 0…1000 along columns
    return createVolume({ data, size, meta: new VolumeMetadata({ rescaleSlope: 2, rescaleIntercept: -1000 }) })
  }
  const row0 = (png: PNG) => Array.from({ length: png.width }, (_, x) => png.data[x * 4])

  it('explicit window maps center-width/2 → 0 and center+width/2 → 255 on real values', async () => {
    // real values: -1000 … 1000 in steps of 20
    const png = await render(ramp(), { window: { center: 0, width: 1000 } }, 'w1')
    const r = row0(png)
    expect(r[0]).toBe(0) // -1000, below the window
    expect(r[25]).toBe(0) // -500, window bottom
    expect(r[50]).toBe(128) // 0 → 127.5 rounds up
    expect(r[75]).toBe(255) // +500
    expect(r[100]).toBe(255)
    expect(r[30]).toBe(Math.round((255 * 100) / 1000)) // -400
  })

  it('metadata window when none is given, else 1st–99th percentile', async () => {
    const v = ramp()
    v.meta.windowCenter = 500
    v.meta.windowWidth = 200
    const r = row0(await render(v, {}, 'w2'))
    expect(r[69]).toBe(0) // 380 < 400
    expect(r[75]).toBe(128) // 500
    expect(r[81]).toBe(255) // 620 > 600
    const p = row0(await render(ramp(), {}, 'w3'))
    expect(p[0]).toBe(0)
    expect(p[100]).toBe(255)
    expect(p[1]).toBeLessThanOrEqual(2) // 1st percentile ≈ -980
    expect(p[50]).toBeGreaterThanOrEqual(127)
    expect(p[50]).toBeLessThanOrEqual(128)
  })

  it('rejects out-of-range slices and non-png names with typed errors', async () => {
    await expect(writePng(ramp(), path.join(work, 'x.png'), { slice: 3 })).rejects.toMatchObject({ code: 'DIMENSIONS_INVALID' })
    await expect(writePng(ramp(), path.join(work, 'x.jpg'))).rejects.toMatchObject({ code: 'UNSUPPORTED_OUTPUT' })
  })
})
