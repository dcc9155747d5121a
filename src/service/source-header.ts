import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { writeBytesAtomically } from '../io/atomic-write.js'
import type { DicomSourceInfo } from '../volume/metadata.js'

/**
 * The scan's DICOM header summary (study, patient module, frame of reference, source instances),
 * kept with a job's results so its DICOM outputs — download or push — are filed in the source
 * study and reference the source slices, instead of being rebuilt from NIfTI as a new study.
 * It holds patient data, like the upload it came from, and lives and dies with the job folder.
 */
export const SOURCE_HEADER = 'source-dicom.json'

export interface SourceHeader {
  dicom?: DicomSourceInfo
  /** Each output's modality (a synthetic CT is CT, a map of an MR stays MR); NIfTI keeps none. */
  modality: Record<string, string | undefined>
}

export async function writeSourceHeader(outDir: string, header: SourceHeader): Promise<void> {
  await writeBytesAtomically(path.join(outDir, SOURCE_HEADER), new TextEncoder().encode(JSON.stringify(header)))
}

/** The job's header, or undefined for jobs written before it was kept. */
export async function readSourceHeader(outDir: string): Promise<SourceHeader | undefined> {
  try {
    return JSON.parse(await readFile(path.join(outDir, SOURCE_HEADER), 'utf8')) as SourceHeader
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
}
