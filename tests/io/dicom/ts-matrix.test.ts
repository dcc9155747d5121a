/**
 * One image, every transfer syntax, the same voxels. Each seed in fixtures/dicom/ts-matrix/seeds
 * is compressed at test time by dcmtk and GDCM (scripts/ts-matrix.ts, cached in the temp dir)
 * and every file must load to exactly pydicom's decode of its uncompressed seed (lossless), or
 * within the codec's stated error (JPEG-LS near-lossless: NEAR), or within 1 of an independent
 * decoder's output (lossy JPEG and JPEG 2000, which state no bound: dcmdjpeg; pydicom with
 * Pillow's OpenJPEG, clamped to BitsStored as the loader does). Where pydicom
 * has a decoder for the compressed file itself (RLE, deflate, big endian, Pillow's JPEG), ours
 * must agree with it too.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { scanDicom } from '../../../src/io/dicom/index.js'
import { ENCODINGS, SEEDS_DIR, buildMatrix, toolsPresent, type Matrix, type MatrixFile } from '../../../scripts/ts-matrix.js'
import { loadOne, refsOf, repoRoot } from './helpers.js'

const PY = '/usr/bin/python3'
const hasPydicom = spawnSync(PY, ['-c', 'import pydicom, numpy'], { stdio: 'ignore' }).status === 0
const ready = hasPydicom && (await toolsPresent())

interface PyDecoded {
  ok: boolean
  shape?: number[]
  photometric?: string
}

let matrix: Matrix | undefined
const pydicom = new Map<string, Float64Array>()
const pyInfo = new Map<string, PyDecoded>()
let refDir = ''
if (ready) {
  matrix = await buildMatrix()
  refDir = mkdtempSync(path.join(tmpdir(), 'raddiff-ts-matrix-py-'))
  const inputs = [
    ...matrix.seeds.map((s) => path.join(SEEDS_DIR, `${s.name}.dcm`)),
    ...matrix.files.flatMap((f) => [f.file, ...(f.decoded ? [f.decoded] : [])].map((n) => path.join(matrix!.dir, n))),
  ]
  const out = execFileSync(PY, [path.join(repoRoot, 'scripts/reference/dicom_ts_decode.py'), refDir, ...inputs], { encoding: 'utf8', maxBuffer: 1 << 24 })
  for (const line of out.trim().split('\n')) {
    const r = JSON.parse(line) as PyDecoded & { file: string }
    const name = path.basename(r.file)
    pyInfo.set(name, r)
    if (r.ok) {
      const b = readFileSync(path.join(refDir, `${name}.pydicom.f64`))
      pydicom.set(name, new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8))
    }
  }
}
afterAll(() => {
  if (refDir) rmSync(refDir, { recursive: true, force: true })
})

/** What the loader promises for stored values: MONOCHROME1 comes back inverted within BitsStored. */
function expectedFromPydicom(values: Float64Array, photometric: string, bitsStored: number): Float64Array {
  if (photometric !== 'MONOCHROME1') return values
  const max = 2 ** bitsStored - 1
  return values.map((v) => max - v)
}

/** A lossy codec's overshoot past the stored range: the loader clamps it (unsigned) */
function clampStored(values: Float64Array, bitsStored: number, signed: boolean): Float64Array {
  if (signed) return values
  const hi = 2 ** bitsStored - 1
  return values.map((v) => Math.min(hi, Math.max(0, v)))
}

interface Diff {
  count: number
  maxAbs: number
  first?: { index: number; ours: number; expected: number }
}

function diff(ours: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): Diff {
  const d: Diff = { count: 0, maxAbs: 0 }
  for (let i = 0; i < expected.length; i++) {
    const a = Math.abs(ours[i] - expected[i])
    if (a > d.maxAbs) d.maxAbs = a
    if (a > tolerance) {
      d.count++
      d.first ??= { index: i, ours: ours[i], expected: expected[i] }
    }
  }
  return d
}

const files = matrix?.files ?? []
const seedOf = (f: MatrixFile) => matrix!.seeds.find((s) => s.name === f.seed)!
const encodingOf = (f: MatrixFile) => ENCODINGS.find((e) => e.id === f.encoding)!
const crossChecked: string[] = []

describe.skipIf(!ready)('transfer-syntax matrix: every seed through dcmtk and GDCM encoders', () => {
  it('builds every seed × encoding the encoders accept', () => {
    const m = matrix!
    const expected = m.seeds.reduce((n, s) => n + ENCODINGS.filter((e) => e.accepts(s)).length, 0)
    // an encoder refusing a format it claims to take would shrink the matrix silently
    expect(m.refused).toEqual([])
    expect(m.files.length).toBe(expected)
    expect(m.seeds.length).toBeGreaterThanOrEqual(10)
  })

  it.each(files.map((f) => [f.file, f] as const))('%s', async (_name, f) => {
    const seed = seedOf(f)
    const enc = encodingOf(f)
    const file = path.join(matrix!.dir, f.file)
    // the encoder wrote the syntax this column is about, not a fallback
    const { series } = await scanDicom(refsOf([file]))
    const header = series[0].files[0]
    expect(header.transferSyntaxUID).toBe(enc.transferSyntax)

    const v = await loadOne(file)
    const seedPy = pyInfo.get(`${seed.name}.dcm`)!
    expect(v.components).toBe(seed.samples)
    expect(v.size[0] * v.size[1] * v.size[2] * v.components).toBe(pydicom.get(`${seed.name}.dcm`)!.length)
    // MONOCHROME1 inverts within the file's own BitsStored (dcmcjpeg +ee raises 10 to 12)
    const bitsStored = header.format.bitsStored
    let truth: Float64Array
    if (enc.reference === 'decoded') truth = expectedFromPydicom(pydicom.get(f.decoded!)!, pyInfo.get(f.decoded!)!.photometric!, bitsStored)
    else if (enc.reference === 'pydicom') {
      const py = pydicom.get(f.file)
      expect(py, `pydicom could not decode ${f.file}: ${JSON.stringify(pyInfo.get(f.file))}`).toBeDefined()
      truth = expectedFromPydicom(clampStored(py!, bitsStored, seed.signed), pyInfo.get(f.file)!.photometric!, bitsStored)
    } else truth = expectedFromPydicom(pydicom.get(`${seed.name}.dcm`)!, seedPy.photometric!, bitsStored)
    const d = diff(v.data, truth, enc.maxError)
    expect(d, `${d.count} voxels off (largest ${d.maxAbs})`).toMatchObject({ count: 0 })

    const py = pydicom.get(f.file)
    if (py && enc.maxError === 0) {
      crossChecked.push(f.file)
      const dp = diff(v.data, expectedFromPydicom(py, pyInfo.get(f.file)!.photometric!, bitsStored), 0)
      expect(dp, `${dp.count} voxels differ from pydicom's decode of the same file`).toMatchObject({ count: 0 })
    }
  })

  it('pydicom decoded some of the compressed files itself, and agreed', () => {
    // RLE, deflate, big endian and implicit VR at least: pydicom 2.3 has numpy/RLE handlers everywhere
    expect(crossChecked.filter((f) => f.includes('-rle')).length).toBeGreaterThanOrEqual(matrix!.seeds.length)
  })
})

/** The committed sample (fixtures/dicom/ts-matrix/sample): the #16 faults, covered without dcmtk / GDCM. */
const SAMPLE_DIR = path.join(repoRoot, 'fixtures/dicom/ts-matrix/sample')
const samples = readdirSync(SAMPLE_DIR).filter((f) => f.endsWith('.dcm') && !f.endsWith('.orig.dcm')).sort()

describe.skipIf(!hasPydicom)('transfer-syntax matrix: committed sample vs pydicom\'s decode of each original', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'raddiff-ts-sample-py-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const originals = samples.map((f) => path.join(SAMPLE_DIR, f.replace(/\.dcm$/, '.orig.dcm')))
  const decoded = new Map<string, { values: Float64Array; photometric: string; bitsStored: number }>()
  if (hasPydicom) {
    const out = execFileSync(PY, [path.join(repoRoot, 'scripts/reference/dicom_ts_decode.py'), dir, ...originals], { encoding: 'utf8' })
    for (const line of out.trim().split('\n')) {
      const r = JSON.parse(line) as PyDecoded & { file: string }
      const b = readFileSync(path.join(dir, `${path.basename(r.file)}.pydicom.f64`))
      const bits = spawnSync(PY, ['-c', 'import sys, pydicom; print(pydicom.dcmread(sys.argv[1], stop_before_pixels=True).BitsStored)', r.file], { encoding: 'utf8' })
      decoded.set(path.basename(r.file), { values: new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8), photometric: r.photometric!, bitsStored: Number(bits.stdout) })
    }
  }

  it.each(samples)('%s', async (name) => {
    const ref = decoded.get(name.replace(/\.dcm$/, '.orig.dcm'))!
    const v = await loadOne(path.join(SAMPLE_DIR, name))
    const d = diff(v.data, expectedFromPydicom(ref.values, ref.photometric, ref.bitsStored), 0)
    expect(d, `${d.count} voxels off (largest ${d.maxAbs})`).toMatchObject({ count: 0 })
  })
})
