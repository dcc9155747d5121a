import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import yazl from 'yazl'
import { extractZip, isZip } from '../../src/io/archive.js'
import { IoError, type ErrorCode } from '../../src/io/errors.js'
import { defaultLimits, type Limits } from '../../src/io/limits.js'

const PYTHON = '/usr/bin/python3'
const MiB = 1024 ** 2

/** One zip entry as written by hand, so headers can say what yazl refuses to write. */
interface RawEntry {
  name: string | Buffer
  data?: Buffer
  method?: number
  /** Uncompressed size written in both headers (default: the true size). */
  declaredSize?: number
  /** Bytes stored as the entry's data instead of data (or its deflate). */
  body?: Buffer
  externalAttr?: number
  flags?: number
}

function buildZip(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0
  for (const e of entries) {
    const name = Buffer.isBuffer(e.name) ? e.name : Buffer.from(e.name, 'utf8')
    const data = e.data ?? Buffer.alloc(0)
    const method = e.method ?? 0
    const body = e.body ?? (method === 8 ? zlib.deflateRawSync(data) : data)
    const crc = zlib.crc32(data)
    const size = e.declaredSize ?? data.length
    const flags = (e.flags ?? 0) | 0x800 // UTF-8 names
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(flags, 6)
    local.writeUInt16LE(method, 8)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(body.length, 18)
    local.writeUInt32LE(size, 22)
    local.writeUInt16LE(name.length, 26)
    const head = Buffer.alloc(46)
    head.writeUInt32LE(0x02014b50, 0)
    head.writeUInt16LE(0x031e, 4) // made by Unix, so external attributes carry a mode
    head.writeUInt16LE(20, 6)
    head.writeUInt16LE(flags, 8)
    head.writeUInt16LE(method, 10)
    head.writeUInt32LE(crc, 16)
    head.writeUInt32LE(body.length, 20)
    head.writeUInt32LE(size, 24)
    head.writeUInt16LE(name.length, 28)
    head.writeUInt32LE((e.externalAttr ?? (0o100644 << 16)) >>> 0, 38)
    head.writeUInt32LE(offset, 42)
    parts.push(local, name, body)
    central.push(head, name)
    offset += 30 + name.length + body.length
  }
  const cd = Buffer.concat(central)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(cd.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...parts, cd, end])
}

function yazlZip(entries: { name: string; data?: Buffer; dir?: boolean; compress?: boolean }[]): Promise<Buffer> {
  const zip = new yazl.ZipFile()
  for (const e of entries) {
    if (e.dir) zip.addEmptyDirectory(e.name)
    else zip.addBuffer(e.data ?? Buffer.alloc(0), e.name, { compress: e.compress ?? true })
  }
  zip.end()
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c))
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)))
    zip.outputStream.on('error', reject)
  })
}

/** Everything under dir, as sorted posix relative paths (folders end in '/'). */
async function tree(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return []
  const all = await readdir(dir, { recursive: true, withFileTypes: true })
  return all
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)).split(path.sep).join('/') + (d.isDirectory() ? '/' : ''))
    .sort()
}

function limits(over: Partial<Limits> = {}): Limits {
  return { ...defaultLimits(), ...over }
}

async function rejection(p: Promise<unknown>): Promise<IoError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(IoError)
  return e as IoError
}

let sandbox: string
let zipPath: string
let dest: string
beforeEach(async () => {
  sandbox = await mkdtemp(path.join(os.tmpdir(), 'raddiff-archive-test-'))
  zipPath = path.join(sandbox, 'scan.zip')
  dest = path.join(sandbox, 'out')
})
afterEach(async () => {
  await rm(sandbox, { recursive: true, force: true })
})

/** The archive was refused with `code`, and nothing at all was written: only the zip remains. */
async function expectRefused(zip: Buffer, code: ErrorCode, lim: Limits = limits()): Promise<IoError> {
  await writeFile(zipPath, zip)
  const err = await rejection(extractZip(zipPath, dest, lim))
  expect(err.code).toBe(code)
  expect(await tree(sandbox)).toEqual(['scan.zip'])
  return err
}

describe('isZip', () => {
  it('recognises zip magic and nothing else', () => {
    expect(isZip(Buffer.from('PK\x03\x04rest', 'latin1'))).toBe(true)
    expect(isZip(Buffer.from('PK\x05\x06', 'latin1'))).toBe(true) // empty archive
    expect(isZip(Buffer.from('PK\x03', 'latin1'))).toBe(false)
    expect(isZip(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe(false) // .nii.gz
    expect(isZip(new Uint8Array(0))).toBe(false)
  })

  it('lets a DICOM whose preamble starts with PK stay DICOM', () => {
    const polyglot = Buffer.alloc(132)
    polyglot.write('PK\x03\x04', 0, 'latin1')
    polyglot.write('DICM', 128, 'latin1')
    expect(isZip(polyglot)).toBe(false)
  })
})

describe('extractZip: normal archives', () => {
  const files = {
    'series/a/IM0001': Buffer.from('first slice'),
    'series/a/IM0002': zlib.deflateSync(Buffer.alloc(10)), // binary, incompressible-ish
    'series/b/deep/IM0003': Buffer.alloc(70_000, 7),
    'top.dcm': Buffer.from('top'),
  }

  it('extracts nested folders with byte-identical contents', async () => {
    const zip = await yazlZip([
      { name: 'series/empty', dir: true },
      ...Object.entries(files).map(([name, data], i) => ({ name, data, compress: i % 2 === 0 })),
    ])
    await writeFile(zipPath, zip)
    const out = await extractZip(zipPath, dest, limits())
    expect(out).toEqual(Object.keys(files).map((n) => path.join(dest, ...n.split('/'))))
    for (const [name, data] of Object.entries(files)) expect(await readFile(path.join(dest, name))).toEqual(data)
    expect(await tree(dest)).toContain('series/empty/')
  })

  it.skipIf(!existsSync(PYTHON))('matches what Python zipfile extracts (peer)', async () => {
    const zip = await yazlZip(Object.entries(files).map(([name, data]) => ({ name, data })))
    await writeFile(zipPath, zip)
    await extractZip(zipPath, dest, limits())
    const peer = path.join(sandbox, 'peer')
    const r = spawnSync(PYTHON, ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', zipPath, peer])
    expect(r.status).toBe(0)
    expect(await tree(dest)).toEqual(await tree(peer))
    for (const name of Object.keys(files)) expect(await readFile(path.join(dest, name))).toEqual(await readFile(path.join(peer, name)))
  })

  it.skipIf(!existsSync(PYTHON))('the hand-made zip writer produces archives Python reads (so refusals below are about names, not format)', async () => {
    const zip = buildZip([
      { name: 'ok/IM1', data: Buffer.from('stored') },
      { name: 'ok/IM2', data: Buffer.alloc(5000, 3), method: 8 },
      { name: '../evil', data: Buffer.from('x') },
    ])
    await writeFile(zipPath, zip)
    const r = spawnSync(PYTHON, ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print("\\n".join(z.namelist()))', zipPath], { encoding: 'utf8' })
    expect(r.stderr).toBe('')
    expect(r.stdout.trim().split('\n')).toEqual(['ok/IM1', 'ok/IM2', '../evil'])
    // The same writer's benign part extracts correctly with our code.
    await writeFile(zipPath, buildZip([{ name: 'ok/IM2', data: Buffer.alloc(5000, 3), method: 8 }]))
    await extractZip(zipPath, dest, limits())
    expect(await readFile(path.join(dest, 'ok/IM2'))).toEqual(Buffer.alloc(5000, 3))
  })

  it('accepts an empty archive and an existing empty destination', async () => {
    await mkdir(dest)
    await writeFile(zipPath, await yazlZip([]))
    expect(await extractZip(zipPath, dest, limits())).toEqual([])
  })

  it('refuses a non-empty destination without touching it', async () => {
    await mkdir(dest)
    await writeFile(path.join(dest, 'keep'), 'mine')
    await writeFile(zipPath, await yazlZip([{ name: 'keep', data: Buffer.from('theirs') }]))
    expect((await rejection(extractZip(zipPath, dest, limits()))).code).toBe('WRITE_FAILED')
    expect(await readFile(path.join(dest, 'keep'), 'utf8')).toBe('mine')
  })
})

describe('extractZip: zip slip', () => {
  // Each case follows a harmless entry, so the partial output must be removed as well.
  const cases: [string, RawEntry][] = [
    ['parent segment', { name: '../evil', data: Buffer.from('x') }],
    ['parent segment after a folder', { name: 'ok/../../evil', data: Buffer.from('x') }],
    ['absolute path', { name: '/PLACEHOLDER/evil', data: Buffer.from('x') }],
    ['backslash traversal', { name: 'a\\..\\..\\evil', data: Buffer.from('x') }],
    ['drive letter', { name: 'C:/x', data: Buffer.from('x') }],
    ['drive letter with backslash', { name: 'C:\\x', data: Buffer.from('x') }],
    ['NUL in name', { name: 'a\u0000b', data: Buffer.from('x') }],
    ['symbolic link', { name: 'link', data: Buffer.from('../../../etc'), externalAttr: (0o120777 << 16) >>> 0 }],
  ]
  for (const [label, bad] of cases) {
    it(`refuses ${label} and writes nothing`, async () => {
      if (bad.name === '/PLACEHOLDER/evil') bad.name = path.join(sandbox, 'evil') // a real absolute target we can check
      const entries: RawEntry[] = [{ name: 'ok/IM1', data: Buffer.from('fine') }, bad]
      if (label === 'symbolic link') entries.push({ name: 'link/passwd', data: Buffer.from('x') })
      const err = await expectRefused(buildZip(entries), 'ARCHIVE_UNSAFE')
      expect(err.message).toMatch(/^entry 2 /)
      expect(err.source).toBe(zipPath)
      expect(existsSync(path.join(sandbox, 'evil'))).toBe(false)
    })
  }

  it('in an existing destination, removes its own partial output (folders too) but keeps the folder', async () => {
    await mkdir(dest)
    await writeFile(zipPath, buildZip([{ name: 'd/' }, { name: 'd/e/IM1', data: Buffer.from('x') }, { name: '../evil', data: Buffer.from('x') }]))
    expect((await rejection(extractZip(zipPath, dest, limits()))).code).toBe('ARCHIVE_UNSAFE')
    expect(await tree(sandbox)).toEqual(['out/', 'scan.zip'])
  })

  it('refuses names too long for the file system with a typed error', async () => {
    const err = await expectRefused(buildZip([{ name: `${'a'.repeat(300)}/IM1`, data: Buffer.from('x') }]), 'WRITE_FAILED')
    expect(err.message).toContain('too long')
  })

  it('echoes the entry name without terminal control characters', async () => {
    const err = await expectRefused(buildZip([{ name: '../\u001b[2J\u0007evil', data: Buffer.from('x') }]), 'ARCHIVE_UNSAFE')
    expect(err.message).not.toMatch(/[\u0000-\u001f]/)
    expect(err.message).toContain('evil')
  })

  it('treats benign backslash separators (Windows zip tools) as folders', async () => {
    await writeFile(zipPath, buildZip([{ name: 'series\\IM1', data: Buffer.from('x') }]))
    await extractZip(zipPath, dest, limits())
    expect(await tree(dest)).toEqual(['series/', 'series/IM1'])
  })
})

describe('extractZip: zip bombs', () => {
  it('refuses an entry whose header declares more than the per-file limit, before inflating', async () => {
    const zip = await yazlZip([{ name: 'zeros', data: Buffer.alloc(64 * MiB) }])
    expect(zip.length).toBeLessThan(MiB) // it really is a bomb: > 64x expansion
    const t0 = performance.now()
    const err = await expectRefused(zip, 'ARCHIVE_TOO_LARGE', limits({ maxInflatedBytes: MiB }))
    expect(performance.now() - t0).toBeLessThan(10_000) // a hang guard, not a speed target (see bench/)
    expect(err.message).toContain('RADDIFF_MAX_INFLATED_BYTES')
  })

  it('stops a bomb whose header lies about its size after the declared bytes, not after inflating it all', async () => {
    const body = zlib.deflateRawSync(Buffer.alloc(256 * MiB)) // ~250 KiB on disk
    const zip = buildZip([{ name: 'zeros', method: 8, body, declaredSize: 1000 }])
    const t0 = performance.now()
    await expectRefused(zip, 'ARCHIVE_CORRUPT')
    // Inflating 256 MiB of zeros takes well over this on the shared CI machine.
    expect(performance.now() - t0).toBeLessThan(5_000) // a hang guard, not a speed target
  })

  it('counts real inflated bytes across entries against the archive limit', async () => {
    const zip = await yazlZip([0, 1, 2, 3].map((i) => ({ name: `IM${i}`, data: Buffer.alloc(MiB, i) })))
    const err = await expectRefused(zip, 'ARCHIVE_TOO_LARGE', limits({ maxArchiveBytes: 2.5 * MiB, maxInflatedBytes: 2 * MiB }))
    expect(err.message).toContain('RADDIFF_MAX_ARCHIVE_BYTES')
  })

  it('refuses more entries than the limit before extracting any', async () => {
    const zip = await yazlZip([0, 1, 2, 3, 4].map((i) => ({ name: `IM${i}`, data: Buffer.from([i]) })))
    const err = await expectRefused(zip, 'ARCHIVE_TOO_LARGE', limits({ maxArchiveEntries: 3 }))
    expect(err.message).toContain('5 entries')
  })
})

describe('extractZip: damaged archives', () => {
  it('refuses a truncated archive', async () => {
    const zip = await yazlZip([{ name: 'IM1', data: Buffer.alloc(10_000, 1) }])
    await expectRefused(zip.subarray(0, Math.floor(zip.length / 2)), 'ARCHIVE_CORRUPT')
  })

  it('refuses bytes that are not a zip at all', async () => {
    await expectRefused(Buffer.from('this is not a zip file, only text'), 'ARCHIVE_CORRUPT')
  })

  it('refuses deflated data that does not inflate', async () => {
    const zip = buildZip([
      { name: 'ok', data: Buffer.from('fine') },
      { name: 'bad', method: 8, body: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), declaredSize: 100 },
    ])
    await expectRefused(zip, 'ARCHIVE_CORRUPT')
  })

  it('refuses stored data whose CRC-32 does not match (yauzl alone would accept it)', async () => {
    const zip = buildZip([{ name: 'IM1', data: Buffer.from('original bytes') }])
    zip[30 + 3] ^= 0xff // first data byte, after the 30-byte header and the 3-byte name
    const err = await expectRefused(zip, 'ARCHIVE_CORRUPT')
    expect(err.message).toContain('CRC-32')
  })

  it('refuses stored entries whose sizes disagree', async () => {
    await expectRefused(buildZip([{ name: 'IM1', data: Buffer.from('abc'), declaredSize: 10 }]), 'ARCHIVE_CORRUPT')
  })

  it('names unsupported compression methods and encryption', async () => {
    let err = await expectRefused(buildZip([{ name: 'IM1', data: Buffer.from('abc'), method: 12 }]), 'ARCHIVE_CORRUPT')
    expect(err.message).toContain('compression method 12')
    // Traditional encryption: flag bit 0, and a 12-byte encryption header before the data.
    const body = Buffer.concat([Buffer.alloc(12), Buffer.from('abc')])
    err = await expectRefused(buildZip([{ name: 'IM1', data: Buffer.from('abc'), body, flags: 1 }]), 'ARCHIVE_CORRUPT')
    expect(err.message).toContain('password')
  })

  it('refuses an entry that clashes with an earlier one', async () => {
    const err = await expectRefused(
      buildZip([
        { name: 'IM1', data: Buffer.from('a') },
        { name: 'IM1', data: Buffer.from('b') },
      ]),
      'ARCHIVE_CORRUPT',
    )
    expect(err.message).toContain('entry 2')
  })
})
