/**
 * Safe zip extraction. A researcher's zip is untrusted input: entry names may try to escape the
 * target folder (zip slip), sizes in headers may lie (zip bombs), and data may be damaged. Every
 * such case ends in an IoError, and whatever this call wrote is removed again.
 */
import { createWriteStream } from 'node:fs'
import { mkdir, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import zlib from 'node:zlib'
import yauzl, { type Entry, type ZipFile } from 'yauzl'
import { IoError } from './errors.js'
import type { Limits } from './limits.js'

const S_IFMT = 0o170000
const S_IFLNK = 0o120000
const DEFLATE = 8
const STORED = 0

/**
 * Local file header, empty-archive end record, or split-archive marker. A DICOM file whose
 * 128-byte preamble happens to start with "PK" is still DICOM (DICM at 128 wins), because
 * DICOM/zip polyglots exist and the image is what the user meant.
 */
export function isZip(head: Uint8Array): boolean {
  if (head.length < 4 || head[0] !== 0x50 || head[1] !== 0x4b) return false
  const kind = (head[2] << 8) | head[3]
  if (kind !== 0x0304 && kind !== 0x0506 && kind !== 0x0708) return false
  const dicm = head.length >= 132 && head[128] === 0x44 && head[129] === 0x49 && head[130] === 0x43 && head[131] === 0x4d
  return !dicm
}

/** Entry names come from the user's own archive: fine to echo, but never raw terminal control codes. */
export function sanitizeEntryName(name: string, max = 80): string {
  const clean = name.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean
}

function describe(index: number, name: string): string {
  return `entry ${index + 1} ('${sanitizeEntryName(name)}')`
}

function mib(n: number): string {
  return `${(n / 1024 ** 2).toFixed(1)} MiB`
}

/**
 * Returns the safe relative segments of an entry name, or throws ARCHIVE_UNSAFE. Backslashes
 * count as separators (Windows zip tools write them), so "a\..\..\x" is caught as "..".
 */
function safeSegments(name: string, index: number, source?: string): string[] {
  const unsafe = (why: string) =>
    new IoError('ARCHIVE_UNSAFE', `${describe(index, name)} ${why}; the archive was not extracted`, { source })
  if (name.includes('\u0000')) throw unsafe('contains a NUL character')
  const slashed = name.replace(/\\/g, '/')
  if (slashed.startsWith('/')) throw unsafe('is an absolute path')
  if (/^[A-Za-z]:/.test(slashed)) throw unsafe('starts with a drive letter')
  const segments = slashed.split('/').filter((s) => s !== '' && s !== '.')
  if (segments.includes('..')) throw unsafe("climbs out of the folder with '..'")
  // NTFS alternate data streams ("a:b") would write somewhere the user cannot see.
  if (process.platform === 'win32' && segments.some((s) => s.includes(':'))) throw unsafe("contains ':'")
  return segments
}

/** zlib.crc32 arrived in Node 20.15; package.json allows 20.11, so keep a table fallback. */
const crc32: (data: Uint8Array, value: number) => number =
  typeof zlib.crc32 === 'function'
    ? zlib.crc32
    : (() => {
        const table = new Uint32Array(256)
        for (let n = 0; n < 256; n++) {
          let c = n
          for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
          table[n] = c >>> 0
        }
        return (data, value) => {
          let c = ~value
          for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8)
          return ~c >>> 0
        }
      })()

/** Counts bytes as they really inflate: headers are never trusted for the budget. */
class ByteBudget extends Transform {
  private entryBytes = 0
  private crc = 0

  constructor(
    private readonly perEntry: number,
    private readonly total: { used: number; max: number },
    private readonly fail: (what: 'entry' | 'archive') => IoError,
  ) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.entryBytes += chunk.length
    this.total.used += chunk.length
    if (this.entryBytes > this.perEntry) return done(this.fail('entry'))
    if (this.total.used > this.total.max) return done(this.fail('archive'))
    this.crc = crc32(chunk, this.crc)
    done(null, chunk)
  }

  get checksum(): number {
    return this.crc >>> 0
  }
}

/** yauzl emits entries as events; this turns them into awaited reads and never drops an error. */
function entryReader(zip: ZipFile) {
  let waiting: { resolve: (e: Entry | null) => void; reject: (err: unknown) => void } | null = null
  let failure: unknown
  let ended = false
  const settle = (fn: (w: NonNullable<typeof waiting>) => void) => {
    const w = waiting
    waiting = null
    if (w) fn(w)
  }
  zip.on('entry', (e: Entry) => settle((w) => w.resolve(e)))
  zip.on('end', () => {
    ended = true
    settle((w) => w.resolve(null))
  })
  zip.on('error', (err: unknown) => {
    failure ??= err
    settle((w) => w.reject(err))
  })
  return (): Promise<Entry | null> => {
    if (failure !== undefined) return Promise.reject(failure)
    if (ended) return Promise.resolve(null)
    return new Promise((resolve, reject) => {
      waiting = { resolve, reject }
      zip.readEntry()
    })
  }
}

function openZip(zipPath: string): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    // decodeStrings is off so that name checks are ours: yauzl's own check aborts with a generic
    // error that names no entry index; we decode with yauzl's decoder (CP437 / UTF-8 / Info-ZIP
    // Unicode path field) and then judge the name ourselves.
    yauzl.open(zipPath, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true }, (err, zip) =>
      err ? reject(err) : resolve(zip),
    )
  })
}

type NameDecoder = (flags: number, raw: Buffer, extra: Entry['extraFields'], strict: boolean) => string
const decodeName = (yauzl as unknown as { getFileNameLowLevel: NameDecoder }).getFileNameLowLevel

function openEntryStream(zip: ZipFile, entry: Entry): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (err, stream) => (err ? reject(err) : resolve(stream))))
}

function isFsClash(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR'
}

/**
 * Extracts every entry of `zipPath` under `destDir` (created if absent; it must be empty, because
 * a pre-existing symlink inside it could redirect writes) and returns the extracted file paths in
 * archive order. Work and memory are bounded: entries stream to disk, inflated bytes are counted
 * against `limits.maxInflatedBytes` per entry and `limits.maxArchiveBytes` in total, and
 * `limits.maxArchiveEntries` caps the entry count. On any error, everything this call wrote is
 * removed and an IoError (ARCHIVE_UNSAFE / ARCHIVE_TOO_LARGE / ARCHIVE_CORRUPT / WRITE_FAILED)
 * is thrown. `opts.source` is the name shown to the user (defaults to `zipPath`).
 */
export async function extractZip(
  zipPath: string,
  destDir: string,
  limits: Limits,
  opts: { source?: string } = {},
): Promise<string[]> {
  const source = opts.source ?? zipPath
  const root = path.resolve(destDir)
  const createdRoot = await mkdir(root, { recursive: true }).catch((e: unknown) => {
    throw new IoError('WRITE_FAILED', 'could not create the folder to extract the archive into', { source, cause: e })
  })
  if (createdRoot === undefined && (await readdir(root)).length > 0) {
    throw new IoError('WRITE_FAILED', 'the folder to extract the archive into must be empty', { source })
  }

  const files: string[] = []
  const dirs: string[] = []
  let zip: ZipFile | undefined
  try {
    zip = await openZip(zipPath).catch((e: unknown) => {
      throw new IoError('ARCHIVE_CORRUPT', 'the archive is damaged or not a zip file (its central directory could not be read)', { source, cause: e })
    })
    if (zip.entryCount > limits.maxArchiveEntries) {
      throw new IoError(
        'ARCHIVE_TOO_LARGE',
        `the archive has ${zip.entryCount} entries, more than the limit of ${limits.maxArchiveEntries} (RADDIFF_MAX_ARCHIVE_ENTRIES)`,
        { source },
      )
    }
    const next = entryReader(zip)
    const total = { used: 0, max: limits.maxArchiveBytes }
    for (let index = 0; ; index++) {
      const entry = await next().catch((e: unknown) => {
        throw new IoError('ARCHIVE_CORRUPT', `the archive is damaged: entry ${index + 1} could not be read`, { source, cause: e })
      })
      if (entry === null) break
      await extractEntry(zip, entry, index, root, limits, total, files, dirs, source)
    }
    return files
  } catch (e) {
    await removeWritten(root, createdRoot !== undefined, files, dirs)
    if (e instanceof IoError) throw e
    throw new IoError('ARCHIVE_CORRUPT', 'the archive could not be extracted', { source, cause: e })
  } finally {
    zip?.close()
  }
}

async function extractEntry(
  zip: ZipFile,
  entry: Entry,
  index: number,
  root: string,
  limits: Limits,
  total: { used: number; max: number },
  files: string[],
  dirs: string[],
  source: string,
): Promise<void> {
  const raw = entry.fileName as unknown as Buffer
  const name = decodeName(entry.generalPurposeBitFlag, raw, entry.extraFields, false)
  const segments = safeSegments(name, index, source)
  const where = describe(index, name)
  if (((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK) {
    throw new IoError('ARCHIVE_UNSAFE', `${where} is a symbolic link; archives with links are not extracted`, { source })
  }
  const isDir = /[/\\]$/.test(name)
  if (segments.length === 0) {
    if (isDir) return // "./" style root entry: nothing to create
    throw new IoError('ARCHIVE_CORRUPT', `entry ${index + 1} has an empty name`, { source })
  }
  const target = path.join(root, ...segments)
  // Belt and braces: whatever the checks above missed, nothing lands outside root.
  if (!target.startsWith(root + path.sep)) {
    throw new IoError('ARCHIVE_UNSAFE', `${where} would be written outside the extraction folder`, { source })
  }

  const mkdirOwned = async (dir: string) => {
    const first = await mkdir(dir, { recursive: true })
    if (first !== undefined) dirs.push(first)
  }
  const writeFailed = (e: unknown) =>
    isFsClash(e)
      ? new IoError('ARCHIVE_CORRUPT', `${where} clashes with an earlier entry of the same name`, { source, cause: e })
      : (e as NodeJS.ErrnoException | undefined)?.code === 'ENAMETOOLONG'
        ? new IoError('WRITE_FAILED', `entry ${index + 1} has a name or folder depth too long for this file system`, { source, cause: e })
        : new IoError('WRITE_FAILED', `${where} could not be written to the temporary folder (disk full or not writable?)`, { source, cause: e })

  if (isDir) {
    await mkdirOwned(target).catch((e: unknown) => {
      throw writeFailed(e)
    })
    return
  }
  if (entry.isEncrypted()) {
    throw new IoError('ARCHIVE_CORRUPT', `${where} is password-protected; raddiff cannot read encrypted archives`, { source })
  }
  if (entry.compressionMethod !== STORED && entry.compressionMethod !== DEFLATE) {
    throw new IoError(
      'ARCHIVE_CORRUPT',
      `${where} uses compression method ${entry.compressionMethod}; re-create the zip with standard (deflate) compression`,
      { source },
    )
  }
  // An honest header over the limit is refused before inflating anything; a lying one is caught
  // while streaming, by yauzl's size check and by our own byte budget.
  if (entry.uncompressedSize > limits.maxInflatedBytes) {
    throw new IoError(
      'ARCHIVE_TOO_LARGE',
      `${where} declares ${mib(entry.uncompressedSize)}, more than the per-file limit of ${mib(limits.maxInflatedBytes)} (RADDIFF_MAX_INFLATED_BYTES)`,
      { source },
    )
  }

  await mkdirOwned(path.dirname(target)).catch((e: unknown) => {
    throw writeFailed(e)
  })
  const budget = new ByteBudget(limits.maxInflatedBytes, total, (what) =>
    what === 'entry'
      ? new IoError('ARCHIVE_TOO_LARGE', `${where} inflates beyond the per-file limit of ${mib(limits.maxInflatedBytes)} (RADDIFF_MAX_INFLATED_BYTES)`, { source })
      : new IoError('ARCHIVE_TOO_LARGE', `the archive inflates beyond the limit of ${mib(limits.maxArchiveBytes)} (RADDIFF_MAX_ARCHIVE_BYTES)`, { source }),
  )
  const input = await openEntryStream(zip, entry).catch((e: unknown) => {
    throw new IoError('ARCHIVE_CORRUPT', `${where} could not be read: the archive is damaged`, { source, cause: e })
  })
  // 'wx' = O_CREAT|O_EXCL: never follows a symlink and never overwrites a duplicate entry.
  const out = createWriteStream(target, { flags: 'wx' })
  // Recorded before writing so a failure part-way still removes the partial file.
  files.push(target)
  try {
    await pipeline(input, budget, out)
  } catch (e) {
    if (e instanceof IoError) throw e
    if ((e as NodeJS.ErrnoException).syscall !== undefined) throw writeFailed(e)
    throw new IoError(
      'ARCHIVE_CORRUPT',
      `${where} could not be inflated: its data is damaged or does not match the sizes in its header`,
      { source, cause: e },
    )
  }
  // yauzl does not check CRC-32; a flipped bit in stored data would otherwise pass silently.
  if (budget.checksum !== entry.crc32 >>> 0) {
    throw new IoError('ARCHIVE_CORRUPT', `${where} fails its CRC-32 check: the archive is damaged`, { source })
  }
}

async function removeWritten(root: string, ownRoot: boolean, files: string[], dirs: string[]): Promise<void> {
  if (ownRoot) {
    await rm(root, { recursive: true, force: true })
    return
  }
  await Promise.all(files.map((f) => rm(f, { force: true })))
  // Deepest first; a directory we created only ever holds what this call wrote.
  for (const d of [...dirs].reverse()) await rm(d, { recursive: true, force: true })
}
