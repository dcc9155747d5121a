import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { readDicomTagsNode, readImageDicomFileSeriesNode } from '@itk-wasm/dicom'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeDicomSeries, type DicomWriteOptions } from '../../../src/io/writers/write-dicom.js'
import { createVolume, VolumeMetadata, type Mat3, type Vec3, type Volume } from '../../../src/volume/index.js'

const run = promisify(execFile)
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const readback = path.join(repoRoot, 'scripts/reference/dicomwrite_readback.py')
const hasPydicom = spawnSync('/usr/bin/python3', ['-c', 'import pydicom, numpy'], { stdio: 'ignore' }).status === 0
const hasDciodvfy = spawnSync('dciodvfy', [], { stdio: 'ignore' }).error === undefined

const SIZE: Vec3 = [32, 24, 5]
const SPACING: Vec3 = [0.5, 0.8, 2.5]
const deg = (a: number): number => (a * Math.PI) / 180
/** Row-major rotation about LPS x: columns are the images of the unit axes. */
const rotX = (a: number): Mat3 => [1, 0, 0, 0, Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a)]
const rotZ = (a: number): Mat3 => [Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a), 0, 0, 0, 1]
const fill = <T extends Float32Array | Uint16Array>(a: T, f: (i: number, j: number, k: number) => number): T => {
  for (let k = 0, n = 0; k < SIZE[2]; k++)
    for (let j = 0; j < SIZE[1]; j++) for (let i = 0; i < SIZE[0]; i++, n++) a[n] = f(i, j, k)
  return a
}
const voxels = SIZE[0] * SIZE[1] * SIZE[2]
const SOURCE = {
  studyInstanceUID: '1.2.826.0.1.3680043.8.498.11',
  seriesInstanceUID: '1.2.826.0.1.3680043.8.498.12',
  frameOfReferenceUID: '1.2.826.0.1.3680043.8.498.13',
  seriesNumber: 7,
  // Keyed by keyword and by tag; a non-patient tag must be ignored, not override the study UID.
  patient: { PatientName: 'Müller^Jürgen', PatientID: 'P-0042', '(0010,0040)': 'M', PatientBirthDate: '19700101', '0020000D': '1.2.3' },
}
const sourceInstances = (cls: string) =>
  Array.from({ length: SIZE[2] }, (_, k) => ({ sopClassUID: cls, sopInstanceUID: `1.2.826.0.1.3680043.8.498.2${k}` }))

interface Case {
  name: string
  volume: Volume
  opts: DicomWriteOptions
  /** Largest allowed |pydicom value − volume value|: half the rescale step, plus float32 rounding. */
  tolerance: (slope: number) => number
  sopClass: string
}

const cases: Case[] = [
  {
    name: 'CT float HU, oblique 20° about x',
    volume: createVolume({
      data: fill(new Float32Array(voxels), (i, j, k) => -1024 + 4095 * ((i * 7 + j * 13 + k * 29) % 97) / 96 + 0.37),
      size: SIZE,
      spacing: SPACING,
      origin: [-12.5, 30.25, -88],
      direction: rotX(deg(20)),
      modality: 'CT',
      meta: new VolumeMetadata({
        units: 'HU',
        dicom: { ...SOURCE, sourceInstances: sourceInstances('1.2.840.10008.5.1.4.1.1.2') },
      }),
    }),
    opts: { seriesDescription: 'raddiff denoise (ct-abdomen v1)', derivationDescription: 'model ct-abdomen v1 sha256 0f3a steps 50 seed 1' },
    tolerance: (slope) => slope / 2 + 1e-3,
    sopClass: '1.2.840.10008.5.1.4.1.1.2',
  },
  {
    name: 'CT float with integer HU',
    volume: createVolume({
      data: fill(new Float32Array(voxels), (i, j, k) => -1024 + ((i * 31 + j * 17 + k * 101) % 4096)),
      size: SIZE,
      spacing: SPACING,
      direction: rotX(deg(-20)),
      modality: 'CT',
      meta: new VolumeMetadata({ units: 'HU', dicom: { ...SOURCE, sourceInstances: sourceInstances('1.2.840.10008.5.1.4.1.1.2') } }),
    }),
    opts: {},
    tolerance: () => 0,
    sopClass: '1.2.840.10008.5.1.4.1.1.2',
  },
  {
    name: 'MR uint16 beyond int16, rotated 20° about z',
    volume: createVolume({
      data: fill(new Uint16Array(voxels), (i, j, k) => (i * 1021 + j * 2039 + k * 7919) % 65536),
      size: SIZE,
      spacing: SPACING,
      origin: [100, -50.5, 12],
      direction: rotZ(deg(20)),
      modality: 'MR',
      meta: new VolumeMetadata({ dicom: { ...SOURCE, sourceInstances: sourceInstances('1.2.840.10008.5.1.4.1.1.4') } }),
    }),
    opts: { seriesDescription: 'raddiff denoise (brain-t1 v1)' },
    tolerance: () => 0,
    sopClass: '1.2.840.10008.5.1.4.1.1.4',
  },
  {
    name: 'MR uint16 beyond int16, storage forced to int16 (rescaled)',
    volume: createVolume({
      data: fill(new Uint16Array(voxels), (i, j, k) => (i * 1021 + j * 2039 + k * 7919) % 65536),
      size: SIZE,
      spacing: SPACING,
      modality: 'MR',
      meta: new VolumeMetadata({ dicom: { ...SOURCE, sourceInstances: sourceInstances('1.2.840.10008.5.1.4.1.1.4') } }),
    }),
    opts: { storage: 'int16' },
    tolerance: (slope) => slope / 2 + 1e-6,
    sopClass: '1.2.840.10008.5.1.4.1.1.4',
  },
  {
    name: 'float volume from a NIfTI source (no DICOM metadata), coronal',
    volume: createVolume({
      data: fill(new Float32Array(voxels), (i, j, k) => Math.sin(i / 5) * Math.cos(j / 7) + k / 10),
      size: SIZE,
      spacing: SPACING,
      origin: [1, 2, 3],
      // cos 90° is 6e-17 in floating point: a DS writer that truncates text would turn it into 6.12.
      direction: rotX(deg(90)),
      modality: 'OT',
    }),
    opts: {},
    tolerance: (slope) => slope / 2 + 1e-6,
    sopClass: '1.2.840.10008.5.1.4.1.1.7',
  },
]

interface ReadSlice {
  sopClassUID: string
  sopInstanceUID: string
  studyInstanceUID: string
  seriesInstanceUID: string
  frameOfReferenceUID: string
  transferSyntaxUID: string
  modality: string
  imageType: string[]
  instanceNumber: number
  imagePositionPatient: number[]
  imageOrientationPatient: number[]
  pixelSpacing: number[]
  sliceThickness: number
  rows: number
  columns: number
  rescaleSlope: number
  rescaleIntercept: number
  rescaleType: string
  contentQualification: string
  imageComments: string
  seriesDescription: string
  derivationDescription: string
  burnedInAnnotation: string
  manufacturer: string
  patientName: string
  patientID: string
  patientSex: string
  sourceImages: { sopClassUID: string; sopInstanceUID: string }[]
  referencedSeries: string[]
  pixels: number[]
}

let root: string
const written = new Map<string, { folder: string; files: string[]; seriesInstanceUID: string }>()

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'raddiff-dicomwrite-'))
  for (const [n, c] of cases.entries()) {
    const folder = path.join(root, `series-${n}`)
    written.set(c.name, { folder, ...(await writeDicomSeries(c.volume, folder, c.opts)) })
  }
})
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

const column = (d: Mat3, j: number): number[] => [d[j], d[3 + j], d[6 + j]]

describe.skipIf(!hasPydicom)('DICOM writer, read back by pydicom', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const w = written.get(c.name)!
      const { stdout } = await run('/usr/bin/python3', [readback, w.folder], { maxBuffer: 64 << 20 })
      const slices = JSON.parse(stdout) as ReadSlice[]
      const v = c.volume
      const [nx, ny, nz] = v.size
      expect(slices).toHaveLength(nz)
      expect((await readdir(w.folder)).sort()).toEqual(w.files.map((f) => path.basename(f)).sort())

      const src = v.meta.dicom
      const first = slices[0]
      if (src) {
        expect(first.studyInstanceUID).toBe(src.studyInstanceUID)
        expect(first.frameOfReferenceUID).toBe(src.frameOfReferenceUID)
        expect(first.patientName).toBe('Müller^Jürgen')
        expect(first.patientID).toBe('P-0042')
        expect(first.patientSex).toBe('M')
      } else {
        expect(first.studyInstanceUID).toMatch(/^2\.25\.[1-9]\d*$/)
        expect(first.frameOfReferenceUID).toMatch(/^2\.25\.[1-9]\d*$/)
        expect(first.patientID).toBe('RADDIFF')
      }
      const uids = slices.map((s) => s.sopInstanceUID)
      expect(new Set(uids).size).toBe(nz)
      for (const s of slices) {
        expect(s.seriesInstanceUID).toBe(w.seriesInstanceUID)
        expect(s.seriesInstanceUID).not.toBe(SOURCE.seriesInstanceUID)
        expect(s.studyInstanceUID).toBe(first.studyInstanceUID)
        expect(s.frameOfReferenceUID).toBe(first.frameOfReferenceUID)
        for (const u of [s.sopInstanceUID, s.seriesInstanceUID]) {
          expect(u.length).toBeLessThanOrEqual(64)
          expect(BigInt(u.slice(5))).toBeLessThan(1n << 128n)
        }
        expect(s.sopClassUID).toBe(c.sopClass)
        expect(s.transferSyntaxUID).toBe('1.2.840.10008.1.2.1')
        expect(s.imageType.slice(0, 2)).toEqual(['DERIVED', 'SECONDARY'])
        expect(s.contentQualification).toBe('RESEARCH')
        expect(s.imageComments).toContain('NOT FOR CLINICAL USE')
        expect(s.seriesDescription).toMatch(/NOT FOR CLINICAL USE$/)
        expect(s.seriesDescription.length).toBeLessThanOrEqual(64)
        expect(s.burnedInAnnotation).toBe('NO')
        expect(s.manufacturer).toBe('raddiff')
        if (c.opts.seriesDescription) expect(s.seriesDescription).toContain(c.opts.seriesDescription)
        if (c.opts.derivationDescription) expect(s.derivationDescription).toBe(c.opts.derivationDescription)
        expect(s.rescaleType).toBe(v.modality === 'CT' ? 'HU' : s.sopClassUID.endsWith('.7') ? 'US' : '')
      }

      slices.forEach((s, k) => {
        // Sorted by pydicom's position along the normal, the slices come back in k order.
        expect(s.instanceNumber).toBe(k + 1)
        expect(s.rows).toBe(ny)
        expect(s.columns).toBe(nx)
        expect(s.pixelSpacing).toEqual([v.spacing[1], v.spacing[0]])
        expect(s.sliceThickness).toBeCloseTo(v.spacing[2], 9)
        const iop = [...column(v.direction, 0), ...column(v.direction, 1)]
        s.imageOrientationPatient.forEach((x, a) => expect(x).toBeCloseTo(iop[a], 9))
        const slice = column(v.direction, 2)
        s.imagePositionPatient.forEach((x, a) => expect(x).toBeCloseTo(v.origin[a] + k * v.spacing[2] * slice[a], 6))
        if (src) expect(s.sourceImages).toEqual([src.sourceInstances![k]])
        if (src) expect(s.referencedSeries).toEqual([src.seriesInstanceUID])

        const tol = c.tolerance(s.rescaleSlope)
        const offset = k * nx * ny
        let worst = 0
        for (let n = 0; n < nx * ny; n++) worst = Math.max(worst, Math.abs(s.pixels[n] - v.data[offset + n]))
        expect(worst).toBeLessThanOrEqual(tol)
      })
      if (c.tolerance(1) === 0) {
        expect(first.rescaleSlope).toBe(1)
        expect(first.rescaleIntercept).toBe(0)
      }
    })
  }
})

describe.skipIf(!hasDciodvfy)('DICOM writer, checked by dciodvfy', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const w = written.get(c.name)!
      const errors: string[] = []
      for (const file of w.files) {
        // dciodvfy reports on stderr and exits non-zero on errors; both are read, not trusted alone.
        const r = spawnSync('dciodvfy', [file], { encoding: 'utf8' })
        const lines = `${r.stdout}\n${r.stderr}`.split('\n')
        errors.push(...lines.filter((l) => l.startsWith('Error')).map((l) => `${path.basename(file)}: ${l}`))
      }
      expect(errors).toEqual([])
    })
  }
})

describe('DICOM writer, loaded as a volume by itk-wasm (GDCM)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const w = written.get(c.name)!
      const { outputImage: im } = await readImageDicomFileSeriesNode({ inputImages: w.files })
      const v = c.volume
      expect(im.size).toEqual(v.size)
      im.spacing.forEach((x, a) => expect(x).toBeCloseTo(v.spacing[a], 6))
      im.origin.forEach((x, a) => expect(x).toBeCloseTo(v.origin[a], 6))
      Array.from(im.direction as ArrayLike<number>).forEach((x, a) => expect(x).toBeCloseTo(v.direction[a], 6))
      const data = im.data as ArrayLike<number>
      expect(data.length).toBe(v.data.length)
      let worst = 0
      for (let n = 0; n < data.length; n++) worst = Math.max(worst, Math.abs(data[n] - v.data[n]))
      // GDCM applies the rescale itself; the bound is the quantisation step it reports.
      const { tags } = await readDicomTagsNode(w.files[0], { tagsToRead: { tags: ['0028|1053'] } })
      const slope = Number(tags.find(([t]) => t === '0028|1053')?.[1] ?? 1)
      expect(worst).toBeLessThanOrEqual(c.tolerance(slope))
    })
  }
})
