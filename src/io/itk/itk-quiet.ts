import { IoError, type ErrorCode } from '../errors.js'

let depth = 0
let saved: { log: typeof console.log; info: typeof console.info; warn: typeof console.warn; error: typeof console.error; debug: typeof console.debug; out: typeof process.stdout.write } | undefined

/**
 * Runs an itk-wasm call with console output muted: on failure its pipeline runner prints
 * "Exception while running pipeline…" (and the WASM module may echo file details), which
 * must not reach a CLI user's terminal or a service log. Anything it throws (sometimes a
 * bare number) becomes an IoError; the library's text stays in `cause` only.
 */
export async function quietItk<T>(fn: () => Promise<T>, code: ErrorCode, message: string, source?: string): Promise<T> {
  if (depth++ === 0) {
    saved = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug, out: process.stdout.write }
    const mute = () => undefined
    console.log = console.info = console.warn = console.error = console.debug = mute
    process.stdout.write = (() => true) as typeof process.stdout.write
  }
  try {
    return await fn()
  } catch (e) {
    if (e instanceof IoError) throw e
    throw new IoError(code, message, { source, cause: e })
  } finally {
    if (--depth === 0 && saved) {
      Object.assign(console, { log: saved.log, info: saved.info, warn: saved.warn, error: saved.error, debug: saved.debug })
      process.stdout.write = saved.out
      saved = undefined
    }
  }
}
