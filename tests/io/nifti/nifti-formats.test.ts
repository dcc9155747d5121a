import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { inspectImageFile, itkFormatOf, readImageFile } from '../../../src/io/image/index.js'
import { writeItkImage } from '../../../src/io/writers/write-itk-image.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const fx = (name: string) => path.join(repoRoot, 'fixtures/nifti', name)
const work = mkdtempSync(path.join(tmpdir(), 'raddiff-formats-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe('itkFormatOf', () => {
  it('names formats by extension, confirmed by magic bytes', async () => {
    expect(itkFormatOf(fx('ixi-t1-small.nii.gz'))).toBe('nifti')
    expect(itkFormatOf(fx('ixi-t1-tiny-pair.hdr'))).toBe('nifti') // big-endian sizeof_hdr
    expect(itkFormatOf(fx('ixi-t1-tiny-pair.img'))).toBe('nifti')
    expect(itkFormatOf(path.join(work, 'not-yet.mgz'))).toBe('mgh')
    expect(itkFormatOf(path.join(work, 'scan.dcm'))).toBeUndefined()
    const fake = path.join(work, 'fake.nii.gz')
    writeFileSync(fake, 'plain text')
    expect(itkFormatOf(fake)).toBeUndefined()
    const nrrd = path.join(work, 'fake.nrrd')
    writeFileSync(nrrd, 'P5 not nrrd')
    expect(itkFormatOf(nrrd)).toBeUndefined()
  })
})

describe('pairs and other itk-wasm formats', () => {
  it('.img names the same image as its .hdr', async () => {
    const a = await readImageFile(fx('ixi-t1-tiny-pair.hdr'), 'hdr')
    const b = await readImageFile(fx('ixi-t1-tiny-pair.img'), 'img')
    expect(b.origin).toEqual(a.origin)
    expect(Buffer.compare(Buffer.from(a.data.buffer), Buffer.from(b.data.buffer))).toBe(0)
    expect((await inspectImageFile(fx('ixi-t1-tiny-pair.img'), 'img')).files).toBe(2)
  })

  for (const ext of ['nrrd', 'mha']) {
    it(`inspect ${ext}: header summary matches the full read`, async () => {
      const src = await readImageFile(fx('ixi-t1-small.nii.gz'), 'fixture')
      const out = path.join(work, `x.${ext}`)
      await writeItkImage(src, out)
      expect(itkFormatOf(out)).toBe(ext)
      const s = await inspectImageFile(out, 'x')
      expect(s).toMatchObject({ format: ext, size: [60, 60, 45], voxelType: 'float32', components: 1, files: 1 })
      s.origin.forEach((o, i) => expect(o).toBeCloseTo(src.origin[i], 4))
      await expect(readImageFile(out, 'x', { maxVoxels: 1000, maxArchiveBytes: 1, maxArchiveEntries: 1, maxInflatedBytes: 1, maxFiles: 1 })).rejects.toMatchObject({ code: 'TOO_LARGE' })
    })
  }
})
