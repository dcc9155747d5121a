import ort from 'onnxruntime-node'

export type Device = 'auto' | 'cpu' | 'cuda' | 'webgpu'
export type ResolvedDevice = Exclude<Device, 'auto'>

/**
 * Measured on the 2-core bench machine (docs/engine-perf.md):
 * - 'all' keeps the NCHWc layout transformer (blocked AVX-512 convolutions); 'extended' runs the
 *   convolutions as im2col + GEMM and was 1.3-1.6x slower per slice despite dropping the Reorder nodes.
 * - no spinning: ORT's pool threads busy-wait between kernels by default. A UNet forward is ~170
 *   short kernels, so when the cores are shared (a service running jobs side by side, training in
 *   the background) a spinning thread burns the time slice the other one needs at the next barrier:
 *   on the loaded bench machine the same batch-8 volume pass took 1.59x the wall time and 1.48x
 *   the CPU time with spinning. Without load, sleeping costs one futex wake per kernel (µs against
 *   a ≥ 20 ms forward).
 * - sequential execution: the graph is a chain, an inter-op pool only adds threads that compete.
 */
export function sessionOptions(ep: ResolvedDevice, threads: number, o: { profilePrefix?: string } = {}): ort.InferenceSession.SessionOptions {
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    // ORT logs provider-load failures itself; we report them as EngineError instead.
    logSeverityLevel: 3,
  }
  // A profile of the first run is the only record of which provider ran each node (ORT moves shape
  // arithmetic to the CPU provider even in a GPU session); execution-report.ts reads it.
  if (o.profilePrefix) {
    opts.enableProfiling = true
    opts.profileFilePrefix = o.profilePrefix
  }
  return opts
}

import type { TensorData } from './tensor-data.js'
export type { TensorData } from './tensor-data.js'

/** The graph's interface, as ORT reports it (plain objects, so it can come from another thread). */
export interface GraphInfo {
  inputNames: readonly string[]
  outputNames: readonly string[]
  inputMetadata: readonly ort.InferenceSession.ValueMetadata[]
  outputMetadata: readonly ort.InferenceSession.ValueMetadata[]
}

/** One run of an ORT session on plain tensors (the JS-thread GPU session and each CPU thread). */
export async function runOrt(s: ort.InferenceSession, feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
  const tensors: Record<string, ort.Tensor> = {}
  for (const [name, f] of Object.entries(feeds)) tensors[name] = new ort.Tensor(f.type, f.data, [...f.dims])
  const r = await s.run(tensors)
  return plainOutputs(r)
}

/**
 * ORT outputs as plain tensors. Sessions are never opened with `preferredOutputLocation:
 * 'gpu-buffer'`: in onnxruntime-node 1.30 reading such a tensor back (getData) aborts the whole
 * process from native code (measured on the WebGPU provider, SwiftShader adapter), so an output
 * that is not on the CPU is refused here instead of being read.
 */
export function plainOutputs(r: Record<string, ort.Tensor>): Record<string, TensorData> {
  const out: Record<string, TensorData> = {}
  for (const [name, t] of Object.entries(r)) {
    if (t.location !== 'cpu') throw new Error(`output ${name} is in device memory (${t.location}); onnxruntime-node cannot read it back safely`)
    out[name] = { type: t.type as TensorData['type'], data: t.data as TensorData['data'], dims: [...t.dims] }
  }
  return out
}
