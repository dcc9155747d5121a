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

/**
 * Measured on the 2-core bench machine (notes: /work/notes/engine-perf.md):
 * - 'all' keeps the NCHWc layout transformer (blocked AVX-512 convolutions); 'extended' runs the
 *   convolutions as im2col + GEMM and was 1.3-1.6x slower per slice despite dropping the Reorder nodes.
 * - no spinning: ORT's pool threads busy-wait between kernels by default. A UNet forward is ~170
 *   short kernels, so when the cores are shared (a service running jobs side by side, training in
 *   the background) a spinning thread burns the time slice the other one needs at the next barrier:
 *   on the loaded bench machine the same batch-8 volume pass took 1.59x the wall time and 1.48x
 *   the CPU time with spinning. Without load, sleeping costs one futex wake per kernel (µs against
 *   a ≥ 20 ms forward). diffuseVolume mostly runs 1-thread sessions anyway (one lane per core).
 * - sequential execution: the graph is a chain, an inter-op pool only adds threads that compete.
 */
function options(ep: ResolvedDevice, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
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
