import { isIoError, type IoError } from '../io/errors.js'

/** Where the CLI talks to people (stderr) and to scripts (stdout, one JSON object per line). */
export interface Reporter {
  json: boolean
  out(line: string): void
  err(line: string): void
}

export function createReporter(json: boolean): Reporter {
  return {
    json,
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
  }
}

export function formatProblem(name: string, error: IoError): string {
  return `raddiff: ${name}: ${error.message} [${error.code}]`
}

/** Never print a stack or a library's message (it may echo tag values). */
export function describeUnexpected(e: unknown): { code: string; message: string } {
  if (isIoError(e)) return { code: e.code, message: e.message }
  return { code: 'INTERNAL', message: 'unexpected internal error (set RADDIFF_DEBUG=1 for details)' }
}

/**
 * DICOM objects without pixels (reports, DICOMDIR, structure sets) travel with image series on
 * every CD and PACS export: listing them is information, not a failed input.
 */
export function isFailure(p: { error: IoError }): boolean {
  return p.error.code !== 'NO_IMAGE_DATA'
}
