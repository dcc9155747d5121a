import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadVolumes } from '../../../src/io/load.js'
import { BASIC_PROFILE, createDeidentifier, deidentifyDataset } from '../../../src/io/writers/deidentify.js'
import { writeDicomSeries } from '../../../src/io/writers/write-dicom.js'
import type { Volume } from '../../../src/volume/index.js'
import canary from '../../reference/canary.json' with { type: 'json' }

const run = promisify(execFile)
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const check = path.join(repoRoot, 'scripts/reference/deid_check.py')
const canaryJson = path.join(repoRoot, 'tests/reference/canary.json')
const hasPydicom = spawnSync('/usr/bin/python3', ['-c', 'import pydicom'], { stdio: 'ignore' }).status === 0
const hasDciodvfy = spawnSync('dciodvfy', [], { stdio: 'ignore' }).error === undefined

interface PeerFile {
  name: string
  found: string[]
  privateTags: number
  patientName: string
  patientID: string
  birthDate: string
  studyUID: string
  seriesUID: string
  sopUID: string
  mediaSopUID: string
  frameOfReferenceUID: string
  relatedSeriesUIDs: string[]
  referencedSOPs: string[]
  patientIdentityRemoved: string
  longitudinal: string
  methodCodes: [string, string][]
  dates: string[]
}

const peer = async (folder: string): Promise<PeerFile[]> => JSON.parse((await run('/usr/bin/python3', [check, folder, canaryJson], { maxBuffer: 1 << 24 })).stdout)

describe('deidentifyDataset (PS3.15 E.1 Basic Profile) on a naturalised dataset', () => {
  const d = createDeidentifier(Buffer.from('fixed secret for the unit test'))
  const out = deidentifyDataset(
    {
      PatientName: [{ Alphabetic: 'Doe^Jane' }],
      PatientID: 'MRN-1',
      PatientBirthDate: '19800101',
      PatientAge: '044Y',
      InstitutionName: 'General Hospital',
      OperatorsName: 'Tech^A',
      StudyDate: '20240102',
      SeriesDate: '20240102',
      StudyInstanceUID: '1.2.3.4',
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.4',
      SourceImageSequence: [{ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.4', ReferencedSOPInstanceUID: '1.2.3.4.5' }],
      Modality: 'MR',
      _meta: { MediaStorageSOPInstanceUID: '1.2.3.4.5', TransferSyntaxUID: '1.2.840.10008.1.2.1' },
      ['00091001' as string]: 'private',
    },
    d,
  )
  it('applies the action codes of the table', () => {
    expect(BASIC_PROFILE).toMatchObject({ PatientName: 'Z', PatientAge: 'X', InstitutionName: 'X', StudyInstanceUID: 'U', StudyDate: 'Z' })
    expect(out.PatientName).toBe('')
    expect(out.PatientID).toMatch(/^ANON-[0-9A-F]{12}$/)
    expect(out.PatientBirthDate).toBe('')
    expect(out.StudyDate).toBe('')
    for (const k of ['PatientAge', 'InstitutionName', 'OperatorsName', 'SeriesDate', '00091001']) expect(out).not.toHaveProperty(k)
    expect(out.Modality).toBe('MR')
    expect(out.SOPClassUID).toBe('1.2.840.10008.5.1.4.1.1.4')
  })
  it('replaces instance UIDs consistently, inside sequences and the meta header, and keeps class UIDs', () => {
    const item = (out.SourceImageSequence as Record<string, string>[])[0]
    expect(item.ReferencedSOPClassUID).toBe('1.2.840.10008.5.1.4.1.1.4')
    expect(item.ReferencedSOPInstanceUID).not.toBe('1.2.3.4.5')
    expect(item.ReferencedSOPInstanceUID).toBe((out._meta as Record<string, string>).MediaStorageSOPInstanceUID)
    expect(out.StudyInstanceUID).toBe(d.uid('1.2.3.4'))
    expect(out.StudyInstanceUID).toMatch(/^2\.25\.\d{30,39}$/)
    expect(createDeidentifier().uid('1.2.3.4')).not.toBe(out.StudyInstanceUID)
    expect((out._meta as Record<string, string>).TransferSyntaxUID).toBe('1.2.840.10008.1.2.1')
  })
  it('records the method', () => {
    expect(out.PatientIdentityRemoved).toBe('YES')
    expect(out.LongitudinalTemporalInformationModified).toBe('REMOVED')
    expect(out.DeidentificationMethodCodeSequence).toContainEqual(expect.objectContaining({ CodeValue: '113100', CodingSchemeDesignator: 'DCM' }))
  })
})

describe.skipIf(!hasPydicom)('de-identified series of the canary, read back by pydicom', () => {
  let root: string
  let volume: Volume
  let deid: PeerFile[]
  let plain: PeerFile[]
  const written: Record<string, string> = {}
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'raddiff-deid-'))
    volume = (await loadVolumes([path.join(repoRoot, 'fixtures/hardening/canary-mosaic.dcm')]))[0].volume
    written.deid = path.join(root, 'deid')
    written.plain = path.join(root, 'plain')
    await writeDicomSeries(volume, written.deid, { deidentify: true, seriesDescription: 'raddiff test' })
    await writeDicomSeries(volume, written.plain, {})
    ;[deid, plain] = await Promise.all([peer(written.deid), peer(written.plain)])
  }, 60_000)
  afterAll(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('the control (no deidentify) carries the canary patient, so the check can fail', () => {
    expect(plain[0].found).toEqual(expect.arrayContaining([canary.strings.PatientName, canary.strings.PatientID]))
    expect(plain[0].studyUID).toBe(canary.sourceUIDs.study)
  })

  it('no canary identifier and no private tag remains in any file', () => {
    expect(deid.length).toBe(volume.size[2])
    for (const f of deid) {
      expect(f.found, f.name).toEqual([])
      expect(f.privateTags).toBe(0)
      expect(f.patientName).toBe('')
      expect(f.birthDate).toBe('')
      expect(f.dates.every((x) => x === '')).toBe(true)
      expect(f.patientIdentityRemoved).toBe('YES')
      expect(f.longitudinal).toBe('REMOVED')
      expect(f.methodCodes).toContainEqual(['113100', 'DCM'])
    }
  })

  it('UIDs differ from the source but are consistent across the series', () => {
    const src = Object.values(canary.sourceUIDs)
    const one = <K extends keyof PeerFile>(k: K) => new Set(deid.map((f) => JSON.stringify(f[k])))
    expect(one('studyUID').size).toBe(1)
    expect(one('seriesUID').size).toBe(1)
    expect(one('frameOfReferenceUID').size).toBe(1)
    expect(one('patientID').size).toBe(1)
    expect(one('relatedSeriesUIDs').size).toBe(1)
    expect(new Set(deid.map((f) => f.sopUID)).size).toBe(deid.length)
    for (const f of deid) {
      expect(f.mediaSopUID).toBe(f.sopUID)
      for (const u of [f.studyUID, f.seriesUID, f.frameOfReferenceUID, f.sopUID, ...f.relatedSeriesUIDs, ...f.referencedSOPs]) {
        expect(src).not.toContain(u)
        expect(u).toMatch(/^2\.25\.\d+$/)
      }
    }
    expect(deid[0].relatedSeriesUIDs.length).toBe(1)
    expect(deid[0].relatedSeriesUIDs[0]).not.toBe(deid[0].seriesUID)
  })

  it('one shared deidentifier keeps Study and FrameOfReference UIDs across two written series', async () => {
    const d = createDeidentifier()
    await writeDicomSeries(volume, path.join(root, 'a'), { deidentify: d })
    await writeDicomSeries(volume, path.join(root, 'b'), { deidentify: d })
    const [a, b] = await Promise.all([peer(path.join(root, 'a')), peer(path.join(root, 'b'))])
    expect(a[0].studyUID).toBe(b[0].studyUID)
    expect(a[0].frameOfReferenceUID).toBe(b[0].frameOfReferenceUID)
    expect(a[0].seriesUID).not.toBe(b[0].seriesUID)
    // A separate run (its own secret) is not linkable to this one.
    expect(a[0].studyUID).not.toBe(deid[0].studyUID)
  }, 60_000)

  it.skipIf(!hasDciodvfy)('dciodvfy reports no errors on the de-identified files', () => {
    const errors: string[] = []
    for (const f of [deid[0], deid[17], deid.at(-1)!]) {
      const r = spawnSync('dciodvfy', [path.join(written.deid, f.name)], { encoding: 'utf8' })
      errors.push(...`${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.startsWith('Error')).map((l) => `${f.name}: ${l}`))
    }
    expect(errors).toEqual([])
  })
})
