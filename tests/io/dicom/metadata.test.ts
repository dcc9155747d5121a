import { readFileSync } from 'node:fs'
import path from 'node:path'
import { inspect } from 'node:util'
import { describe, expect, it, vi } from 'vitest'
import { isDicomBytes, loadDicomSeries, scanDicom, summarizeDicomSeries } from '../../../src/io/dicom/index.js'
import { fixtures, loadOne, refs, refsOf } from './helpers.js'

const REF = JSON.parse(readFileSync(refs('dicom-metadata.json'), 'utf8')).CT_small

describe('metadata and summary (CT_small fixture vs pydicom)', () => {
  it('VolumeMetadata.dicom carries the source attributes, and never prints them', async () => {
    const v = await loadOne(path.join(fixtures, 'CT_small.dcm'))
    const d = v.meta.dicom!
    expect(d.patient).toEqual(REF.patient)
    expect(d.studyInstanceUID).toBe(REF.studyInstanceUID)
    expect(d.seriesInstanceUID).toBe(REF.seriesInstanceUID)
    expect(d.frameOfReferenceUID).toBe(REF.frameOfReferenceUID)
    expect(d.sourceInstances).toEqual([{ sopClassUID: REF.sopClassUID, sopInstanceUID: REF.sopInstanceUID }])
    expect(d.studyDate).toBe(REF.studyDate)
    expect(d.seriesNumber).toBe(REF.seriesNumber)
    expect(d.transferSyntaxUID).toBe(REF.transferSyntaxUID)
    for (const text of [JSON.stringify(v.meta), inspect(v.meta), JSON.stringify(v)]) {
      expect(text).not.toContain(REF.patient.PatientName)
      expect(text).not.toContain(REF.studyInstanceUID)
    }
  })

  it('summary is header-only and names the transfer syntax', async () => {
    const { series } = await scanDicom(refsOf([path.join(fixtures, 'CT_small_rle.dcm')]))
    const s = summarizeDicomSeries(series[0])
    expect(s).toMatchObject({
      format: 'dicom',
      files: 1,
      size: [128, 128, 1],
      modality: 'CT',
      components: 1,
      voxelType: 'int16',
      transferSyntax: { uid: '1.2.840.10008.1.2.5', name: 'RLE Lossless' },
      seriesInstanceUID: REF.seriesInstanceUID,
    })
  })

  it('codecs and GDCM write nothing to stdout (it carries --json output)', async () => {
    const spy = vi.spyOn(process.stdout, 'write')
    try {
      for (const f of ['CT_small_rle.dcm', 'MR_small_jp2klossless.dcm']) {
        const { series } = await scanDicom(refsOf([path.join(fixtures, f)]))
        await loadDicomSeries(series[0])
      }
      expect(spy).not.toHaveBeenCalled()
    } finally {
      spy.mockRestore()
    }
  })

  it('isDicomBytes: Part 10 marker, raw data sets in either byte order, not noise', () => {
    expect(isDicomBytes(readFileSync(path.join(fixtures, 'CT_small.dcm')).subarray(0, 256))).toBe(true)
    // raw explicit-VR little-endian data set starting at (0008,0005) CS
    expect(isDicomBytes(Uint8Array.from([0x08, 0x00, 0x05, 0x00, 0x43, 0x53, 0x0a, 0x00]))).toBe(true)
    // the same, big endian
    expect(isDicomBytes(Uint8Array.from([0x00, 0x08, 0x00, 0x05, 0x43, 0x53, 0x00, 0x0a]))).toBe(true)
    expect(isDicomBytes(new TextEncoder().encode('%PDF-1.7 not an image at all'))).toBe(false)
  })
})
