import { stat } from 'node:fs/promises'
import os from 'node:os'
import ort from 'onnxruntime-node'
import { DeviceSession } from './device-session.js'
import { EngineError } from './errors.js'
import type { ExecutionReport } from './execution-report.js'
import type { Device, GraphInfo, ResolvedDevice, TensorData } from './session-options.js'
import { ThreadedSession } from './threaded-session.js'

export type { Device, GraphInfo, ResolvedDevice, TensorData } from './session-options.js'
export type { ExecutionReport } from './execution-report.js'

/** A loaded model, whatever runs it: the graph's interface and one batched run(). */
export interface ModelSession extends GraphInfo {
  /** Parts a batch is split into and run at once (CPU inference threads; 1 on a GPU). */
  readonly parallelism: number
  run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>>
  /** Which ORT providers really run the model (on a GPU: counted in the first run's profile). */
  execution(): ExecutionReport
  release(): Promise<void>
}

export interface EngineSession {
  session: ModelSession
  /** The device the session really runs on. */
  device: ResolvedDevice
  modelPath: string
}

const cache = new Map<string, Promise<EngineSession>>()
/** The sessions of `cache` that have opened, for synchronous look-ups. */
const opened = new Map<string, EngineSession>()

// A CPU-only machine would print ORT's own red "failed to load CUDA" line on every `--device auto`;
// every ORT failure we care about reaches the caller as an EngineError (with ORT's text as cause).
ort.env.logLevel = 'fatal'

/**
 * CPU threads a GPU session gets: only the nodes ORT leaves to its CPU provider (shape arithmetic)
 * run on them, and more threads would only wait at each such node's barrier.
 */
const GPU_SESSION_THREADS = 1

/** Weights all CPU inference threads together may hold (each thread loads its own copy). */
const CPU_WEIGHT_BUDGET = 1 << 30

/**
 * CPU: one inference thread per core (threaded-session.ts), at most 8 (more cores give each thread
 * several ORT threads) and no more than fit CPU_WEIGHT_BUDGET with one copy of the weights each.
 */
export function cpuThreadSplit(threads: number, modelBytes = 0): { count: number; each: number } {
  const byMemory = modelBytes > 0 ? Math.max(1, Math.floor(CPU_WEIGHT_BUDGET / modelBytes)) : Infinity
  const count = Math.max(1, Math.min(8, threads, byMemory))
  return { count, each: Math.max(1, Math.floor(threads / count)) }
}

/**
 * One session per (model path, device, threads), reused across jobs. `auto` tries CUDA and falls
 * back to CPU (WebGPU only when asked: its kernels are not yet faster than CPU for small UNets).
 */
export function getSession(modelPath: string, device: Device = 'auto', threads = os.availableParallelism()): Promise<EngineSession> {
  const key = `${modelPath}\0${device}\0${threads}`
  let p = cache.get(key)
  if (!p) {
    p = (async (): Promise<EngineSession> => {
      if (device === 'cuda' || device === 'webgpu') return { session: await DeviceSession.open(modelPath, device, GPU_SESSION_THREADS), device, modelPath }
      if (device === 'auto') {
        try {
          return { session: await DeviceSession.open(modelPath, 'cuda', GPU_SESSION_THREADS), device: 'cuda', modelPath }
        } catch (e) {
          if (!(e instanceof EngineError && e.code === 'DEVICE_UNAVAILABLE')) throw e
        }
      }
      const { count, each } = cpuThreadSplit(threads, (await stat(modelPath).catch(() => ({ size: 0 }))).size)
      return { session: await ThreadedSession.open(modelPath, count, each), device: 'cpu', modelPath }
    })()
    cache.set(key, p)
    p.then(
      (s) => {
        if (cache.get(key) === p) opened.set(key, s)
      },
      () => cache.delete(key),
    )
  }
  return p
}

/**
 * What runs a model opened in this process on a device (the job's report and the outputs'
 * provenance); undefined when no such session is open.
 */
export function executionReport(modelPath: string, device: ResolvedDevice): ExecutionReport | undefined {
  for (const s of opened.values()) if (s.modelPath === modelPath && s.device === device) return s.session.execution()
  return undefined
}

/** Releases cached sessions (tests, long-running services swapping models). */
export async function releaseSessions(): Promise<void> {
  const all = [...cache.values()]
  cache.clear()
  opened.clear()
  for (const p of all) {
    try {
      await (await p).session.release()
    } catch {
      // a failed creation has nothing to release
    }
  }
}
