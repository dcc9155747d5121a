import { closeSync, openSync, readSync } from 'node:fs'
import { sniffNifti } from '../nifti/nifti-header.js'

const BY_EXTENSION: [RegExp, string][] = [
  [/\.(nii|nii\.gz|hdr|img|hdr\.gz|img\.gz)$/i, 'nifti'],
  [/\.(nrrd|nhdr)$/i, 'nrrd'],
  [/\.(mha|mhd)$/i, 'mha'],
  [/\.(mgz|mgh|mgh\.gz)$/i, 'mgh'],
]

function prefix(path: string, n: number): Uint8Array | undefined {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const buf = Buffer.alloc(n)
    return buf.subarray(0, readSync(fd, buf, 0, n, 0))
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b

/**
 * The itk-wasm format of a path, from its extension, confirmed by magic bytes where a few
 * bytes settle it: gzip for .gz/.mgz, sizeof_hdr for .nii/.hdr, "NRRD" for .nrrd/.nhdr.
 * A file that cannot be read yet (missing) is judged by its name; the reader reports it.
 * A name that matches but whose bytes contradict it gives undefined.
 */
export function itkFormatOf(path: string): string | undefined {
  const hit = BY_EXTENSION.find(([re]) => re.test(path))
  if (!hit) return undefined
  const format = hit[1]
  const lower = path.toLowerCase()
  // the voxels of a pair carry no magic; the .hdr sibling is checked when read
  if (/\.img(\.gz)?$/.test(lower)) return format
  const b = prefix(path, 8)
  if (!b) return format
  if (lower.endsWith('.gz') || lower.endsWith('.mgz')) return isGzip(b) ? format : undefined
  if (format === 'nifti') return sniffNifti(b) ? format : undefined
  if (format === 'nrrd') return Buffer.from(b.subarray(0, 4)).toString('latin1') === 'NRRD' ? format : undefined
  if (format === 'mgh') return b.length >= 4 && new DataView(b.buffer, b.byteOffset).getInt32(0, false) === 1 ? format : undefined
  return format
}
