import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDeidentifier } from '../../../src/io/writers/deidentify.js'
import { PARAMETRIC_MAP_SOP_CLASS, writeParametricMap } from '../../../src/io/writers/write-dicom-pmap.js'
import { SEG_SOP_CLASS, writeDicomSeg } from '../../../src/io/writers/write-dicom-seg.js'
import { createVolume, VolumeMetadata, type Mat3, type Vec3, type Volume } from '../../../src/volume/index.js'

const run = promisify(execFile)
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const readback = path.join(repoRoot, 'scripts/reference/enhanced_readback.py')
const hasPydicom = spawnSync('/usr/bin/python3', ['-c', 'import pydicom, numpy'], { stdio: 'ignore' }).status === 0
const hasDciodvfy = spawnSync('dciodvfy', [], { stdio: 'ignore' }).error === undefined

// 13 × 11 = 143 pixels a frame: not a multiple of 8, so 1-bit frames share bytes (PS3.5 8.1.1).
const SIZE: Vec3 = [13, 11, 5]
const N = SIZE[0] * SIZE[1] * SIZE[2]
const SPACING: Vec3 = [0.9, 1.1, 3]
const a = (20 * Math.PI) / 180
const OBLIQUE: Mat3 = [1, 0, 0, 0, Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a)]
const SOURCE = {
  studyInstanceUID: '1.2.826.0.1.3680043.8.498.71',
  seriesInstanceUID: '1.2.826.0.1.3680043.8.498.72',
  frameOfReferenceUID: '1.2.826.0.1.3680043.8.498.73',
  seriesNumber: 4,
  studyDate: '20240102',
  studyTime: '101500',
  studyID: 'S1',
  patient: { PatientName: 'Doe^Jane', PatientID: 'PID-7', PatientSex: 'F' },
  sourceInstances: Array.from({ length: SIZE[2] }, (_, k) => ({ sopClassUID: '1.2.840.10008.5.1.4.1.1.4', sopInstanceUID: `1.2.826.0.1.3680043.8.498.8${k}` })),
}

const mask = new Float32Array(N).map((_, n) => ((n * 7919) % 13 < 4 ? 1 : 0))
const heat = new Float32Array(N).map((_, n) => Math.sin(n / 3) * 0.37 + n * 1e-3 - 0.05)
const volume = (data: Float32Array, dicom = true): Volume =>
  createVolume({
    data,
    size: SIZE,
    spacing: SPACING,
    origin: [-20.5, 14.25, 3],
    direction: OBLIQUE,
    modality: 'MR',
    meta: new VolumeMetadata(dicom ? { dicom: structuredClone(SOURCE) } : {}),
  })

interface Read {
  sopClassUID: string
  studyInstanceUID: string
  seriesInstanceUID: string
  frameOfReferenceUID: string
  patientID: string
  patientName: string
  modality: string
  rows: number
  columns: number
  frames: { ipp: number[]; sources: string[]; segment: number | null }[]
  iop: number[]
  pixelSpacing: number[]
  spacingBetweenSlices: number
  referencedSeries: string[]
  segmentationType?: string
  segment?: { number: number; label: string; category: string[]; type: string[] }
  ones?: number[]
  rwvm?: { slope: number; intercept: number; units: string[]; label: string; first: number; last: number }
  dtype?: string
  values?: number[]
}

let root: string
const files: Record<string, string> = {}
const series: Record<string, string> = {}
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'raddiff-segpm-'))
  const deid = createDeidentifier()
  const jobs: [string, Promise<{ files: string[]; seriesInstanceUID: string }>][] = [
    ['seg', writeDicomSeg(volume(mask), path.join(root, 'seg'), { seriesDescription: 'raddiff anomaly mask' })],
    // '−' is 3 UTF-8 bytes: LO fields must be cut by bytes, not characters.
    ['pm', writeParametricMap(volume(heat), path.join(root, 'pm'), { label: 'heatmap', explanation: 'anomaly heatmap: smoothed |input − healed| in normalised units' })],
    ['seg-nifti', writeDicomSeg(volume(mask, false), path.join(root, 'seg-nifti'))],
    ['pm-nifti', writeParametricMap(volume(heat, false), path.join(root, 'pm-nifti'))],
    ['seg-deid', writeDicomSeg(volume(mask), path.join(root, 'seg-deid'), { deidentify: deid })],
    ['pm-deid', writeParametricMap(volume(heat), path.join(root, 'pm-deid'), { deidentify: deid })],
  ]
  for (const [name, p] of jobs) {
    const w = await p
    files[name] = w.files[0]
    series[name] = w.seriesInstanceUID
  }
})
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

const read = async (name: string): Promise<Read> =>
  JSON.parse((await run('/usr/bin/python3', [readback, files[name]], { maxBuffer: 64 << 20 })).stdout) as Read

/** Where frame k should be: origin + k·Δz along the third direction column. */
const expectedIpp = (k: number): number[] => [0, 1, 2].map((a) => [-20.5, 14.25, 3][a] + k * SPACING[2] * OBLIQUE[a * 3 + 2])

function expectGeometry(r: Read, withSource: boolean): void {
  expect(r.rows).toBe(SIZE[1])
  expect(r.columns).toBe(SIZE[0])
  expect(r.frames).toHaveLength(SIZE[2])
  expect(r.pixelSpacing).toEqual([SPACING[1], SPACING[0]])
  expect(r.spacingBetweenSlices).toBeCloseTo(SPACING[2], 9)
  const iop = [OBLIQUE[0], OBLIQUE[3], OBLIQUE[6], OBLIQUE[1], OBLIQUE[4], OBLIQUE[7]]
  r.iop.forEach((x, i) => expect(x).toBeCloseTo(iop[i], 9))
  r.frames.forEach((f, k) => {
    f.ipp.forEach((x, i) => expect(x).toBeCloseTo(expectedIpp(k)[i], 6))
    expect(f.sources).toEqual(withSource ? [SOURCE.sourceInstances[k].sopInstanceUID] : [])
  })
}

describe.skipIf(!hasPydicom)('DICOM SEG and Parametric Map, read back by pydicom', () => {
  it('SEG: one BINARY segment in the source study, frames on the source slices, voxels equal to the mask', async () => {
    const r = await read('seg')
    expect(r.sopClassUID).toBe(SEG_SOP_CLASS)
    expect(r.modality).toBe('SEG')
    expect(r.studyInstanceUID).toBe(SOURCE.studyInstanceUID)
    expect(r.frameOfReferenceUID).toBe(SOURCE.frameOfReferenceUID)
    expect(r.seriesInstanceUID).toBe(series.seg)
    expect(r.seriesInstanceUID).not.toBe(SOURCE.seriesInstanceUID)
    expect([r.patientName, r.patientID]).toEqual(['Doe^Jane', 'PID-7'])
    expect(r.referencedSeries).toEqual([SOURCE.seriesInstanceUID])
    expect(r.segmentationType).toBe('BINARY')
    expect(r.segment).toEqual({ number: 1, label: 'anomaly', category: ['49755003', 'SCT', 'Morphologically Altered Structure'], type: ['52988006', 'SCT', 'Lesion'] })
    expect(r.frames.every((f) => f.segment === 1)).toBe(true)
    expectGeometry(r, true)
    const ones = [...mask.keys()].filter((n) => mask[n] > 0.5)
    expect(ones.length).toBeGreaterThan(0)
    expect(r.ones).toEqual(ones)
  })

  it('Parametric Map: float32 frames whose Real World Value Mapping gives back the heatmap exactly', async () => {
    const r = await read('pm')
    expect(r.sopClassUID).toBe(PARAMETRIC_MAP_SOP_CLASS)
    expect(r.modality).toBe('MR')
    expect(r.studyInstanceUID).toBe(SOURCE.studyInstanceUID)
    expect(r.frameOfReferenceUID).toBe(SOURCE.frameOfReferenceUID)
    expect(r.dtype).toBe('float32')
    expect(r.rwvm).toMatchObject({ slope: 1, intercept: 0, units: ['1', 'UCUM', 'no units'], label: 'heatmap' })
    expect(r.rwvm!.first).toBe(Math.min(...heat))
    expect(r.rwvm!.last).toBe(Math.max(...heat))
    expectGeometry(r, true)
    expect(r.values).toHaveLength(N)
    r.values!.forEach((x, n) => {
      if (x !== heat[n]) expect.fail(`voxel ${n}: ${x} != ${heat[n]}`)
    })
  })

  it('a non-DICOM source gets a new study and frame of reference, and no source references', async () => {
    for (const name of ['seg-nifti', 'pm-nifti']) {
      const r = await read(name)
      expect(r.studyInstanceUID).toMatch(/^2\.25\.\d+$/)
      expect(r.frameOfReferenceUID).toMatch(/^2\.25\.\d+$/)
      expect(r.patientID).toBe('RADDIFF')
      expect(r.referencedSeries).toEqual([])
      expectGeometry(r, false)
    }
  })

  it('de-identified: both objects share one replacement study, no patient identifiers remain', async () => {
    const seg = await read('seg-deid')
    const pm = await read('pm-deid')
    expect(seg.studyInstanceUID).not.toBe(SOURCE.studyInstanceUID)
    expect(seg.studyInstanceUID).toBe(pm.studyInstanceUID)
    expect(seg.frameOfReferenceUID).toBe(pm.frameOfReferenceUID)
    expect(seg.patientName).toBe('')
    expect(seg.patientID).not.toContain('PID-7')
    expect(seg.seriesInstanceUID).toBe(series['seg-deid'])
    expect(seg.frames[0].sources[0]).not.toBe(SOURCE.sourceInstances[0].sopInstanceUID)
  })
})

describe.skipIf(!hasDciodvfy)('DICOM SEG and Parametric Map, checked by dciodvfy', () => {
  for (const name of ['seg', 'pm', 'seg-nifti', 'pm-nifti', 'seg-deid', 'pm-deid']) {
    it(`${name}: no errors`, () => {
      const r = spawnSync('dciodvfy', [files[name]], { encoding: 'utf8' })
      const out = `${r.stdout}\n${r.stderr}`
      expect(out).toMatch(/Segmentation|ParametricMap/)
      expect(out.split('\n').filter((l) => l.startsWith('Error'))).toEqual([])
    })
  }
})
