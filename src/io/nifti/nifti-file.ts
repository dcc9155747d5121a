import { constants, createReadStream } from 'node:fs'
import { access, open, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { createGunzip } from 'node:zlib'
import { IoError } from '../errors.js'
import type { Limits } from '../limits.js'
import { NIFTI_PROBE_BYTES, niftiDataBytes, parseNiftiHeader, type NiftiHeader } from './nifti-header.js'

export interface NiftiFile {
  header: NiftiHeader
  /** The file holding the header (.nii, .nii.gz or .hdr). */
  headerPath: string
  /** The file holding the voxels (same file, or the .img of a pair). */
  dataPath: string
  gzipped: boolean
  /** Byte offset of the voxels in dataPath (after gunzip). */
  dataOffset: number
  dataBytes: number
}

/** Bytes a .nii.gz may inflate to beyond what its header accounts for before we call it a bomb. */
function inflateSlack(expected: number): number {
  return Math.max(1024 * 1024, Math.ceil(expected / 100))
}

export function isGzipPath(path: string): boolean {
  return path.toLowerCase().endsWith('.gz')
}

/** .hdr/.img pairs: the header lives in .hdr, the voxels in .img, whichever the user named. */
function pairPaths(path: string): { headerPath: string; dataPath: string } {
  const m = /^(.*)\.(hdr|img)(\.gz)?$/i.exec(path)
  if (!m) return { headerPath: path, dataPath: path }
  const gz = m[3] ?? ''
  const upper = m[2] === m[2].toUpperCase()
  return {
    headerPath: `${m[1]}.${upper ? 'HDR' : 'hdr'}${gz}`,
    dataPath: `${m[1]}.${upper ? 'IMG' : 'img'}${gz}`,
  }
}

async function mustExist(path: string): Promise<void> {
  try {
    await access(path, constants.R_OK)
  } catch (e) {
    // the basename only: the folder part may name the patient
    throw new IoError('INPUT_NOT_FOUND', `the other half of the Analyze/NIfTI pair, ${basename(path)}, is missing or unreadable`, { cause: e })
  }
}

async function readPrefix(path: string, n: number): Promise<Uint8Array> {
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.alloc(n)
    const { bytesRead } = await fh.read(buf, 0, n, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

function gzipError(e: unknown): IoError {
  const code = (e as { code?: string })?.code
  if (code === 'Z_BUF_ERROR') return new IoError('TRUNCATED', 'the gzip stream ends early (file cut short?)', { cause: e })
  return new IoError('DECODE_FAILED', 'the gzip stream is damaged', { cause: e })
}

/**
 * Inflates a gzip file chunk by chunk, handing each chunk to `onChunk` until it returns
 * false. Nothing is kept unless the callback keeps it, so memory stays bounded whatever
 * the file expands to.
 */
async function inflateWhile(path: string, onChunk: (chunk: Buffer, total: number) => boolean): Promise<number> {
  const gunzip = createGunzip()
  const input = createReadStream(path)
  input.on('error', (e) => gunzip.destroy(e))
  input.pipe(gunzip)
  let total = 0
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      total += chunk.length
      if (!onChunk(chunk, total)) break
    }
  } catch (e) {
    if (e instanceof IoError) throw e
    throw gzipError(e)
  } finally {
    input.unpipe(gunzip)
    input.destroy()
    gunzip.destroy()
  }
  return total
}

async function headerBytes(path: string, gz: boolean): Promise<Uint8Array> {
  if (!gz) return readPrefix(path, NIFTI_PROBE_BYTES)
  const parts: Buffer[] = []
  let have = 0
  await inflateWhile(path, (chunk) => {
    parts.push(chunk)
    have += chunk.length
    return have < NIFTI_PROBE_BYTES
  })
  return Buffer.concat(parts).subarray(0, NIFTI_PROBE_BYTES)
}

/** Reads and validates the header only: cheap enough for `inspect` on any file. */
export async function openNifti(path: string, limits: Limits): Promise<NiftiFile> {
  const { headerPath, dataPath } = pairPaths(path)
  // both halves of a pair must be there before the series is listed, not only when loaded
  if (headerPath !== dataPath) for (const p of [headerPath, dataPath]) await mustExist(p)
  const gz = isGzipPath(headerPath)
  const header = parseNiftiHeader(await headerBytes(headerPath, gz), limits)
  const dataOffset = headerPath === dataPath ? header.voxOffset : Math.max(0, header.voxOffset)
  return { header, headerPath, dataPath, gzipped: gz, dataOffset, dataBytes: niftiDataBytes(header) }
}

/**
 * Proves the voxels the header declares are present before anything allocates them:
 * file size for plain files; for gzip, a streaming inflate that only counts bytes and stops
 * as soon as the stream exceeds what the header accounts for (a gzip bomb ends here,
 * after at most `needed + slack` inflated bytes).
 */
export async function checkNiftiData(f: NiftiFile, limits: Limits): Promise<void> {
  const needed = f.dataOffset + f.dataBytes
  if (!isGzipPath(f.dataPath)) {
    const { size } = await stat(f.dataPath)
    if (size < needed) {
      throw new IoError('TRUNCATED', `the NIfTI file holds ${size} bytes but its header needs ${needed}`)
    }
    return
  }
  const cap = Math.min(needed + inflateSlack(needed), limits.maxInflatedBytes)
  if (needed > limits.maxInflatedBytes) {
    throw new IoError('TOO_LARGE', `the NIfTI file would inflate to ${needed} bytes, above the cap of ${limits.maxInflatedBytes}`)
  }
  const total = await inflateWhile(f.dataPath, (_chunk, n) => n <= cap)
  if (total > cap) {
    throw new IoError(
      'TOO_LARGE',
      `the gzip stream inflates beyond ${cap} bytes although the NIfTI header accounts for ${needed} (gzip bomb?)`,
    )
  }
  if (total < needed) {
    throw new IoError('TRUNCATED', `the NIfTI file inflates to ${total} bytes but its header needs ${needed}`)
  }
}
