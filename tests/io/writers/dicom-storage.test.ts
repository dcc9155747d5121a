import { describe, expect, it } from 'vitest'
import { chooseStorage, toDecimalString } from '../../../src/io/writers/dicom-storage.js'
import { createVolume, VolumeMetadata } from '../../../src/volume/index.js'

const vol = (data: Float32Array | Int16Array | Uint16Array, meta?: VolumeMetadata, modality = 'CT') =>
  createVolume({ data, size: [data.length, 1, 1], modality, meta })

describe('toDecimalString (DICOM DS: at most 16 characters)', () => {
  const values = [0, 1, -1, 2.5, Math.PI, -Math.E * 1e-7, 6.123233995736766e-17, -6.123233995736766e-17, 1 / 3, 123456789.123456789, -1.5e300, 65535 / 3]
  for (const x of values) {
    it(`${x}`, () => {
      const s = toDecimalString(x)
      expect(s.length).toBeLessThanOrEqual(16)
      expect(s).toMatch(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/)
      expect(Math.abs(Number(s) - x)).toBeLessThanOrEqual(Math.abs(x) * 1e-9)
    })
  }
})

describe('chooseStorage', () => {
  it('keeps integer HU as int16 with slope 1, intercept 0', () => {
    const s = chooseStorage(vol(Float32Array.from([-1024, 0, 3071])))
    expect([s.slope, s.intercept, s.signed]).toEqual([1, 0, true])
    expect(Array.from(s.data)).toEqual([-1024, 0, 3071])
  })

  it('keeps stored integers and the source rescale bit-exact', () => {
    const s = chooseStorage(vol(Int16Array.from([0, 100, 4095]), new VolumeMetadata({ rescaleSlope: 1, rescaleIntercept: -1024 })))
    expect([s.slope, s.intercept, s.min, s.max]).toEqual([1, -1024, -1024, 3071])
    expect(Array.from(s.data)).toEqual([0, 100, 4095])
  })

  it('scales fractional values to span the type and covers both ends', () => {
    const real = Float32Array.from([-0.5, 0.123, 0.25, 1.75])
    for (const choice of ['auto', 'int16', 'uint16'] as const) {
      const s = chooseStorage(vol(real), choice)
      expect(Number(toDecimalString(s.slope))).toBe(s.slope)
      expect(Number(toDecimalString(s.intercept))).toBe(s.intercept)
      real.forEach((x, i) => expect(Math.abs(s.data[i] * s.slope + s.intercept - x)).toBeLessThanOrEqual(s.slope / 2 + 1e-7))
      expect(s.slope).toBeLessThan(2.25 / 65000)
    }
  })

  it('rescales uint16 data above 32767 when int16 is forced', () => {
    const s = chooseStorage(vol(Uint16Array.from([0, 40000, 65535]), undefined, 'MR'), 'int16')
    expect(s.signed).toBe(true)
    ;[0, 40000, 65535].forEach((x, i) => expect(Math.abs(s.data[i] * s.slope + s.intercept - x)).toBeLessThanOrEqual(s.slope / 2 + 1e-6))
  })
})
