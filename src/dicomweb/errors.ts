/**
 * DICOMweb failures with stable codes. Messages name the operation and the HTTP status, never a
 * UID, a tag value or the server's response text (which can echo either).
 */
export const DICOMWEB_ERROR_CODES = {
  DICOMWEB_BAD_URL: 'the DICOMweb URL is not dicomweb+http(s)://host/…/studies/UID[/series/UID]',
  DICOMWEB_UNREACHABLE: 'the DICOMweb server cannot be reached (refused, reset, DNS or TLS handshake failure)',
  DICOMWEB_TLS: "the DICOMweb server's TLS certificate is not trusted or does not match its name (give its CA: RADDIFF_DICOMWEB_CA or the servers file's caFile)",
  DICOMWEB_TIMEOUT: 'the DICOMweb server did not answer in time',
  DICOMWEB_UNAUTHORIZED: 'the DICOMweb server refused the credentials (401 / 403)',
  DICOMWEB_NOT_FOUND: 'the DICOMweb server has no such study, series or endpoint (404)',
  DICOMWEB_TOO_LARGE: 'the transfer exceeds the configured size limit or the server refused its size (413)',
  DICOMWEB_BAD_RESPONSE: 'the server answered with a corrupt, truncated or unexpected body',
  DICOMWEB_SERIES_CHANGED: 'the series changed on the server while it was being retrieved',
  DICOMWEB_STORE_FAILED: 'the server did not store every instance that was sent (STOW-RS failure or partial store)',
  DICOMWEB_SERVER_ERROR: 'the DICOMweb server answered with an error status',
  DICOMWEB_UNKNOWN_SERVER: 'the named DICOMweb server is not configured',
} as const

export type DicomwebErrorCode = keyof typeof DICOMWEB_ERROR_CODES

export class DicomwebError extends Error {
  readonly code: DicomwebErrorCode
  /** HTTP status when the server answered. */
  readonly status?: number
  /** STOW-RS: SOP Instance UIDs the server reported stored / failed (for the caller to report, never logged). */
  readonly stored?: string[]
  readonly failed?: string[]

  constructor(code: DicomwebErrorCode, message: string, options: { status?: number; cause?: unknown; stored?: string[]; failed?: string[] } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined)
    this.name = 'DicomwebError'
    this.code = code
    this.status = options.status
    this.stored = options.stored
    this.failed = options.failed
  }

  toJSON(): { code: DicomwebErrorCode; message: string; status?: number } {
    return { code: this.code, message: this.message, status: this.status }
  }
}

export function isDicomwebError(e: unknown): e is DicomwebError {
  return e instanceof DicomwebError
}

/** The typed error for an HTTP status that is not success. */
export function errorForStatus(status: number, what: string): DicomwebError {
  if (status === 401 || status === 403) return new DicomwebError('DICOMWEB_UNAUTHORIZED', `${what}: the server refused the credentials (HTTP ${status})`, { status })
  if (status === 404) return new DicomwebError('DICOMWEB_NOT_FOUND', `${what}: not found on the server (HTTP 404)`, { status })
  if (status === 413) return new DicomwebError('DICOMWEB_TOO_LARGE', `${what}: the server refused the request's size (HTTP 413)`, { status })
  return new DicomwebError('DICOMWEB_SERVER_ERROR', `${what}: the server answered HTTP ${status}`, { status })
}
