import { EngineError } from '../engine/errors.js'
import { isIoError } from '../io/errors.js'

/**
 * Pipeline failures with stable codes, in the spirit of IoError and EngineError. Pipelines throw
 * these, never a bare RangeError: the runtime throws RangeError too ("Array buffer allocation
 * failed" when memory runs out, "Invalid typed array length"), and that is our failure, not the
 * user's input.
 */
export const PIPELINE_ERROR_CODES = {
  UNKNOWN_TASK: 'the task name is not one of denoise, superres, translate, anomaly',
  INVALID_PARAMS: 'a task parameter is outside what the task accepts',
  UNSUITABLE_INPUT: 'the input cannot be processed by this task (e.g. a colour volume, a mask on another grid)',
  UNSUITABLE_MODEL: 'the chosen model cannot serve this task (e.g. an unconditional model for translation)',
} as const

export type PipelineErrorCode = keyof typeof PIPELINE_ERROR_CODES

export class PipelineError extends Error {
  readonly code: PipelineErrorCode

  constructor(code: PipelineErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined)
    this.name = 'PipelineError'
    this.code = code
  }

  toJSON(): { code: PipelineErrorCode; message: string } {
    return { code: this.code, message: this.message }
  }
}

/**
 * What kind of failure a task run ended in, which is all a front end needs to pick its answer:
 * - `input`: the scan or a parameter is unusable (CLI: that series failed; HTTP: 4xx);
 * - `setup`: the installation cannot serve the request (no model, bad card, device missing);
 * - `cancelled`: someone asked the run to stop;
 * - `internal`: anything else, out-of-memory included: a bug or an overloaded machine, never the
 *   user's fault, and its library message is never shown (it may echo tag values).
 */
export type FailureKind = 'input' | 'setup' | 'cancelled' | 'internal'

export interface TaskFailure {
  kind: FailureKind
  code: string
  message: string
}

const SETUP: ReadonlySet<string> = new Set(['MODEL_NOT_FOUND', 'MODEL_HASH_MISMATCH', 'MODEL_CONTRACT_MISMATCH', 'DEVICE_UNAVAILABLE', 'UNSUITABLE_MODEL'])

export const INTERNAL_FAILURE: TaskFailure = { kind: 'internal', code: 'INTERNAL', message: 'unexpected internal error (set RADDIFF_DEBUG=1 for details)' }

/** The one map from whatever a task run threw to a stable code; the CLI and the service both use it. */
export function describeTaskFailure(e: unknown): TaskFailure {
  if (e instanceof PipelineError) return { kind: SETUP.has(e.code) ? 'setup' : 'input', code: e.code, message: e.message }
  if (isIoError(e)) return { kind: 'input', code: e.code, message: e.message }
  if (e instanceof EngineError) {
    if (e.code === 'CANCELLED') return { kind: 'cancelled', code: e.code, message: e.message }
    return { kind: e.code === 'INFERENCE_FAILED' ? 'internal' : 'setup', code: e.code, message: e.message }
  }
  return INTERNAL_FAILURE
}
