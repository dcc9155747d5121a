/**
 * Colour images through `raddiff convert`: NIfTI RGB24 checked against dcm2niix's conversion of
 * the same file (both read by nibabel), NRRD / MHA vectors against pydicom's pixel array, read
 * from the files' own text headers and zlib data. Tasks still refuse colour with a typed error.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { gunzipSync, inflateSync } from 'node:zlib'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { main } from '../../../src/cli/main.js'
import { writeNifti } from '../../../src/io/writers/write-nifti.js'
import { createVolume } from '../../../src/volume/index.js'

const repo = path.resolve(import.meta.dirname, '../../..')
const seeds = path.join(repo, 'fixtures/dicom/ts-matrix/seeds')
const tmp = mkdtempSync(path.join(os.tmpdir(), 'raddiff-rgb-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const PY = '/usr/bin/python3'
const has = (args: string[]) => spawnSync(args[0], args.slice(1), { stdio: 'ignore' }).status === 0
const hasNibabel = has([PY, '-c', 'import nibabel, pydicom'])
// dcm2niix -v exits non-zero: being able to start it is the test
const hasDcm2niix = spawnSync('dcm2niix', ['-v'], { stdio: 'ignore' }).error === undefined

async function run(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = ''
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true))
  const e = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try {
    return { code: await main(args), stdout }
  } finally {
    o.mockRestore()
    e.mockRestore()
  }
}

/** Ours vs dcm2niix: same world grid up to axis flips / permutation, same RGB at every point. */
const COMPARE = `
import json, sys
import nibabel as nib, numpy as np
a, b = nib.load(sys.argv[1]), nib.load(sys.argv[2])
def rgb(img):
    d = np.asarray(img.dataobj)
    return np.stack([d['R'], d['G'], d['B']], -1)
ra, rb = rgb(a), rgb(b)
t = np.linalg.inv(b.affine) @ a.affine          # our voxel index -> theirs
perm = np.rint(t[:3, :3])
ijk = np.indices(ra.shape[:3]).reshape(3, -1)
theirs = np.rint(perm @ ijk + t[:3, 3:4]).astype(int)
inside = all((theirs[k] >= 0).all() and (theirs[k] < rb.shape[k]).all() for k in range(3))
same = inside and bool((ra.reshape(-1, 3) == rb[theirs[0], theirs[1], theirs[2]]).all())
print(json.dumps({'datatype': int(a.header['datatype']), 'shape': list(ra.shape), 'theirShape': list(rb.shape),
  'affineIsVoxelMap': bool(np.abs(t[:3, :3] - perm).max() < 1e-4 and np.abs(t[:3, 3] - np.rint(t[:3, 3])).max() < 1e-3),
  'same': same}))
`

const PIXELS = `
import sys, pydicom, numpy as np
sys.stdout.buffer.write(np.ascontiguousarray(pydicom.dcmread(sys.argv[1]).pixel_array, dtype=np.uint8).tobytes())
`

/** Text header of a NRRD / MetaImage file and the bytes after it. */
function splitHeader(file: string, endOfHeader: RegExp): { header: string; body: Buffer } {
  const b = readFileSync(file)
  const m = endOfHeader.exec(b.toString('latin1'))!
  return { header: b.toString('latin1', 0, m.index + m[0].length), body: b.subarray(m.index + m[0].length) }
}

describe.each(['rgb-u8-planar0', 'rgb-u8-planar1'])('convert %s (colour)', (seed) => {
  const input = path.join(seeds, `${seed}.dcm`)

  it.skipIf(!hasNibabel || !hasDcm2niix)('NIfTI RGB24 holds the voxels and geometry dcm2niix writes', async () => {
    const ours = path.join(tmp, `${seed}.nii.gz`)
    expect((await run(['convert', input, '-o', ours])).code).toBe(0)
    const dir = path.join(tmp, `${seed}-dcm2niix`)
    execFileSync('mkdir', ['-p', dir])
    execFileSync('dcm2niix', ['-s', 'y', '-z', 'n', '-f', 'ref', '-o', dir, input], { stdio: 'ignore' })
    const r = JSON.parse(execFileSync(PY, ['-c', COMPARE, ours, path.join(dir, 'ref.nii')]).toString())
    expect(r).toMatchObject({ datatype: 128, affineIsVoxelMap: true, same: true })
    expect(r.shape.reduce((a: number, b: number) => a * b)).toBe(r.theirShape.reduce((a: number, b: number) => a * b))
  })

  it.skipIf(!hasNibabel)('NRRD and MHA hold 3-component vectors equal to pydicom\'s pixel array', async () => {
    const want = execFileSync(PY, ['-c', PIXELS, input])
    const nrrd = path.join(tmp, `${seed}.nrrd`)
    const mha = path.join(tmp, `${seed}.mha`)
    expect((await run(['convert', input, '-o', nrrd])).code).toBe(0)
    expect((await run(['convert', input, '-o', mha])).code).toBe(0)
    const [rows, cols] = readDims(input)

    const n = splitHeader(nrrd, /\n\n/)
    expect(n.header).toMatch(new RegExp(`^sizes: 3 ${cols} ${rows} 1$`, 'm'))
    expect(n.header).toMatch(/^type: (unsigned char|uchar|uint8)$/m)
    expect(n.header).toMatch(/^kinds: (vector|RGB-color|3-vector) domain domain domain$/m)
    expect(Buffer.compare(gunzipSync(n.body), want)).toBe(0)

    const m = splitHeader(mha, /ElementDataFile = LOCAL\n/)
    expect(m.header).toMatch(new RegExp(`^DimSize = ${cols} ${rows} 1$`, 'm'))
    expect(m.header).toMatch(/^ElementNumberOfChannels = 3$/m)
    expect(m.header).toMatch(/^ElementType = MET_UCHAR$/m)
    const body = /^CompressedData = True$/m.test(m.header) ? inflateSync(m.body) : m.body
    expect(Buffer.compare(body, want)).toBe(0)
  })

  it('tasks refuse colour input with a typed error', async () => {
    const r = await run(['denoise', input, '-o', path.join(tmp, `${seed}-denoise`), '--steps', '1', '--json'])
    expect(r.code).not.toBe(0)
    expect(r.code).not.toBe(1)
    expect(r.stdout).toMatch(/"code":"UNSUPPORTED_PIXEL_FORMAT"/)
  })
})

function readDims(file: string): [number, number] {
  const out = execFileSync(PY, ['-c', 'import sys, pydicom; d = pydicom.dcmread(sys.argv[1], stop_before_pixels=True); print(d.Rows, d.Columns)', file])
  const [r, c] = out.toString().trim().split(' ').map(Number)
  return [r, c]
}

it('NIfTI refuses colour deeper than 8 bits (RGB24 only) with a typed error, nothing written', async () => {
  const v = createVolume({ data: new Uint16Array(2 * 2 * 1 * 3), size: [2, 2, 1], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1], components: 3 })
  const out = path.join(tmp, 'deep.nii')
  await expect(writeNifti(v, out)).rejects.toMatchObject({ code: 'UNSUPPORTED_OUTPUT' })
  expect(() => readFileSync(out)).toThrow()
})
