/**
 * Turns what the user typed (files, folders, zips) into a flat list of candidate image files.
 * Nothing here decodes images: it only finds files, expands zips safely, and records per-input
 * problems so that one bad input never stops the others.
 */
import { open, opendir, mkdtemp, realpath, rm, stat, readdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { extractZip, isZip, sanitizeEntryName } from './archive.js'
import { IoError, asIoError } from './errors.js'
import { defaultLimits, type Limits } from './limits.js'

export interface InputFile {
  /** A readable file on disk (inside a temporary folder for archive entries). */
  path: string
  /** What the user sees: the path as given, or "scan.zip!series/IM0001" for archive entries. */
  name: string
  /** The first bytes, already read to sniff for zips: callers classify the file from them without reading it again. */
  head?: Uint8Array
}

export interface ExpandedInputs {
  files: InputFile[]
  problems: { name: string; error: IoError }[]
  /** Removes the temporary folders zips were extracted into. Safe to call more than once. */
  cleanup(): Promise<void>
}

/** Files in folders and archives that are certainly not images; a file named explicitly is always kept. */
const SKIPPED_EXTENSIONS = new Set([
  '.txt', '.md', '.json', '.csv', '.tsv', '.xml', '.html', '.htm', '.pdf', '.log', '.yaml', '.yml',
  '.ini', '.py', '.sh', '.bat', '.exe', '.dll', '.doc', '.docx', '.xls', '.xlsx', '.rtf',
])
/** DICOMDIR is an index of the other files, never an image; the rest is desktop litter. */
const SKIPPED_FILES = new Set(['dicomdir', 'thumbs.db', 'desktop.ini'])
const SKIPPED_FOLDERS = new Set(['__macosx'])

function hiddenOrLitter(segment: string): boolean {
  return segment.startsWith('.') || SKIPPED_FOLDERS.has(segment.toLowerCase())
}

function skippedFile(name: string): boolean {
  const lower = name.toLowerCase()
  return hiddenOrLitter(name) || SKIPPED_FILES.has(lower) || SKIPPED_EXTENSIONS.has(path.extname(lower))
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** 132 bytes: enough for zip magic and for the DICM marker that vetoes it. */
async function readHead(file: string): Promise<Uint8Array> {
  const handle = await open(file, 'r')
  try {
    const buf = Buffer.alloc(132)
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

/** Runs `fn` over items with bounded concurrency, keeping input order in the result. */
async function mapPool<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker))
  return out
}

class FolderTooBig extends Error {}

/**
 * Walks a folder in sorted order. Symlinks are followed, and each real file or folder is taken
 * once, so link loops and links to siblings cannot repeat slices.
 */
async function walkFolder(input: string, limits: Limits, problems: ExpandedInputs['problems']): Promise<InputFile[]> {
  const rootReal = await realpath(input)
  const out: InputFile[] = []
  const seenDirs = new Set([rootReal])
  const seenFiles = new Set<string>()
  // Skipped entries count too (at a looser cap), so a folder of millions of dotfiles is still bounded.
  const maxExamined = limits.maxFiles * 2 + 1000
  let examined = 0

  const visit = async (realDir: string, shown: string): Promise<void> => {
    const entries: { name: string; kind: 'dir' | 'file' | 'link' | 'other' }[] = []
    try {
      for await (const d of await opendir(realDir)) {
        if (++examined > maxExamined) throw new FolderTooBig()
        const kind = d.isDirectory() ? 'dir' : d.isFile() ? 'file' : d.isSymbolicLink() ? 'link' : 'other'
        entries.push({ name: d.name, kind })
      }
    } catch (e) {
      if (e instanceof FolderTooBig) throw e
      problems.push({ name: shown, error: new IoError('INPUT_NOT_FOUND', `the folder ${shown} cannot be read`, { source: shown, cause: e }) })
      return
    }
    entries.sort((a, b) => byName(a.name, b.name))
    for (const { name, kind: direntKind } of entries) {
      if (hiddenOrLitter(name)) continue
      const shownChild = path.join(shown, name)
      let real = path.join(realDir, name)
      let kind = direntKind
      if (kind === 'link') {
        try {
          real = await realpath(real)
          const st = await stat(real)
          kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other'
        } catch {
          continue // dangling link: nothing to read
        }
        // Followed wherever they point: the user named this folder on their own disk, and
        // datasets such as datalad / git-annex keep every file as a link into another tree.
        // Uploads never reach here with links (archive entries that are links are refused).
      }
      if (kind === 'dir') {
        if (seenDirs.has(real)) continue
        seenDirs.add(real)
        await visit(real, shownChild)
      } else if (kind === 'file' && !skippedFile(name) && !seenFiles.has(real)) {
        seenFiles.add(real)
        if (out.length >= limits.maxFiles) throw new FolderTooBig()
        out.push({ path: real, name: shownChild })
      }
    }
  }

  try {
    await visit(rootReal, input)
    return out
  } catch (e) {
    if (!(e instanceof FolderTooBig)) throw e
    problems.push({
      name: input,
      error: new IoError('TOO_LARGE', `the folder ${input} holds more than ${limits.maxFiles} files (RADDIFF_MAX_FILES); pass a subfolder or raise the limit`, { source: input }),
    })
    return []
  }
}

/** Lists what an extracted archive holds, relative to its folder, in sorted order. */
async function listExtracted(dir: string): Promise<string[]> {
  const all = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile())
  const rel = all.map((d) => path.relative(dir, path.join(d.parentPath ?? d.path, d.name)).split(path.sep).join('/'))
  return rel.sort(byName)
}

/**
 * Expands the user's inputs. Each input may be a file, a folder (walked recursively in sorted
 * order, hidden entries and obvious non-images skipped, at most `limits.maxFiles` files) or a zip
 * (recognised by its bytes, whatever its name; a zip found in a folder is expanded too). Zips are
 * extracted under one fresh temporary folder (in `opts.tmpDir`, default the OS temp dir) that
 * `cleanup()` removes; a zip that fails leaves nothing behind.
 *
 * Zips inside zips are not expanded (each level would multiply the bomb budget and the names
 * would stop meaning anything): each is reported as a NOT_AN_IMAGE problem asking the user to
 * unzip it first. Problems never stop other inputs; deciding what to do when `files` is empty is
 * the caller's job (NO_USABLE_INPUT).
 */
export async function expandInputs(inputs: string[], opts: { limits?: Limits; tmpDir?: string } = {}): Promise<ExpandedInputs> {
  const limits = opts.limits ?? defaultLimits()
  const files: InputFile[] = []
  const problems: ExpandedInputs['problems'] = []
  let tempRoot: string | undefined
  let extracted = 0
  let zipIndex = 0
  const cleanup = async () => {
    const dir = tempRoot
    tempRoot = undefined
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  }
  const problem = (name: string, error: IoError) => problems.push({ name, error })

  /** Sniffs each candidate: zips are expanded, everything else is passed on. */
  const take = async (candidates: InputFile[], inArchive?: string) => {
    const heads = await mapPool(candidates, 16, (c) => readHead(c.path).catch((e: unknown) => e))
    for (const [i, c] of candidates.entries()) {
      const head = heads[i]
      if (!(head instanceof Uint8Array)) {
        problem(c.name, new IoError('INPUT_NOT_FOUND', `${c.name} cannot be read`, { source: c.name, cause: head }))
      } else if (!isZip(head)) {
        files.push({ ...c, head })
      } else if (inArchive !== undefined) {
        problem(c.name, new IoError('NOT_AN_IMAGE', `${c.name} is a nested archive and was not expanded; unzip ${inArchive} and pass its contents`, { source: c.name }))
      } else {
        await expandZip(c)
      }
    }
  }

  const expandZip = async (zip: InputFile) => {
    let dir: string
    try {
      tempRoot ??= await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), 'raddiff-'))
      dir = path.join(tempRoot, String(zipIndex++))
    } catch (e) {
      problem(zip.name, new IoError('WRITE_FAILED', 'could not create a temporary folder to extract the archive into (set TMPDIR to a writable folder)', { source: zip.name, cause: e }))
      return
    }
    try {
      await extractZip(zip.path, dir, limits, { source: zip.name })
    } catch (e) {
      await rm(dir, { recursive: true, force: true })
      problem(zip.name, asIoError(e, 'ARCHIVE_CORRUPT', 'the archive could not be extracted', zip.name))
      return
    }
    extracted++
    const entries = (await listExtracted(dir)).filter((rel) => {
      const segments = rel.split('/')
      return !segments.slice(0, -1).some(hiddenOrLitter) && !skippedFile(segments[segments.length - 1])
    })
    const candidates = entries.map((rel) => ({ path: path.join(dir, ...rel.split('/')), name: `${zip.name}!${sanitizeEntryName(rel, Infinity)}` }))
    await take(candidates, zip.name)
  }

  try {
    for (const input of inputs) {
      let st
      try {
        st = await stat(input)
      } catch (e) {
        problem(input, new IoError('INPUT_NOT_FOUND', `${input} does not exist or cannot be read`, { source: input, cause: e }))
        continue
      }
      try {
        if (st.isDirectory()) await take(await walkFolder(input, limits, problems))
        // Devices and pipes could block forever on the first read, so they are refused unread.
        else if (!st.isFile()) problem(input, new IoError('NOT_AN_IMAGE', `${input} is not a regular file or folder`, { source: input }))
        else await take([{ path: input, name: input }])
      } catch (e) {
        // A folder changing under us (removed, permissions) is that input's problem, not the run's.
        problem(input, asIoError(e, 'INPUT_NOT_FOUND', `${input} could not be read`, input))
      }
    }
  } catch (e) {
    await cleanup()
    throw e
  }
  // Every zip failed: nothing worth keeping, so nothing is left even if cleanup() is never called.
  if (extracted === 0) await cleanup()
  return { files, problems, cleanup }
}
