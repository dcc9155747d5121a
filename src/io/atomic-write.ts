import { randomBytes } from 'node:crypto'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { IoError } from './errors.js'

/**
 * A temporary name in the output's own folder (so rename is atomic on one filesystem) that
 * keeps the output's extensions, because writers such as itk-wasm pick the format from them.
 */
export function tempPathFor(out: string): string {
  const dir = path.dirname(out)
  const base = path.basename(out)
  const dot = base.indexOf('.')
  return path.join(dir, `.${base}.${process.pid}-${randomBytes(4).toString('hex')}.tmp${dot < 0 ? '' : base.slice(dot)}`)
}

/**
 * Writes through `produce(tmp)` then renames onto `out`: readers never see half a file, and
 * a failure leaves the previous output (if any) untouched.
 */
export async function writeAtomically(out: string, produce: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = tempPathFor(out)
  try {
    // Batch scripts name outputs in folders that do not exist yet (`-o results/sub-01.nii.gz`).
    await mkdir(path.dirname(out), { recursive: true })
    await produce(tmp)
    await rename(tmp, out)
  } catch (e) {
    // force ignores only ENOENT; a path through a regular file (ENOTDIR) must not mask `e`.
    await rm(tmp, { force: true }).catch(() => {})
    if (e instanceof IoError) throw e
    throw new IoError('WRITE_FAILED', `could not write ${out}`, { source: out, cause: e })
  }
}

export async function writeBytesAtomically(out: string, bytes: Uint8Array): Promise<void> {
  await writeAtomically(out, (tmp) => writeFile(tmp, bytes))
}
