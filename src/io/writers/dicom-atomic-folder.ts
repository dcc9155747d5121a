import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { IoError } from '../errors.js'
import { IMPLEMENTATION_CLASS_UID } from './dicom-dataset.js'

/** Name pattern of the files we write; with the meta header check below it marks our own output. */
export const OUR_FILE = /^IM\d{5,}\.dcm$/

/** True when `file` is a DICOM file whose meta header names our implementation UID. */
async function isOurFile(file: string): Promise<boolean> {
  const fh = await open(file, 'r')
  try {
    const head = Buffer.alloc(1024)
    const { bytesRead } = await fh.read(head, 0, head.length, 0)
    const bytes = head.subarray(0, bytesRead)
    return bytes.subarray(128, 132).toString('latin1') === 'DICM' && bytes.includes(IMPLEMENTATION_CLASS_UID, 132, 'latin1')
  } finally {
    await fh.close()
  }
}

/** 'absent', 'empty', 'ours' (only files of a previous raddiff series), or 'foreign'. */
async function classify(folder: string): Promise<'absent' | 'empty' | 'ours' | 'foreign'> {
  let info
  try {
    info = await stat(folder)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent'
    throw e
  }
  if (!info.isDirectory()) return 'foreign'
  const entries = await readdir(folder, { withFileTypes: true })
  if (entries.length === 0) return 'empty'
  for (const e of entries) {
    if (!e.isFile() || !OUR_FILE.test(e.name) || !(await isOurFile(path.join(folder, e.name)))) return 'foreign'
  }
  return 'ours'
}

/**
 * Runs `fill` on a fresh sibling temp folder, then moves it to `folder`. An existing folder is
 * replaced only when it is empty or holds nothing but our own earlier output; anything else is
 * refused, so no file a user put there can be lost. A failure leaves `folder` as it was.
 */
export async function writeFolderAtomically(folder: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const target = path.resolve(folder)
  const state = await classify(target).catch((cause) => {
    throw new IoError('WRITE_FAILED', 'the output folder cannot be inspected', { source: folder, cause })
  })
  if (state === 'foreign') {
    throw new IoError(
      'WRITE_FAILED',
      'the output path exists and holds files raddiff did not write; choose an empty or new folder',
      { source: folder },
    )
  }
  const tag = randomBytes(6).toString('hex')
  const tmp = `${target}.raddiff-tmp-${tag}`
  const old = `${target}.raddiff-old-${tag}`
  try {
    await mkdir(tmp, { recursive: true })
    await fill(tmp)
    if (state === 'empty') await rmdir(target)
    if (state === 'ours') await rename(target, old)
    try {
      await rename(tmp, target)
    } catch (e) {
      if (state === 'ours') await rename(old, target)
      throw e
    }
    if (state === 'ours') await rm(old, { recursive: true, force: true })
  } catch (cause) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
    throw cause instanceof IoError
      ? cause
      : new IoError('WRITE_FAILED', 'the DICOM series could not be written to the output folder', { source: folder, cause })
  }
}
