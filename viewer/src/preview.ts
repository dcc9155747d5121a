import * as ort from 'onnxruntime-web'
import type { ModelCard } from '../../src/engine/model-card.js'
import { onnxModelFn } from '../../src/engine/model-fn.js'
import { cardTiled, oneStepX0Slice, sliceGeometry, sliceOf } from '../../src/engine/one-slice.js'
import { createScheduler } from '../../src/engine/schedulers/index.js'
import type { TensorData } from '../../src/engine/tensor-data.js'
import { clampToInput, denoiseLevel, finishDenoised, type DenoiseLevel } from '../../src/pipelines/denoise-level.js'
import { ApiError, fetchModelFile, type ModelInfo, type RawVolume } from './api.js'

// This module is loaded only when a preview is asked for (a dynamic import in main.ts), so
// onnxruntime-web and its WebAssembly (~28 MB, emitted by Vite beside the bundle: no CDN) cost
// nothing to a viewer that never previews.

export type PreviewBackend = 'auto' | 'webgpu' | 'wasm'

export interface PreviewResult {
  model: string
  sha256: string
  /** The execution provider that ran the model. */
  backend: 'webgpu' | 'wasm'
  plane: ModelCard['plane']
  slice: number
  H: number
  W: number
  /** The slice in real units, rows of the card plane's layout on the voxel grid (src/engine/slicing.ts). */
  input: Float32Array
  /** What the denoise task ('mean' mode, `--ensemble off`: the card's plane alone) writes for this slice, same order and units. */
  output: Float32Array
  tStar: number
  sigma: number
  /** Model call + the per-slice math, ms (no download, no session creation, no whole-volume noise estimate). */
  sliceMs: number
  /** Everything this call took, ms (download, sha256 and session creation on the first call). */
  totalMs: number
}

const hex = (b: ArrayBuffer): string => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('')

/** The file's sha256 against the card's, before ORT sees a byte of it. */
async function verifiedModelBytes(m: ModelInfo): Promise<Uint8Array> {
  if (!globalThis.crypto?.subtle) throw new ApiError('INSECURE_CONTEXT', 'the preview checks the model with crypto.subtle, which browsers offer only on https or localhost', 0)
  const bytes = await fetchModelFile(m)
  const got = hex(await crypto.subtle.digest('SHA-256', bytes))
  if (got !== m.sha256) throw new ApiError('MODEL_HASH_MISMATCH', `the downloaded model's sha256 (${got.slice(0, 12)}…) differs from its card's (${m.sha256.slice(0, 12)}…); nothing was run`, 0)
  return new Uint8Array(bytes)
}

async function webgpuAvailable(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu
  return !!gpu && !!(await gpu.requestAdapter().catch(() => null))
}

interface Loaded {
  session: ort.InferenceSession
  backend: 'webgpu' | 'wasm'
}
const sessions = new Map<string, Promise<Loaded>>()

/** One session per model file and backend; WebGPU when the browser has an adapter, else wasm. */
function session(m: ModelInfo, want: PreviewBackend): Promise<Loaded> {
  const key = `${m.sha256}:${want}`
  let p = sessions.get(key)
  if (!p) {
    p = (async () => {
      const bytes = await verifiedModelBytes(m)
      // Threads need SharedArrayBuffer, which needs a cross-origin-isolated page; the viewer is not one.
      if (!globalThis.crossOriginIsolated) ort.env.wasm.numThreads = 1
      if (want === 'webgpu' || (want === 'auto' && (await webgpuAvailable()))) {
        try {
          return { session: await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] }), backend: 'webgpu' as const }
        } catch (e) {
          if (want === 'webgpu') throw new ApiError('BACKEND_UNAVAILABLE', `WebGPU could not run the model: ${e instanceof Error ? e.message : String(e)}`, 0)
        }
      }
      return { session: await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] }), backend: 'wasm' as const }
    })()
    sessions.set(key, p)
    p.catch(() => sessions.delete(key))
  }
  return p
}

/** The engine's session interface (plain tensors in and out) over an onnxruntime-web session. */
function runner(s: ort.InferenceSession): { run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> } {
  return {
    async run(feeds) {
      const inputs: Record<string, ort.Tensor> = {}
      for (const [k, v] of Object.entries(feeds)) inputs[k] = v.type === 'int64' ? new ort.Tensor('int64', v.data as BigInt64Array, v.dims) : new ort.Tensor('float32', v.data as Float32Array, v.dims)
      const r = await s.run(inputs)
      const out: Record<string, TensorData> = {}
      for (const [k, t] of Object.entries(r)) out[k] = { type: t.type as TensorData['type'], data: (await t.getData()) as TensorData['data'], dims: [...t.dims] }
      return out
    },
  }
}

/** The whole-volume part (noise estimate, normalisation, t*) once per volume and model. */
const levels = new WeakMap<RawVolume, Map<string, DenoiseLevel>>()
function levelFor(vol: RawVolume, card: ModelCard): DenoiseLevel {
  let byModel = levels.get(vol)
  if (!byModel) levels.set(vol, (byModel = new Map()))
  let lv = byModel.get(card.sha256)
  if (!lv) byModel.set(card.sha256, (lv = denoiseLevel(card, vol.data, vol.size, vol.modality, 'mean')))
  return lv
}

/**
 * The denoise task's 'mean' result for one slice of the card's plane, computed in the browser with
 * the server's own code (src/engine/one-slice.ts, src/pipelines/denoise-level.ts) on the same
 * verified model file. A PREVIEW: the job on the service remains the result.
 */
export async function previewDenoiseSlice(vol: RawVolume, m: ModelInfo, slice: number, backend: PreviewBackend = 'auto'): Promise<PreviewResult> {
  const t0 = performance.now()
  const card = m.card
  if (card.channels !== 1 || card.cond_channels > 0) throw new ApiError('UNSUPPORTED_MODEL', `the preview runs single-channel unconditional models; ${card.name} is not one`, 0)
  const loaded = await session(m, backend)
  const lv = levelFor(vol, card)
  const { layout } = sliceGeometry(card, vol.size)
  const s = Math.min(layout.count - 1, Math.max(0, Math.round(slice)))
  const t1 = performance.now()
  const sch = createScheduler('ddim', card.schedule, { prediction: card.prediction, clipSample: card.clip_sample ?? true })
  const fn = cardTiled(onnxModelFn({ session: runner(loaded.session), card }), card)
  // 'mean' on an x0-model is one call at a continuous t*; on the others one DDIM step from the
  // integer t* to ᾱ = 1, whose result is this same one-step x̂₀ (see denoise-level.ts).
  const x0 = await oneStepX0Slice(fn, card, sch, lv.y, vol.size, s, lv.tStar)
  clampToInput(x0, sliceOf(lv.y, layout, s), lv.bound)
  const input = sliceOf(vol.data, layout, s)
  const output = finishDenoised(x0, lv, input)
  const t2 = performance.now()
  return { model: `${card.name} v${card.version}`, sha256: m.sha256, backend: loaded.backend, plane: card.plane, slice: s, H: layout.H, W: layout.W, input, output, tStar: lv.tStar, sigma: lv.est.sigma, sliceMs: t2 - t1, totalMs: t2 - t0 }
}
