import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadDicomSeries, scanDicom, summarizeDicomSeries, type DicomSeries } from '../../../src/io/dicom/index.js'
import { dicomData, hasData, refs, refsOf } from './helpers.js'

const REF = JSON.parse(readFileSync(refs('dicom-series.json'), 'utf8')).mr_series_vs_seg as {
  count: number
  sortedNames: string[]
  spacingK: number
  sliceThickness: number
  pixelSpacing: number[]
  origin: number[]
  iop: number[]
  rows: number
  columns: number
}
const dir = path.join(dicomData, 'mr_series_vs_seg')
const files = () => readdirSync(dir).filter((f) => f.endsWith('.dcm')).map((f) => path.join(dir, f))
const names = (s: DicomSeries) => s.slices.map((sl) => s.files[sl.file].ref.name)
const tmp: string[] = []
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })))

describe.skipIf(!hasData)('series grouping and sorting (mr_series_vs_seg vs pydicom)', () => {
  it('30 slices form one series sorted along the normal, spacing from positions', async () => {
    const { series, rejected } = await scanDicom(refsOf(files()))
    expect(rejected).toEqual([])
    expect(series).toHaveLength(1)
    const s = series[0]
    expect(names(s)).toEqual(REF.sortedNames)
    expect(s.size).toEqual([REF.columns, REF.rows, REF.count])
    expect(s.spacing[2]).toBeCloseTo(REF.spacingK, 6)
    expect(s.spacing[0]).toBeCloseTo(REF.pixelSpacing[1], 9)
    expect(s.origin).toEqual(REF.origin)
    expect(s.direction[0]).toBeCloseTo(REF.iop[0], 9)
    expect(summarizeDicomSeries(s).warnings).toEqual([])
    const v = await loadDicomSeries(s)
    expect(v.data.length).toBe(512 * 512 * 30)
    expect(v.modality).toBe('MR')
    expect(v.meta.dicom?.sourceInstances).toHaveLength(30)
  })

  it('shuffled input order gives the same order', async () => {
    const shuffled = files().reverse()
    ;[shuffled[3], shuffled[17]] = [shuffled[17], shuffled[3]]
    const { series } = await scanDicom(refsOf(shuffled))
    expect(names(series[0])).toEqual(REF.sortedNames)
  })

  it('a missing middle slice splits the series at the gap, with a warning', async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'raddiff-gap-'))
    tmp.push(d)
    const kept = REF.sortedNames.filter((n) => n !== REF.sortedNames[12])
    for (const n of kept) copyFileSync(path.join(dir, n), path.join(d, n))
    const { series } = await scanDicom(refsOf(kept.map((n) => path.join(d, n))))
    expect(series.map((s) => s.size[2])).toEqual([12, 17])
    for (const s of series) {
      expect(s.spacing[2]).toBeCloseTo(REF.spacingK, 6)
      expect(summarizeDicomSeries(s).warnings.join(' ')).toMatch(/gap \(about 1 missing/)
    }
  })

  it('mixed geometry under one UID is split into separate series, with a warning', async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'raddiff-mixed-'))
    tmp.push(d)
    const require = createRequire(import.meta.url)
    const dcmjs = require('dcmjs')
    const picked = REF.sortedNames.slice(0, 6)
    picked.forEach((n, i) => {
      const src = readFileSync(path.join(dir, n))
      if (i < 3) return copyFileSync(path.join(dir, n), path.join(d, n))
      // same SeriesInstanceUID, other pixel spacing: a re-sampled copy stored under one UID
      const msg = dcmjs.data.DicomMessage.readFile(src.buffer.slice(src.byteOffset, src.byteOffset + src.length))
      msg.dict['00280030'].Value = [0.8, 0.8]
      writeFileSync(path.join(d, n), Buffer.from(msg.write()))
    })
    const { series, rejected } = await scanDicom(refsOf(picked.map((n) => path.join(d, n))))
    expect(rejected).toEqual([])
    expect(series).toHaveLength(2)
    expect(series.map((s) => s.spacing[0]).sort()).toEqual([REF.pixelSpacing[0], 0.8].sort())
    for (const s of series) {
      expect(s.size[2]).toBe(3)
      expect(s.warnings.join(' ')).toMatch(/2 different geometries/)
    }
  })
})

describe.skipIf(!hasData)('enhanced multi-frame CT (functional groups) vs pydicom', () => {
  it('geometry, frame order and rescale come from the functional groups', async () => {
    const ref = JSON.parse(readFileSync(refs('dicom-series.json'), 'utf8')).eCT_Supplemental
    const file = path.join(dicomData, 'pydicom-data/data_store/data/eCT_Supplemental.dcm')
    const { series } = await scanDicom(refsOf([file]))
    expect(series).toHaveLength(1)
    const s = series[0]
    expect(s.size).toEqual(ref.size)
    expect(s.slices.map((sl) => sl.frame)).toEqual(ref.frameOrder)
    expect(s.origin).toEqual(ref.origin)
    s.spacing.forEach((x, i) => expect(x).toBeCloseTo(ref.spacing[i], 9))
    s.direction.forEach((x, i) => expect(x).toBeCloseTo(ref.direction[i], 9))
    const v = await loadDicomSeries(s)
    expect(v.meta.rescaleSlope).toBe(ref.rescaleSlope)
    expect(v.meta.rescaleIntercept).toBe(ref.rescaleIntercept)
    expect(v.meta.units).toBe('HU')
  })
})
