import { open } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { createGunzip } from 'node:zlib'
import { IoError } from '../errors.js'
import { allocateVoxels, type VoxelArray } from '../../volume/voxel-array.js'
import { niftiDatatype } from './nifti-header.js'
import type { NiftiFile } from './nifti-file.js'

/** Reads `length` bytes at `offset` of a plain or gzipped file (already size-checked by checkNiftiData). */
async function readRange(path: string, gz: boolean, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length)
  if (!gz) {
    const fh = await open(path, 'r')
    try {
      const { bytesRead } = await fh.read(out, 0, length, offset)
      if (bytesRead < length) throw new IoError('TRUNCATED', 'the NIfTI file ends inside its voxel data')
    } finally {
      await fh.close()
    }
    return out
  }
  let pos = 0
  let filled = 0
  const gunzip = createGunzip()
  const input = createReadStream(path)
  input.on('error', (e) => gunzip.destroy(e))
  try {
    for await (const chunk of input.pipe(gunzip) as AsyncIterable<Buffer>) {
      const from = Math.max(0, offset - pos)
      if (from < chunk.length) {
        const part = chunk.subarray(from, from + (length - filled))
        out.set(part, filled)
        filled += part.length
      }
      pos += chunk.length
      if (filled >= length) break
    }
  } catch (e) {
    throw new IoError('DECODE_FAILED', 'the gzip stream is damaged', { cause: e })
  } finally {
    input.destroy()
    gunzip.destroy()
  }
  if (filled < length) throw new IoError('TRUNCATED', 'the NIfTI file ends inside its voxel data')
  return out
}

/**
 * Raw voxels of a NIfTI file in the stored type, byte-swapped to host order. Used for
 * NIfTI-2, which itk-wasm's image-io 1.6 cannot read ("could not read"); the layout is the
 * simplest there is (x-fastest, no padding), so no codec is involved.
 */
export async function readNiftiVoxels(f: NiftiFile): Promise<VoxelArray> {
  const dt = niftiDatatype(f.header)
  const bytes = await readRange(f.dataPath, f.gzipped, f.dataOffset, f.dataBytes)
  const n = f.dataBytes / (dt.bytes / dt.components)
  const out = allocateVoxels(dt.type, n)
  const size = out.BYTES_PER_ELEMENT
  const host = new Uint8Array(out.buffer)
  host.set(bytes)
  const hostLittle = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
  if (size > 1 && hostLittle !== f.header.littleEndian) {
    for (let i = 0; i < host.length; i += size) host.subarray(i, i + size).reverse()
  }
  return out
}
