import { asIoError, type IoError } from '../errors.js'
import { defaultLimits, type Limits } from '../limits.js'
import { groupSeries } from './group-series.js'
import { readFileHeader } from './header.js'
import { readDicomFile } from './read-file.js'
import type { DicomFileRef, DicomSeries, FileHeader } from './types.js'

/**
 * Reads the headers of `files` and groups them into sorted series. Files that cannot be part
 * of an image series come back in `rejected` with a typed error; nothing throws per file.
 */
export async function scanDicom(
  files: DicomFileRef[],
  limits: Limits = defaultLimits(),
): Promise<{ series: DicomSeries[]; rejected: { name: string; error: IoError }[] }> {
  const headers: FileHeader[] = []
  const rejected: { name: string; error: IoError }[] = []
  for (const ref of files) {
    try {
      const parsed = await readDicomFile(ref, limits)
      headers.push(readFileHeader(parsed, ref, limits))
    } catch (e) {
      rejected.push({ name: ref.name, error: asIoError(e, 'INVALID_HEADER', 'the DICOM header could not be read', ref.name) })
    }
  }
  if (!headers.length) return { series: [], rejected }
  const grouped = groupSeries(headers)
  return { series: grouped.series, rejected: [...rejected, ...grouped.rejected] }
}
