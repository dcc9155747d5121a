/**
 * Engine failures with stable codes, in the spirit of IoError: messages say what is wrong and
 * what to do; runtime library text goes only into `cause`.
 */
export const ENGINE_ERROR_CODES = {
  MODEL_NOT_FOUND: 'the model file or its card does not exist or cannot be read',
  MODEL_HASH_MISMATCH: "the ONNX file's sha256 differs from its card (corrupt or wrong file)",
  MODEL_CONTRACT_MISMATCH: "the card is invalid or the ONNX graph's inputs/outputs do not match it",
  DEVICE_UNAVAILABLE: 'the requested execution device cannot be used on this machine',
  INFERENCE_FAILED: 'onnxruntime failed while running the model (rejected inputs, out of memory, a crashed inference thread)',
  CANCELLED: 'the job was cancelled',
} as const

export type EngineErrorCode = keyof typeof ENGINE_ERROR_CODES

export class EngineError extends Error {
  readonly code: EngineErrorCode
  readonly source?: string

  constructor(code: EngineErrorCode, message: string, options: { source?: string; cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined)
    this.name = 'EngineError'
    this.code = code
    this.source = options.source
  }

  toJSON(): { code: EngineErrorCode; message: string; source?: string } {
    return { code: this.code, message: this.message, source: this.source }
  }
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new EngineError('CANCELLED', 'the job was cancelled')
}
