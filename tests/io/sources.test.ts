import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import yazl from 'yazl'
import { defaultLimits, type Limits } from '../../src/io/limits.js'
import { expandInputs, type ExpandedInputs } from '../../src/io/sources.js'

function zipOf(entries: Record<string, Buffer | string>): Promise<Buffer> {
  const zip = new yazl.ZipFile()
  for (const [name, data] of Object.entries(entries)) zip.addBuffer(Buffer.from(data), name)
  zip.end()
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c))
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)))
    zip.outputStream.on('error', reject)
  })
}

/** yazl refuses '../' names; an equal-length placeholder patched in both headers gets past it. */
function rename(zip: Buffer, from: string, to: string): Buffer {
  expect(from.length).toBe(to.length)
  return Buffer.from(zip.toString('latin1').split(from).join(to), 'latin1')
}

async function put(file: string, data: Buffer | string = 'x'): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true })
  await writeFile(file, data)
  return file
}

let root: string
let tmpDir: string
let result: ExpandedInputs | undefined
const limits = (over: Partial<Limits> = {}): Limits => ({ ...defaultLimits(), ...over })
const expand = async (inputs: string[], over: Partial<Limits> = {}) => {
  result = await expandInputs(inputs, { limits: limits(over), tmpDir })
  return result
}
const names = (r: ExpandedInputs) => r.files.map((f) => f.name)
const codes = (r: ExpandedInputs) => r.problems.map((p) => [p.name, p.error.code])

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'raddiff-sources-test-'))
  tmpDir = path.join(root, 'tmp')
  await mkdir(tmpDir)
})
afterEach(async () => {
  await result?.cleanup()
  result = undefined
  await rm(root, { recursive: true, force: true })
})

describe('expandInputs: folders', () => {
  it('walks recursively in sorted order, skipping hidden entries and obvious non-images', async () => {
    const s = path.join(root, 'study')
    for (const f of ['b/IM2', 'a/IM1', 'a/sub/IM3', 'IM10', 'IM9.dcm', 'brain.nii.gz', '.DS_Store', '.git/objects/x', 'a/.hidden/IM', 'notes.txt', 'README.md', 'meta.json', 'table.CSV', 'DICOMDIR', '__MACOSX/IM'])
      await put(path.join(s, f))
    const r = await expand([s])
    expect(names(r)).toEqual(['IM10', 'IM9.dcm', 'a/IM1', 'a/sub/IM3', 'b/IM2', 'brain.nii.gz'].map((f) => path.join(s, f)))
    expect(r.problems).toEqual([])
    for (const f of r.files) expect(await readFile(f.path, 'utf8')).toBe('x')
  })

  it('keeps a file the user named explicitly, whatever its extension', async () => {
    const f = await put(path.join(root, 'notes.txt'))
    expect(names(await expand([f]))).toEqual([f])
  })

  it('follows links (datalad / git-annex trees), takes each real file once, and ends link loops', async () => {
    const s = path.join(root, 'study')
    await put(path.join(s, 'IM1'))
    await put(path.join(root, 'outside', 'secret'))
    await symlink(path.join(root, 'outside'), path.join(s, 'escape'))
    await symlink(path.join(s, 'IM1'), path.join(s, 'IM1-again'))
    await symlink(s, path.join(s, 'loop')) // a cycle must terminate
    await symlink(path.join(s, 'gone'), path.join(s, 'dangling'))
    const r = await expand([s])
    expect(names(r)).toEqual([path.join(s, 'IM1'), path.join(s, 'escape', 'secret')])
    expect(r.problems).toEqual([])
  })

  it('refuses a folder with more files than limits.maxFiles, and keeps going', async () => {
    const big = path.join(root, 'big')
    for (let i = 0; i < 6; i++) await put(path.join(big, `IM${i}`))
    const small = await put(path.join(root, 'one', 'IM'))
    const r = await expand([big, path.dirname(small)], { maxFiles: 5 })
    expect(names(r)).toEqual([small])
    expect(codes(r)).toEqual([[big, 'TOO_LARGE']])
    expect(r.problems[0].error.message).toContain('RADDIFF_MAX_FILES')
  })
})

describe('expandInputs: missing and odd inputs', () => {
  it('reports a missing input and still expands the others, in order', async () => {
    const a = await put(path.join(root, 'a.dcm'))
    const b = await put(path.join(root, 'b.dcm'))
    const missing = path.join(root, 'no-such-file.dcm')
    const r = await expand([a, missing, b])
    expect(names(r)).toEqual([a, b])
    expect(codes(r)).toEqual([[missing, 'INPUT_NOT_FOUND']])
    expect(r.problems[0].error.message).toContain('does not exist')
  })

  it('refuses a device instead of blocking on it', { timeout: 5000 }, async () => {
    if (!existsSync('/dev/zero')) return
    const r = await expand(['/dev/zero'])
    expect(codes(r)).toEqual([['/dev/zero', 'NOT_AN_IMAGE']])
  })

  it('keeps a DICOM whose preamble starts with PK as a file, not an archive', async () => {
    const head = Buffer.alloc(200)
    head.write('PK\x03\x04', 0, 'latin1')
    head.write('DICM', 128, 'latin1')
    const f = await put(path.join(root, 'polyglot.dcm'), head)
    const r = await expand([f])
    expect(names(r)).toEqual([f])
    expect(r.problems).toEqual([])
  })
})

describe('expandInputs: archives', () => {
  it('recognises a zip by its bytes and names entries scan!path', async () => {
    const scan = await put(path.join(root, 'scan.bin'), await zipOf({ 'series/IM0002': 'two', 'series/IM0001': 'one', 'readme.txt': 'no', '__MACOSX/series/._IM0001': 'no' }))
    const r = await expand([scan])
    expect(names(r)).toEqual([`${scan}!series/IM0001`, `${scan}!series/IM0002`])
    expect(await readFile(r.files[0].path, 'utf8')).toBe('one')
    expect(await readFile(r.files[1].path, 'utf8')).toBe('two')
    expect(r.files[0].path.startsWith(tmpDir + path.sep)).toBe(true)
  })

  it('expands a zip found inside a folder, beside the plain files', async () => {
    const s = path.join(root, 'study')
    await put(path.join(s, 'IM1'))
    await put(path.join(s, 'more', 'part.zip'), await zipOf({ IM2: 'two' }))
    const r = await expand([s])
    expect(names(r)).toEqual([path.join(s, 'IM1'), `${path.join(s, 'more', 'part.zip')}!IM2`])
  })

  it('reports a zip inside a zip as a problem and keeps its siblings', async () => {
    const inner = await zipOf({ IM9: 'nine' })
    const outer = await put(path.join(root, 'outer.zip'), await zipOf({ 'a/IM1': 'one', 'a/inner.zip': inner, 'a/renamed.dat': inner }))
    const r = await expand([outer])
    expect(names(r)).toEqual([`${outer}!a/IM1`])
    expect(codes(r)).toEqual([
      [`${outer}!a/inner.zip`, 'NOT_AN_IMAGE'],
      [`${outer}!a/renamed.dat`, 'NOT_AN_IMAGE'],
    ])
    expect(r.problems[0].error.message).toContain('nested archive')
  })

  it('reports an unsafe zip, leaves no temporary folder, and keeps the other inputs', async () => {
    const evil = await put(path.join(root, 'evil.zip'), rename(await zipOf({ 'ok/IM1': 'x', 'zz/evil': 'x' }), 'zz/evil', '../evil'))
    const good = await put(path.join(root, 'good.dcm'))
    const r = await expand([evil, good])
    expect(names(r)).toEqual([good])
    expect(codes(r)).toEqual([[evil, 'ARCHIVE_UNSAFE']])
    expect(r.problems[0].error.source).toBe(evil)
    expect(await readdir(tmpDir)).toEqual([]) // no partial extraction, not even before cleanup()
    expect(existsSync(path.join(root, 'evil'))).toBe(false)
  })

  it('reports a zip bomb as ARCHIVE_TOO_LARGE quickly', async () => {
    const bomb = await put(path.join(root, 'bomb.zip'), await zipOf({ zeros: Buffer.alloc(32 * 1024 ** 2) }))
    const t0 = performance.now()
    const r = await expand([bomb], { maxInflatedBytes: 1024 ** 2 })
    expect(performance.now() - t0).toBeLessThan(10_000) // a hang guard, not a speed target (see bench/)
    expect(codes(r)).toEqual([[bomb, 'ARCHIVE_TOO_LARGE']])
    expect(await readdir(tmpDir)).toEqual([])
  })

  it('reports a damaged zip as ARCHIVE_CORRUPT', async () => {
    const zip = await zipOf({ IM1: Buffer.alloc(5000, 1) })
    const broken = await put(path.join(root, 'broken.zip'), zip.subarray(0, zip.length - 30))
    const r = await expand([broken])
    expect(codes(r)).toEqual([[broken, 'ARCHIVE_CORRUPT']])
  })

  it('cleanup() removes every temporary folder, and may be called twice', async () => {
    const a = await put(path.join(root, 'a.zip'), await zipOf({ IM1: 'one' }))
    const b = await put(path.join(root, 'b.zip'), await zipOf({ 'x/IM2': 'two' }))
    const r = await expand([a, b])
    expect(r.files.map((f) => existsSync(f.path))).toEqual([true, true])
    expect(await readdir(tmpDir)).toHaveLength(1) // one temporary root for the whole call
    await r.cleanup()
    await r.cleanup()
    expect(await readdir(tmpDir)).toEqual([])
    expect(r.files.some((f) => existsSync(f.path))).toBe(false)
  })
})
