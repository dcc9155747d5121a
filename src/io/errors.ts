/**
 * Every way an input can be wrong has a stable code. Messages are for a researcher: they say
 * what is wrong and what to do, and never carry a DICOM tag value (patient data) or a stack.
 */
export const ERROR_CODES = {
  INPUT_NOT_FOUND: 'the input path does not exist or cannot be read',
  NOT_AN_IMAGE: 'the file is not DICOM, NIfTI or another supported image format',
  NO_IMAGE_DATA: 'the DICOM file holds no pixel data (a report, structure set or presentation state)',
  TRUNCATED: 'the file ends before its own header says it should',
  ELEMENT_OUT_OF_BOUNDS: 'an element length points past the end of the file',
  INVALID_HEADER: 'a header field has an impossible value',
  DIMENSIONS_INVALID: 'image dimensions are zero, negative or inconsistent',
  TOO_LARGE: 'the image is larger than the configured voxel cap',
  UNSUPPORTED_TRANSFER_SYNTAX: 'the DICOM transfer syntax is not supported',
  UNSUPPORTED_PIXEL_FORMAT: 'the pixel format (bits, samples, photometric interpretation) is not supported',
  DECODE_FAILED: 'compressed pixel data could not be decoded',
  PIXEL_DATA_SHORT: 'pixel data is shorter than rows × columns × frames needs',
  INCONSISTENT_SERIES: 'slices of one series disagree in geometry, or have gaps',
  NONFINITE_SCALING: 'intensity scaling (slope / intercept) is not a finite number',
  ARCHIVE_UNSAFE: 'an archive entry would be written outside the extraction folder',
  ARCHIVE_TOO_LARGE: 'the archive expands beyond the configured limit',
  ARCHIVE_CORRUPT: 'the archive is damaged or not a zip file',
  UNSUPPORTED_OUTPUT: 'the output path has an unsupported extension',
  WRITE_FAILED: 'the output could not be written',
  NO_USABLE_INPUT: 'none of the inputs held a readable image series',
  NOT_A_SEGMENTATION: 'the file is not a DICOM Segmentation (SEG) that can be read as a mask',
  SEG_MISMATCH: "the segmentation's frame of reference or geometry does not match the scan",
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export class IoError extends Error {
  readonly code: ErrorCode
  /** The input this error is about, as the user named it (a path they gave us, not file content). */
  readonly source?: string

  constructor(code: ErrorCode, message: string, options: { source?: string; cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined)
    this.name = 'IoError'
    this.code = code
    this.source = options.source
  }

  toJSON(): { code: ErrorCode; message: string; source?: string } {
    return { code: this.code, message: this.message, source: this.source }
  }
}

export function isIoError(e: unknown): e is IoError {
  return e instanceof IoError
}

/**
 * Wraps anything a third-party parser threw into a typed error. The original message is kept
 * only as `cause` (never shown): library messages can echo element values.
 */
export function asIoError(e: unknown, fallback: ErrorCode, message: string, source?: string): IoError {
  if (e instanceof IoError) return e
  return new IoError(fallback, message, { source, cause: e })
}
