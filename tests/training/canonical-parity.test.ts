import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { paddingFor, readSlice, sliceLayout, toCanonical, type SlicePlane } from '../../src/engine/index.js'
import { readImageFile } from '../../src/io/image/index.js'
import type { Volume } from '../../src/volume/index.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const dataRoot = path.resolve(repoRoot, '../shared/data')
const PY = '/usr/bin/python3'
const hasPy = existsSync(PY) && spawnSync(PY, ['-c', 'import torch, nibabel, numpy'], { stdio: 'ignore' }).status === 0
const hasData = existsSync(path.join(dataRoot, 'orientation/RAS.nii.gz'))
const tmp = mkdtempSync(path.join(tmpdir(), 'raddiff-canonical-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const IXI = 'mri/ixi-t1/IXI162-HH-1548_T1.nii.gz'
const RAS = 'orientation/RAS.nii.gz'
const LPI = 'orientation/LPI.nii.gz'
const FLAIR = 'lesion/brats2013/brats_2013_pat0005_1/Flair_subtrMeanDivStd.nii.gz'
const HEAD_CT = 'ct/head_cranium.nii.gz'

interface PyCanonical {
  shape: number[]
  perm: number[]
  flip: boolean[]
  spacing: number[]
  origin: number[]
  direction: number[]
  data: Float32Array
}

/** data.py's canonical real-valued array (nibabel affine → LPS → same greedy rule), x fastest. */
function pyCanonical(file: string): PyCanonical {
  const dir = path.join(tmp, path.basename(file))
  const r = spawnSync(PY, ['training/raddiff_train/data.py', 'dump', path.join(dataRoot, file), dir], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(`data.py dump failed:\n${(r.stderr ?? '').slice(-2000)}`)
  const b = readFileSync(path.join(dir, 'canonical.f32'))
  return { ...JSON.parse(readFileSync(path.join(dir, 'normalised.json'), 'utf8')), data: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) }
}

const real = (v: Volume): Float32Array => Float32Array.from(v.data as ArrayLike<number>, (s) => s * v.meta.rescaleSlope + v.meta.rescaleIntercept)
const read = (file: string): Promise<Volume> => readImageFile(path.join(dataRoot, file), path.basename(file))

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

function slice(v: Volume, plane: SlicePlane, s: number): { H: number; W: number; data: Float32Array } {
  const L = sliceLayout(v.size, plane)
  const pad = paddingFor(L.H, L.W, 1)
  const out = new Float32Array(L.H * L.W)
  readSlice(v, L, s, pad, 'edge', (x) => x, out)
  return { H: L.H, W: L.W, data: out }
}

describe.skipIf(!hasPy || !hasData)('canonical reorientation: engine vs training data prep (nibabel peer)', () => {
  it.each([
    { file: IXI, perm: [2, 0, 1], flip: [true, false, false] },
    { file: RAS, perm: [0, 1, 2], flip: [true, true, false] },
    { file: LPI, perm: [0, 1, 2], flip: [false, false, true] },
    { file: FLAIR, perm: [0, 1, 2], flip: [false, false, false] },
    { file: HEAD_CT, perm: [0, 1, 2], flip: [true, true, false] },
  ])('$file: same order, same array, same LPS geometry', async ({ file, perm, flip }) => {
    const py = pyCanonical(file)
    const c = toCanonical(await read(file))
    expect(c.reorientation).toEqual({ perm, flip })
    expect({ perm: py.perm, flip: py.flip }).toEqual({ perm, flip })
    expect(c.volume.size).toEqual(py.shape)
    expect(maxDiff(real(c.volume), py.data)).toBe(0)
    for (let a = 0; a < 3; a++) expect(c.volume.spacing[a]).toBeCloseTo(py.spacing[a], 4)
    for (let a = 0; a < 3; a++) expect(c.volume.origin[a]).toBeCloseTo(py.origin[a], 3)
    for (let a = 0; a < 9; a++) expect(c.volume.direction[a]).toBeCloseTo(py.direction[a], 5)
  }, 60_000)

  it('RAS and LPI storage of one image give identical canonical arrays and geometry', async () => {
    const a = toCanonical(await read(RAS)).volume
    const b = toCanonical(await read(LPI)).volume
    expect(b.size).toEqual(a.size)
    expect(maxDiff(real(a), real(b))).toBe(0)
    for (let i = 0; i < 3; i++) {
      expect(b.spacing[i]).toBeCloseTo(a.spacing[i], 5)
      expect(b.origin[i]).toBeCloseTo(a.origin[i], 3)
    }
    for (let i = 0; i < 9; i++) expect(b.direction[i]).toBeCloseTo(a.direction[i], 6)
  })

  it('IXI (P-S-R): canonical sagittal = the old voxel-axial training slices in reverse order', async () => {
    const v = await read(IXI)
    const c = toCanonical(v).volume
    const n = sliceLayout(v.size, 'axial').count
    expect(sliceLayout(c.size, 'sagittal').count).toBe(n)
    for (let s = 0; s < n; s++) {
      const old = slice(v, 'axial', n - 1 - s)
      const now = slice(c, 'sagittal', s)
      expect([now.H, now.W]).toEqual([old.H, old.W])
      expect(maxDiff(now.data, old.data)).toBe(0)
    }
  })

  it('BraTS FLAIR is stored canonical: axial unchanged; head CT (RAS): axial flipped in rows and columns', async () => {
    const flair = await read(FLAIR)
    expect(toCanonical(flair).volume).toBe(flair)
    const ct = await read(HEAD_CT)
    const c = toCanonical(ct).volume
    for (const s of [0, 50, 107]) {
      const old = slice(ct, 'axial', s)
      const now = slice(c, 'axial', s)
      const rot = Float32Array.from(old.data).reverse()
      expect(maxDiff(now.data, rot)).toBe(0)
    }
  })
})
