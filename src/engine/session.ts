import os from 'node:os'
import ort from 'onnxruntime-node'
import { EngineError } from './errors.js'

export type Device = 'auto' | 'cpu' | 'cuda' | 'webgpu'
export type ResolvedDevice = Exclude<Device, 'auto'>

export interface EngineSession {
  session: ort.InferenceSession
  /** The device the session really runs on. */
  device: ResolvedDevice
  modelPath: string
}

const cache = new Map<string, Promise<EngineSession>>()

// A CPU-only machine would print ORT's own red "failed to load CUDA" line on every `--device auto`;
// every ORT failure we care about reaches the caller as an EngineError (with ORT's text as cause).
ort.env.logLevel = 'fatal'

function options(ep: ResolvedDevice, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // ORT logs provider-load failures itself; we report them as EngineError instead.
    logSeverityLevel: 3,
  }
}

async function tryCreate(modelPath: string, ep: ResolvedDevice, threads: number): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(modelPath, options(ep, threads))
  } catch (e) {
    if (ep === 'cpu') throw new EngineError('MODEL_CONTRACT_MISMATCH', 'onnxruntime could not load the model (corrupt or unsupported ONNX)', { source: modelPath, cause: e })
    throw new EngineError('DEVICE_UNAVAILABLE', `the ${ep} execution provider could not be loaded on this machine; use --device cpu or auto`, { source: modelPath, cause: e })
  }
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
      if (device === 'auto') {
        try {
          return { session: await tryCreate(modelPath, 'cuda', threads), device: 'cuda', modelPath }
        } catch (e) {
          if (!(e instanceof EngineError && e.code === 'DEVICE_UNAVAILABLE')) throw e
        }
        return { session: await tryCreate(modelPath, 'cpu', threads), device: 'cpu', modelPath }
      }
      return { session: await tryCreate(modelPath, device, threads), device, modelPath }
    })()
    cache.set(key, p)
    p.catch(() => cache.delete(key))
  }
  return p
}

/** Releases cached sessions (tests, long-running services swapping models). */
export async function releaseSessions(): Promise<void> {
  const all = [...cache.values()]
  cache.clear()
  for (const p of all) {
    try {
      await (await p).session.release()
    } catch {
      // a failed creation has nothing to release
    }
  }
}
