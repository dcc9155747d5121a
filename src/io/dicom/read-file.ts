import { readFile, stat } from 'node:fs/promises'
import { IoError } from '../errors.js'
import type { Limits } from '../limits.js'
import { parseDicomBytes, type ParsedDicom } from './parse.js'
import type { DicomFileRef } from './types.js'

/** Reads and parses one file; every failure is an IoError naming the file as the user gave it. */
export async function readDicomFile(ref: DicomFileRef, limits: Limits): Promise<ParsedDicom> {
  let bytes: Uint8Array
  try {
    const st = await stat(ref.path)
    // a single DICOM object cannot sensibly hold more than the voxel cap in 32-bit samples
    if (st.size > Math.min(limits.maxVoxels * 4 + 1e8, 2 ** 31 - 1)) {
      throw new IoError('TOO_LARGE', 'file is larger than any image the voxel cap allows', { source: ref.name })
    }
    bytes = await readFile(ref.path)
  } catch (e) {
    if (e instanceof IoError) throw e
    throw new IoError('INPUT_NOT_FOUND', 'file cannot be read', { source: ref.name, cause: e })
  }
  return parseDicomBytes(bytes, ref.name, limits)
}
