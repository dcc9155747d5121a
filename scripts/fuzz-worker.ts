/**
 * Child process for scripts/loader-pool.ts: loads inputs through openInputs + load() and reports
 * how it ended. Runs in its own process so that a crash, a hang or a memory blow-up in a loader
 * is observed by the parent instead of taking it down.
 */
import { openInputs } from '../src/io/load.js'
import { IoError, type ErrorCode } from '../src/io/errors.js'
import { defaultLimits, type Limits } from '../src/io/limits.js'
import type { Volume } from '../src/volume/volume.js'

export interface WorkerJob {
  id: number
  paths: string[]
  limits?: Partial<Limits>
  tmpDir?: string
}

export interface Untyped {
  name: string
  message: string
  /** First stack frames, for routing the bug. */
  stack: string[]
}

export interface WorkerResult {
  id: number
  /** 'loaded': every series loaded, no problem; 'typed': only IoErrors; 'untyped': something else was thrown. */
  outcome: 'loaded' | 'typed' | 'untyped'
  codes: ErrorCode[]
  untyped?: Untyped
  /** Loaded volumes that break the Volume contract (sizes, finite geometry, data length). */
  badVolume?: string
  /** Error messages that leak a tag value or a stack trace. */
  leak?: string
  ms: number
  /** Growth of this process's peak RSS during the job (0 when it stayed under the earlier peak). */
  peakGrowthMB: number
  /** Peak RSS above the worker's idle baseline, MB. */
  peakAboveBaselineMB: number
  arrayBuffersMB: number
}

/** Values the corpus seeds carry in patient tags; seeing one in a message is a privacy leak. */
const CANARIES = ['CANARY', '1.2.826.0.1.3680043.9.7433']

const MB = 1024 * 1024
const maxRssMB = () => process.resourceUsage().maxRSS / 1024

function untyped(e: unknown): Untyped {
  const err = e instanceof Error ? e : new Error(String(e))
  return {
    name: err.constructor?.name ?? typeof e,
    message: String(err.message).slice(0, 300),
    stack: (err.stack ?? '').split('\n').slice(1, 6).map((l) => l.trim()),
  }
}

function checkVolume(v: Volume): string | undefined {
  const voxels = v.size.reduce((a, b) => a * b, 1)
  if (!v.size.every((s) => Number.isInteger(s) && s >= 1)) return `size ${JSON.stringify(v.size)}`
  if (!v.spacing.every((s) => Number.isFinite(s) && s > 0)) return `spacing ${JSON.stringify(v.spacing)}`
  if (!v.origin.every(Number.isFinite)) return `origin ${JSON.stringify(v.origin)}`
  if (!v.direction.every(Number.isFinite)) return `direction ${JSON.stringify(v.direction)}`
  if (v.data.length !== voxels * v.components) return `data length ${v.data.length} for ${voxels}×${v.components}`
  return undefined
}

function leakIn(e: IoError): string | undefined {
  const text = e.message
  if (CANARIES.some((c) => text.includes(c))) return `${e.code}: message carries a tag value`
  if (/\n\s+at /.test(text)) return `${e.code}: message carries a stack trace`
  return undefined
}

/**
 * Sabotage on request (RADDIFF_FUZZ_SELFTEST=1 and a path ending in ".selftest-KIND"), so tests
 * can prove the harness notices each failure kind; never active otherwise.
 */
let ballast: Uint8Array | undefined
function sabotage(p: string): void {
  const kind = process.env.RADDIFF_FUZZ_SELFTEST === '1' ? /\.selftest-(\w+)$/.exec(p)?.[1] : undefined
  if (kind === 'untyped') throw new TypeError('selftest')
  if (kind === 'leak') throw new IoError('INVALID_HEADER', 'patient CANARY^PATIENT is odd')
  if (kind === 'crash') process.kill(process.pid, 'SIGKILL')
  if (kind === 'unhandled') void Promise.reject(new Error('selftest unhandled'))
  if (kind === 'hang') for (;;);
  if (kind === 'memory') ballast = new Uint8Array(900 * MB).fill(1)
}

async function run(job: WorkerJob, baselineMB: number): Promise<WorkerResult> {
  const t0 = performance.now()
  const peak0 = maxRssMB()
  const errors: unknown[] = []
  try {
    job.paths.forEach(sabotage)
  } catch (e) {
    errors.push(e)
  }
  ballast = undefined
  let loaded = 0
  let badVolume: string | undefined
  try {
    const opened = await openInputs(job.paths, { limits: { ...defaultLimits(), ...job.limits }, tmpDir: job.tmpDir })
    try {
      errors.push(...opened.problems.map((p) => p.error))
      for (const s of opened.series) {
        try {
          const v = await s.load()
          badVolume ??= checkVolume(v)
          loaded++
        } catch (e) {
          errors.push(e)
        }
      }
    } finally {
      await opened.cleanup()
    }
  } catch (e) {
    errors.push(e)
  }
  const bad = errors.find((e) => !(e instanceof IoError))
  const typed = errors.filter((e): e is IoError => e instanceof IoError)
  const peak1 = maxRssMB()
  return {
    id: job.id,
    outcome: bad !== undefined ? 'untyped' : errors.length > 0 || loaded === 0 ? 'typed' : 'loaded',
    codes: typed.map((e) => e.code),
    untyped: bad !== undefined ? untyped(bad) : undefined,
    badVolume,
    leak: typed.map(leakIn).find((l) => l !== undefined),
    ms: performance.now() - t0,
    peakGrowthMB: peak1 - peak0,
    peakAboveBaselineMB: peak1 - baselineMB,
    arrayBuffersMB: process.memoryUsage().arrayBuffers / MB,
  }
}

if (process.send) {
  let current: number | undefined
  const die = (kind: string) => (e: unknown) => {
    process.send!({ crash: { id: current, kind, error: untyped(e) } }, () => process.exit(70))
  }
  process.on('uncaughtException', die('uncaughtException'))
  process.on('unhandledRejection', die('unhandledRejection'))
  // Load the codecs and wasm once before measuring, so the baseline is the warm process.
  await import('../src/io/dicom/index.js')
  await import('../src/io/image/index.js')
  const baselineMB = process.memoryUsage().rss / MB
  process.on('message', async (job: WorkerJob) => {
    current = job.id
    const result = await run(job, baselineMB)
    process.send!(result)
  })
  process.send({ ready: true, baselineMB })
}
