import { PNG } from 'pngjs'
import { IoError } from '../errors.js'
import { writeBytesAtomically } from '../atomic-write.js'
import type { Volume } from '../../volume/volume.js'
import { percentileWindow, windowTo8Bit, type DisplayWindow } from './window.js'

export type Plane = 'axial' | 'coronal' | 'sagittal'

export interface WritePngOptions {
  /** Index along the slice axis; default the middle slice. */
  slice?: number
  /** Default: slice along the volume's own k axis, shown as the plane k is closest to. */
  plane?: Plane
  /** Default: the volume's metadata window, else the slice's 1st–99th percentile. */
  window?: DisplayWindow
}

/**
 * Radiological display convention, in LPS axes (0 = x toward patient left, 1 = y toward
 * posterior, 2 = z toward head). For each plane: the physical axis normal to it, the axis
 * image columns run along (left → right on screen), and the one rows run along (top → bottom).
 *   axial:    columns R→L, rows A→P  (patient right on image left, anterior at top)
 *   coronal:  columns R→L, rows S→I  (patient right on image left, head at top)
 *   sagittal: columns A→P, rows S→I  (anterior on image left, head at top)
 */
const PLANES: Record<Plane, { normal: number; col: [number, number]; row: [number, number] }> = {
  axial: { normal: 2, col: [0, 1], row: [1, 1] },
  coronal: { normal: 1, col: [0, 1], row: [2, -1] },
  sagittal: { normal: 0, col: [1, 1], row: [2, -1] },
}
const PLANE_OF_NORMAL: Plane[] = ['sagittal', 'coronal', 'axial']

/** |direction cosine| of voxel axis j along physical LPS axis r. */
const cos = (v: Volume, r: number, j: number) => v.direction[r * 3 + j]

function mostAligned(v: Volume, physical: number, among: number[]): number {
  return among.reduce((best, j) => (Math.abs(cos(v, physical, j)) > Math.abs(cos(v, physical, best)) ? j : best))
}

/** Which voxel axes (and directions) become the PNG's slice, columns and rows. */
export function sliceLayout(v: Volume, plane?: Plane): { plane: Plane; sliceAxis: number; colAxis: number; colFlip: boolean; rowAxis: number; rowFlip: boolean } {
  const sliceAxis = plane ? mostAligned(v, PLANES[plane].normal, [0, 1, 2]) : 2
  const p = plane ?? PLANE_OF_NORMAL[[0, 1, 2].reduce((b, r) => (Math.abs(cos(v, r, 2)) > Math.abs(cos(v, b, 2)) ? r : b))]
  const { col, row } = PLANES[p]
  const rest = [0, 1, 2].filter((j) => j !== sliceAxis)
  const colAxis = mostAligned(v, col[0], rest)
  const rowAxis = rest.find((j) => j !== colAxis)!
  return {
    plane: p,
    sliceAxis,
    colAxis,
    colFlip: Math.sign(cos(v, col[0], colAxis)) !== col[1],
    rowAxis,
    rowFlip: Math.sign(cos(v, row[0], rowAxis)) !== row[1],
  }
}

/** One slice as an 8-bit grayscale PNG with window/level, oriented as a radiology viewer shows it. */
export async function writePng(v: Volume, out: string, opts: WritePngOptions = {}): Promise<void> {
  if (!/\.png$/i.test(out)) throw new IoError('UNSUPPORTED_OUTPUT', `PNG output must end in .png: ${out}`, { source: out })
  if (v.components !== 1) throw new IoError('UNSUPPORTED_OUTPUT', 'PNG previews support grayscale volumes only', { source: out })
  const L = sliceLayout(v, opts.plane)
  const n = v.size[L.sliceAxis]
  const s = opts.slice ?? Math.floor(n / 2)
  if (!Number.isInteger(s) || s < 0 || s >= n) {
    throw new IoError('DIMENSIONS_INVALID', `slice ${s} is outside 0…${n - 1} along the ${L.plane} axis`)
  }
  const width = v.size[L.colAxis]
  const height = v.size[L.rowAxis]
  const stride = [1, v.size[0], v.size[0] * v.size[1]]
  const { rescaleSlope: m, rescaleIntercept: b } = v.meta
  const pixels = new Float32Array(width * height)
  for (let y = 0; y < height; y++) {
    const r = L.rowFlip ? height - 1 - y : y
    for (let x = 0; x < width; x++) {
      const c = L.colFlip ? width - 1 - x : x
      pixels[y * width + x] = v.data[s * stride[L.sliceAxis] + c * stride[L.colAxis] + r * stride[L.rowAxis]] * m + b
    }
  }
  const { windowCenter, windowWidth } = v.meta
  const w =
    opts.window ?? (windowCenter !== undefined && windowWidth !== undefined && windowWidth > 0 ? { center: windowCenter, width: windowWidth } : percentileWindow(pixels))
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 })
  png.data = Buffer.from(windowTo8Bit(pixels, w))
  const bytes = PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 })
  await writeBytesAtomically(out, bytes)
}
