import type { Mat3, Vec3 } from '../../volume/volume.js'
import { IoError } from '../errors.js'
import { cross } from './header.js'
import type { DicomSeries, FileHeader, FrameHeader, SliceRef } from './types.js'

interface Unit extends SliceRef {
  h: FrameHeader
}

/** Relative deviation from the median spacing above which slices count as irregular. */
const SPACING_TOLERANCE = 0.1

/**
 * Groups files into series by SeriesInstanceUID + geometry, sorts slices along the normal and
 * derives spacing from positions. Policy (documented in README of this folder's callers):
 * - mixed geometry under one UID: split, one series per geometry, with a warning;
 * - same positions repeated evenly (time points, echoes): split into one series per repeat;
 *   uneven duplicates: the extra copies are dropped with a warning;
 * - a gap (a step ≥ 1.5× the median spacing): split into contiguous runs, each with a warning,
 *   so no volume ever has a wrong slice spacing; smaller irregularity (> 10 %) only warns.
 */
export function groupSeries(files: FileHeader[]): { series: DicomSeries[]; rejected: { name: string; error: IoError }[] } {
  const groups = new Map<string, Unit[]>()
  const keysPerUid = new Map<string, Set<string>>()
  files.forEach((f, fi) => {
    f.frames.forEach((h, k) => {
      const key = geometryKey(f, h)
      const full = `${f.seriesInstanceUID}|${key}`
      if (!groups.has(full)) groups.set(full, [])
      groups.get(full)!.push({ file: fi, frame: k, h })
      if (!keysPerUid.has(f.seriesInstanceUID)) keysPerUid.set(f.seriesInstanceUID, new Set())
      keysPerUid.get(f.seriesInstanceUID)!.add(key)
    })
  })
  const out: DicomSeries[] = []
  const rejected: { name: string; error: IoError }[] = []
  for (const units of groups.values()) {
    const first = files[units[0].file]
    const warnings: string[] = []
    const nGeom = keysPerUid.get(first.seriesInstanceUID)!.size
    if (nGeom > 1) warnings.push(`one SeriesInstanceUID holds ${nGeom} different geometries; split into separate series`)
    try {
      for (const run of sortAndSplit(units, files, warnings)) out.push(run)
    } catch (e) {
      if (!(e instanceof IoError)) throw e
      // one unusable series must not hide the others: its files are reported instead
      for (const name of new Set(units.map((u) => files[u.file].ref.name))) {
        rejected.push({ name, error: new IoError(e.code, e.message, { source: name }) })
      }
    }
  }
  return { series: out, rejected }
}

function geometryKey(f: FileHeader, h: FrameHeader): string {
  const r = (v: number[] | undefined) => (v ? v.map((x) => x.toFixed(3)).join(',') : '-')
  const fm = f.format
  // a mosaic is a whole volume: never stack it with other files' slices
  const mosaic = f.mosaic ? `mosaic:${f.mosaic.tiles}` : ''
  return `${fm.rows}x${fm.columns}x${fm.samplesPerPixel}|${r(h.orientation)}|${r(h.pixelSpacing)}|${mosaic}|${f.numberOfFrames > 1 && !h.position ? f.sopInstanceUID : ''}`
}

function sortAndSplit(units: Unit[], files: FileHeader[], warnings: string[]): DicomSeries[] {
  const h0 = units[0].h
  const iop = h0.orientation
  const positioned = iop !== undefined && units.every((u) => u.h.position)
  const fileOf = (u: Unit) => files[u.file]
  if (!positioned) {
    units.sort((a, b) => a.h.order - b.h.order || a.file - b.file || a.frame - b.frame)
    if (units.length > 1) warnings.push('slices lack ImagePositionPatient / ImageOrientationPatient: stacked by InstanceNumber, spacing from the header')
    return [build(units, files, fileOf(units[0]).declaredSpacing ?? 1, warnings)]
  }
  const n = unit(cross(iop))
  const proj = (u: Unit) => dot(u.h.position!, n)
  if (!units.every((u) => Number.isFinite(proj(u)))) throw notFinite()
  units.sort((a, b) => proj(a) - proj(b) || a.h.order - b.h.order || a.file - b.file || a.frame - b.frame)

  // buckets of equal position
  const buckets: Unit[][] = []
  for (const u of units) {
    const last = buckets[buckets.length - 1]
    if (last && Math.abs(proj(u) - proj(last[0])) < 1e-3) last.push(u)
    else buckets.push([u])
  }
  const counts = new Set(buckets.map((b) => b.length))
  if (buckets.some((b) => b.length > 1)) {
    if (counts.size === 1) {
      const m = buckets[0].length
      const parts: DicomSeries[] = []
      for (let j = 0; j < m; j++) {
        const w = [...warnings, `every position holds ${m} slices (time points or echoes): split into ${m} series, this is number ${j + 1}`]
        parts.push(...splitGaps(buckets.map((b) => b[j]), files, proj, w))
      }
      return parts
    }
    const dropped = units.length - buckets.length
    warnings.push(`${dropped} slice(s) duplicate the position of another slice and were ignored`)
  }
  return splitGaps(
    buckets.map((b) => b[0]),
    files,
    proj,
    warnings,
  )
}

function splitGaps(units: Unit[], files: FileHeader[], proj: (u: Unit) => number, warnings: string[]): DicomSeries[] {
  if (units.length < 2) {
    const f = files[units[0].file]
    return [build(units, files, f.mosaic?.sliceSpacing ?? f.declaredSpacing ?? 1, warnings)]
  }
  const diffs = units.slice(1).map((u, i) => proj(u) - proj(units[i]))
  const med = median(diffs)
  // positions near ±1e308 are finite but their differences overflow
  if (!diffs.every(Number.isFinite) || !Number.isFinite(med)) throw notFinite()
  const runs: Unit[][] = [[units[0]]]
  let irregular = false
  diffs.forEach((d, i) => {
    if (d > 1.5 * med) runs.push([])
    else if (Math.abs(d - med) > SPACING_TOLERANCE * med) irregular = true
    runs[runs.length - 1].push(units[i + 1])
  })
  if (isSheared(units, proj)) warnings.push('slice positions do not lie along the slice normal (gantry tilt?): volume treated as orthogonal')
  if (irregular) warnings.push(`slice spacing varies by more than ${SPACING_TOLERANCE * 100}% around the median; median used`)
  if (runs.length === 1) return [build(units, files, med, warnings)]
  const missing = diffs.filter((d) => d > 1.5 * med).reduce((s, d) => s + Math.round(d / med) - 1, 0)
  return runs.map((r, i) =>
    build(r, files, med, [
      ...warnings,
      `slice gap (about ${missing} missing slice(s)): series split into ${runs.length} contiguous parts, this is part ${i + 1}`,
    ]),
  )
}

function notFinite(): IoError {
  return new IoError('INCONSISTENT_SERIES', 'slice positions are so far apart that their distance is not a finite number (damaged ImagePositionPatient?)')
}

/** True when the first→last slice displacement leaves the normal by more than ~0.5°. */
function isSheared(units: Unit[], proj: (u: Unit) => number): boolean {
  const a = units[0].h.position!
  const b = units[units.length - 1].h.position!
  const along = proj(units[units.length - 1]) - proj(units[0])
  const total = Math.hypot(b[0] - a[0], b[1] - a[1], b[2] - a[2])
  return total > 0 && Math.abs(along) / total < Math.cos((0.5 * Math.PI) / 180)
}

function build(units: Unit[], files: FileHeader[], spacingK: number, warnings: string[]): DicomSeries {
  // keep only files used, in first-use order
  const used = new Map<number, number>()
  const seriesFiles: FileHeader[] = []
  const slices: SliceRef[] = units.map((u) => {
    if (!used.has(u.file)) {
      used.set(u.file, seriesFiles.length)
      seriesFiles.push(files[u.file])
    }
    return { file: used.get(u.file)!, frame: u.frame }
  })
  const f0 = seriesFiles[0]
  const h = units[0].h
  const iop = h.orientation ?? [1, 0, 0, 0, 1, 0]
  const rowCos: Vec3 = [iop[0], iop[1], iop[2]]
  const colCos: Vec3 = [iop[3], iop[4], iop[5]]
  let normal = unit(cross(iop))
  const ps = h.pixelSpacing ?? [1, 1]
  const unusable = (name: string) => units.filter((u) => u.h.unusable?.includes(name as never)).length
  if (unusable('ImagePositionPatient')) {
    warnings.push(`ImagePositionPatient is not three finite numbers in ${unusable('ImagePositionPatient')} slice(s): ignored (slices stacked by InstanceNumber; origin 0,0,0 where the first slice has none)`)
  }
  if (unusable('ImageOrientationPatient')) {
    warnings.push(`ImageOrientationPatient is not two finite unit vectors in ${unusable('ImageOrientationPatient')} slice(s): ignored, identity (axial) orientation assumed`)
  }
  if (unusable('PixelSpacing')) warnings.push('PixelSpacing is not two finite positive numbers: ignored, 1 mm assumed')
  else if (!h.pixelSpacing) warnings.push('no PixelSpacing: 1 mm assumed')
  let origin: Vec3 = h.position ? [...h.position] : [0, 0, 0]
  let size: Vec3 = [f0.format.columns, f0.format.rows, slices.length]
  if (f0.mosaic && slices.length === 1) {
    const perSide = Math.ceil(Math.sqrt(f0.mosaic.tiles))
    const cols = f0.format.columns / perSide
    const rows = f0.format.rows / perSide
    size = [cols, rows, f0.mosaic.tiles]
    // Siemens stores the position of the whole mosaic's corner; move it to the first tile (as dcm2niix, nibabel)
    const di = ((f0.format.columns - cols) / 2) * ps[1]
    const dj = ((f0.format.rows - rows) / 2) * ps[0]
    origin = [0, 1, 2].map((a) => origin[a] + rowCos[a] * di + colCos[a] * dj) as Vec3
    if (f0.mosaic.sliceNormal && dot(f0.mosaic.sliceNormal, normal) < 0) normal = normal.map((x) => -x) as Vec3
    spacingK = f0.mosaic.sliceSpacing ?? spacingK
    warnings.push('Siemens mosaic: tiles rearranged into slices')
  }
  const direction: Mat3 = [rowCos[0], colCos[0], normal[0], rowCos[1], colCos[1], normal[1], rowCos[2], colCos[2], normal[2]]
  return {
    files: seriesFiles,
    slices,
    size,
    spacing: [ps[1], ps[0], spacingK],
    origin,
    direction,
    warnings,
  }
}

function dot(a: number[], b: number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

function unit(v: Vec3): Vec3 {
  const l = Math.hypot(v[0], v[1], v[2]) || 1
  return [v[0] / l, v[1] / l, v[2] / l]
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
