import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IoError } from '../../../src/io/errors.js'
import { writeDicomSeries } from '../../../src/io/writers/write-dicom.js'
import { createVolume, VolumeMetadata, type Volume } from '../../../src/volume/index.js'

const PATIENT = 'Secret^Patient'
const STUDY = '1.2.826.0.1.3680043.8.498.77'
const volume = (nz: number, data?: Float32Array, components = 1): Volume =>
  createVolume({
    data: data ?? new Float32Array(8 * 6 * nz * components).map((_, i) => i % 50),
    size: [8, 6, nz],
    components,
    modality: 'CT',
    meta: new VolumeMetadata({ dicom: { studyInstanceUID: STUDY, patient: { PatientName: PATIENT, PatientID: 'ID-123' } } }),
  })

/** The refusal must be typed and must not echo identifiers. */
async function expectWriteFailed(p: Promise<unknown>): Promise<IoError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(IoError)
  const err = e as IoError
  expect(err.code).toBe('WRITE_FAILED')
  for (const secret of [PATIENT, 'ID-123', STUDY]) expect(err.message).not.toContain(secret)
  expect(err.message).not.toMatch(/\n\s+at /)
  return err
}

let root: string
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'raddiff-dicomfolder-'))
})
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

/** Siblings a failed or finished write must not leave behind. */
const leftovers = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.includes('.raddiff-'))

describe('writeDicomSeries folder handling', () => {
  it('creates missing parent folders and leaves no temp folders', async () => {
    const out = path.join(root, 'a/b/series')
    const r = await writeDicomSeries(volume(3), out)
    expect((await readdir(out)).sort()).toEqual(['IM00001.dcm', 'IM00002.dcm', 'IM00003.dcm'])
    expect(r.files).toEqual(['IM00001.dcm', 'IM00002.dcm', 'IM00003.dcm'].map((n) => path.join(out, n)))
    expect(await leftovers(path.join(root, 'a/b'))).toEqual([])
  })

  it('replaces its own earlier output whole (no stale slices remain)', async () => {
    const out = path.join(root, 'again')
    const first = await writeDicomSeries(volume(4), out)
    const second = await writeDicomSeries(volume(2), out)
    expect(second.seriesInstanceUID).not.toBe(first.seriesInstanceUID)
    expect((await readdir(out)).sort()).toEqual(['IM00001.dcm', 'IM00002.dcm'])
    const bytes = await readFile(path.join(out, 'IM00001.dcm'))
    expect(bytes.includes(second.seriesInstanceUID, 0, 'latin1')).toBe(true)
    expect(await leftovers(root)).toEqual([])
  })

  it('writes into an existing empty folder', async () => {
    const out = path.join(root, 'empty')
    await mkdir(out)
    await writeDicomSeries(volume(1), out)
    expect(await readdir(out)).toEqual(['IM00001.dcm'])
  })

  it('refuses a folder holding a file it did not write, and keeps that file', async () => {
    const out = path.join(root, 'foreign')
    await writeDicomSeries(volume(2), out)
    await writeFile(path.join(out, 'notes.txt'), 'keep me')
    await expectWriteFailed(writeDicomSeries(volume(2), out))
    expect(await readFile(path.join(out, 'notes.txt'), 'utf8')).toBe('keep me')
    expect((await readdir(out)).sort()).toEqual(['IM00001.dcm', 'IM00002.dcm', 'notes.txt'])
    expect(await leftovers(root)).toEqual([])
  })

  it('refuses a DICOM file with our naming written by another implementation', async () => {
    const out = path.join(root, 'lookalike')
    await mkdir(out)
    const other = Buffer.alloc(400)
    other.write('DICM', 128, 'latin1')
    other.write('1.2.3.4.5.6', 160, 'latin1')
    await writeFile(path.join(out, 'IM00001.dcm'), other)
    await expectWriteFailed(writeDicomSeries(volume(1), out))
    expect(await readFile(path.join(out, 'IM00001.dcm'))).toEqual(other)
  })

  it('refuses an output path that is a file', async () => {
    const out = path.join(root, 'a-file')
    await writeFile(out, 'x')
    await expectWriteFailed(writeDicomSeries(volume(1), out))
    expect(await readFile(out, 'utf8')).toBe('x')
  })

  it('reports an unwritable location as WRITE_FAILED', async () => {
    await writeFile(path.join(root, 'blocker'), 'x')
    await expectWriteFailed(writeDicomSeries(volume(1), path.join(root, 'blocker/sub')))
  })
})

describe('writeDicomSeries input checks', () => {
  it('rejects NaN voxels before creating anything', async () => {
    const data = new Float32Array(8 * 6 * 2)
    data[17] = Number.NaN
    const out = path.join(root, 'nan')
    await expectWriteFailed(writeDicomSeries(volume(2, data), out))
    await expect(readdir(out)).rejects.toThrow()
  })

  it('rejects multi-component (RGB) volumes', async () => {
    await expectWriteFailed(writeDicomSeries(volume(1, undefined, 3), path.join(root, 'rgb')))
  })

  it('rejects a series number that IS cannot hold', async () => {
    await expectWriteFailed(writeDicomSeries(volume(1), path.join(root, 'sn'), { seriesNumber: 2 ** 40 }))
  })
})
