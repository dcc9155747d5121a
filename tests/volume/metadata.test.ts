import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { VolumeMetadata, createVolume, indexToPoint, indexToRas, toFloat32, withFloatData } from '../../src/volume/index.js'

const canary = { PatientName: 'CANARY^PATIENT', PatientID: 'CANARY-ID-0001', PatientBirthDate: '19010101' }

describe('VolumeMetadata', () => {
  it('never prints patient attributes through inspect, JSON or string conversion', () => {
    const meta = new VolumeMetadata({ rescaleSlope: 2, dicom: { patient: canary, studyInstanceUID: '1.2.3.999', seriesDescription: 'CANARY series' } })
    const v = createVolume({ data: new Int16Array(8), size: [2, 2, 2], meta })
    const texts = [inspect(v, { depth: 10 }), JSON.stringify(v), JSON.stringify({ meta }), `${inspect(meta)}`]
    for (const t of texts) {
      expect(t).not.toContain('CANARY')
      expect(t).not.toContain('1.2.3.999')
    }
    // …while writers can still read them explicitly.
    expect(v.meta.dicom?.patient?.PatientName).toBe('CANARY^PATIENT')
  })

  it('clone copies deeply, so a derived volume cannot alter its source', () => {
    const meta = new VolumeMetadata({ dicom: { patient: { ...canary } } })
    const c = meta.clone({ units: 'HU' })
    c.dicom!.patient!.PatientID = 'changed'
    expect(meta.dicom?.patient?.PatientID).toBe('CANARY-ID-0001')
    expect(c.units).toBe('HU')
  })
})

describe('Volume', () => {
  it('applies rescale when giving float32 and keeps the stored array untouched', () => {
    const data = new Int16Array([0, 1, 1000, -1])
    const v = createVolume({ data, size: [2, 2, 1], meta: new VolumeMetadata({ rescaleSlope: 1, rescaleIntercept: -1024 }) })
    expect(Array.from(toFloat32(v))).toEqual([-1024, -1023, -24, -1025])
    expect(Array.from(v.data)).toEqual([0, 1, 1000, -1])
    const f = withFloatData(v)
    expect(f.meta.rescaleIntercept).toBe(0)
    expect(Array.from(toFloat32(f))).toEqual([-1024, -1023, -24, -1025])
  })

  it('rejects a voxel array that does not match the size', () => {
    expect(() => createVolume({ data: new Uint8Array(7), size: [2, 2, 2] })).toThrow(RangeError)
  })

  it('maps indices to LPS and RAS as the NIfTI convention requires', () => {
    // IXI T1 geometry as nibabel reports it (RAS affine) and itk-wasm reads it (LPS):
    // affine [[0,0,2,-84.163],[-2,0,0,115.010],[0,2,0,-148.212]].
    const v = createVolume({
      data: new Uint8Array(1),
      size: [1, 1, 1],
      spacing: [2, 2, 2],
      origin: [84.163, -115.01, -148.212],
      direction: [0, 0, -1, 1, 0, 0, 0, 1, 0],
    })
    const ras = indexToRas(v)
    expect(ras.slice(0, 12).map((x) => Math.round(x * 1000) / 1000 + 0)).toEqual([0, 0, 2, -84.163, -2, 0, 0, 115.01, 0, 2, 0, -148.212])
    expect(indexToPoint(v, [1, 0, 0]).map((x) => Math.round(x * 1000) / 1000)).toEqual([84.163, -113.01, -148.212])
  })
})
