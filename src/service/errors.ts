import { isIoError } from '../io/errors.js'
import { EngineError } from '../engine/errors.js'
import { PipelineError, describeTaskFailure } from '../pipelines/errors.js'

/** Codes the HTTP layer adds to the loaders' and the engine's own stable codes. */
export const HTTP_ERROR_CODES = {
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  INVALID_REQUEST: 400,
  RATE_LIMITED: 429,
  QUEUE_FULL: 429,
  QUOTA_EXCEEDED: 507,
  PAYLOAD_TOO_LARGE: 413,
  CONFLICT: 409,
  UNSUPPORTED_MEDIA_TYPE: 415,
  SHUTTING_DOWN: 503,
  STORE_UNAVAILABLE: 503,
  INTERNAL: 500,
} as const

export type HttpErrorCode = keyof typeof HTTP_ERROR_CODES

export class HttpError extends Error {
  readonly statusCode: number
  constructor(
    readonly code: HttpErrorCode | string,
    message: string,
    statusCode?: number,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.name = 'HttpError'
    this.statusCode = statusCode ?? HTTP_ERROR_CODES[code as HttpErrorCode] ?? 400
  }
}

/**
 * The record store could not be reached (PostgreSQL restarting, network down) for longer than
 * the retry window: the request is answered 503 with a retry hint, and nothing was changed.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE'
  constructor(message = 'the record store cannot be reached; retry shortly', options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreUnavailableError'
  }
}

export const notFound = (what = 'resource'): HttpError => new HttpError('NOT_FOUND', `no such ${what}`)

/** Loader codes that mean "your input is bad" (422) rather than "too big" (413). */
const INPUT_TOO_LARGE = new Set(['TOO_LARGE', 'ARCHIVE_TOO_LARGE'])

/**
 * Any thrown value → status + {code, message}. Only messages we wrote reach the client: loader and
 * engine messages are tag-value free by contract; everything else becomes a generic INTERNAL.
 */
export function describeError(e: unknown): { status: number; code: string; message: string; headers: Record<string, string> } {
  if (e instanceof HttpError) return { status: e.statusCode, code: e.code, message: e.message, headers: e.headers }
  if (e instanceof StoreUnavailableError) return { status: 503, code: e.code, message: e.message, headers: { 'retry-after': '5' } }
  if (isIoError(e)) return { status: INPUT_TOO_LARGE.has(e.code) ? 413 : 422, code: e.code, message: e.message, headers: {} }
  if (e instanceof EngineError) return { status: e.code === 'MODEL_NOT_FOUND' ? 422 : 500, code: e.code, message: e.message, headers: {} }
  if (e instanceof PipelineError) return { status: 422, code: e.code, message: e.message, headers: {} }
  const fe = e as { code?: string; statusCode?: number; validation?: unknown; message?: string }
  if (fe?.validation) return { status: 400, code: 'INVALID_REQUEST', message: String(fe.message ?? 'invalid request'), headers: {} }
  switch (fe?.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'the upload exceeds the configured size, file or part limits', headers: {} }
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'this route expects multipart/form-data', headers: {} }
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'INVALID_REQUEST', message: 'the body is not valid JSON', headers: {} }
  }
  if (fe?.statusCode === 429) return { status: 429, code: 'RATE_LIMITED', message: 'too many requests; retry later', headers: {} }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, code: 'INVALID_REQUEST', message: 'the request could not be processed', headers: {} }
  }
  return { status: 500, code: 'INTERNAL', message: 'internal error', headers: {} }
}

/**
 * What a failed job records: stable code + our own message, never library text. The pipelines'
 * map decides (src/pipelines/errors.ts): an out-of-memory RangeError is INTERNAL, not bad input.
 */
export function jobFailure(e: unknown): { code: string; message: string } {
  if (e instanceof HttpError || e instanceof StoreUnavailableError) return { code: e.code, message: e.message }
  const f = describeTaskFailure(e)
  return f.kind === 'internal' && f.code === 'INTERNAL' ? { code: 'INTERNAL', message: 'the task failed unexpectedly' } : { code: f.code, message: f.message }
}
