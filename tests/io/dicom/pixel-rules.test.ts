import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadDicomSeries, scanDicom, summarizeDicomSeries } from '../../../src/io/dicom/index.js'
import { craftDicom, imageElements, type Element } from './craft.js'
import { refsOf } from './helpers.js'

const dir = mkdtempSync(path.join(tmpdir(), 'raddiff-px-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const stored = [0, 1, 100, 4095, 2048, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 0xf123]
const pixels = () => new Uint8Array(new Uint16Array(stored).buffer)

function file(name: string, over: Element[]): string {
  const p = path.join(dir, name)
  writeFileSync(p, craftDicom(imageElements([[0x7fe0, 0x0010, 'OW', pixels()], ...over])))
  return p
}
const plane = (z: number): Element[] => [
  [0x0020, 0x0032, 'DS', `0\\0\\${z}`],
  [0x0020, 0x0037, 'DS', '1\\0\\0\\0\\1\\0'],
  [0x0028, 0x0030, 'DS', '0.5\\0.5'],
]

describe('pixel rules from the DICOM standard (PS3.3 C.7.6.3, C.11.1)', () => {
  it('MONOCHROME1 is inverted within BitsStored, unused high bits masked, with a warning', async () => {
    const p = file('m1.dcm', [
      [0x0028, 0x0004, 'CS', 'MONOCHROME1'],
      [0x0028, 0x0101, 'US', 12],
    ])
    const { series } = await scanDicom(refsOf([p]))
    const v = await loadDicomSeries(series[0])
    // 0xf123 has garbage above bit 11: masked to 0x123 before inversion
    const expected = stored.map((s) => 4095 - (s & 0xfff))
    expect(Array.from(v.data)).toEqual(expected)
    expect(summarizeDicomSeries(series[0]).warnings.join(' ')).toMatch(/MONOCHROME1/)
  })

  it('slope / intercept differing per slice give float32 real values', async () => {
    const a = file('s1.dcm', [...plane(0), [0x0028, 0x1053, 'DS', '2'], [0x0028, 0x1052, 'DS', '-10']])
    const b = file('s2.dcm', [...plane(2.5), [0x0028, 0x1053, 'DS', '0.5'], [0x0028, 0x1052, 'DS', '3']])
    const { series } = await scanDicom(refsOf([b, a]))
    expect(series).toHaveLength(1)
    expect(series[0].spacing).toEqual([0.5, 0.5, 2.5])
    const v = await loadDicomSeries(series[0])
    expect(v.data).toBeInstanceOf(Float32Array)
    expect(v.meta.rescaleSlope).toBe(1)
    expect(v.meta.rescaleIntercept).toBe(0)
    const n = stored.length
    expect(Array.from(v.data.subarray(0, n))).toEqual(stored.map((s) => s * 2 - 10))
    expect(Array.from(v.data.subarray(n))).toEqual(stored.map((s) => s * 0.5 + 3))
  })

  it('signed 12-bit is sign-extended from bit 11', async () => {
    const p = file('s12.dcm', [
      [0x0028, 0x0101, 'US', 12],
      [0x0028, 0x0103, 'US', 1],
    ])
    const { series } = await scanDicom(refsOf([p]))
    const v = await loadDicomSeries(series[0])
    expect(v.data).toBeInstanceOf(Int16Array)
    expect(Array.from(v.data)).toEqual(stored.map((s) => ((s & 0xfff) << 20) >> 20))
  })

  it('files without positions are stacked by InstanceNumber, with a warning', async () => {
    const a = file('n2.dcm', [[0x0020, 0x0013, 'IS', '2']])
    const b = file('n1.dcm', [[0x0020, 0x0013, 'IS', '1']])
    const { series } = await scanDicom(refsOf([a, b]))
    expect(series[0].slices.map((s) => series[0].files[s.file].ref.name)).toEqual(['n1.dcm', 'n2.dcm'])
    expect(series[0].warnings.join(' ')).toMatch(/InstanceNumber/)
  })
})
