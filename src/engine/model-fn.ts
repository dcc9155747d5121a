import type { ModelCard } from './model-card.js'
import type { TensorData } from './tensor-data.js'
import { accumulateTiles, cropTiles, planTiles, tileWeights } from './tiling.js'

/** One network evaluation: x [B,C,H,W], cond [B,Cc,H,W] → out [B,Co,H,W] (Co < C for a 2.5D model, whose x holds neighbour slices). */
export type ModelFn = (x: Float32Array, dims: [number, number, number, number], t: number, cond?: Float32Array) => Promise<Float32Array>

/**
 * Wraps a loaded ONNX model as a ModelFn (t as float32 or int64, as its card says). Only `run` is
 * needed, so the browser preview wraps its onnxruntime-web session with the same feeds.
 */
export function onnxModelFn(m: { session: { run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> }; card: Pick<ModelCard, 'timestep_input' | 'cond_channels'> }): ModelFn {
  const { session, card } = m
  return async (x, dims, t, cond) => {
    const [B, , H, W] = dims
    const feeds: Record<string, TensorData> = {
      x: { type: 'float32', data: x, dims },
      t: card.timestep_input === 'int64' ? { type: 'int64', data: new BigInt64Array(B).fill(BigInt(t)), dims: [B] } : { type: 'float32', data: new Float32Array(B).fill(t), dims: [B] },
    }
    if (card.cond_channels > 0) {
      if (!cond) throw new RangeError('this model needs a conditioning image')
      feeds.cond = { type: 'float32', data: cond, dims: [B, card.cond_channels, H, W] }
    }
    const r = await session.run(feeds)
    return r.out.data as Float32Array
  }
}

/**
 * Evaluates the model on [B,C,H,W], in overlapping tiles when H or W exceeds `tile`
 * (each tile position runs once for the whole batch).
 */
export function tiledModelFn(model: ModelFn, tile: number | null, overlap: number, cond: number): ModelFn {
  const weights = new Map<string, Float32Array>()
  const weightFor = (h: number, w: number): Float32Array => {
    let wt = weights.get(`${h}x${w}`)
    if (!wt) weights.set(`${h}x${w}`, (wt = tileWeights(h, w, overlap)))
    return wt
  }
  return async (x, dims, t, c) => {
    const [B, C, H, W] = dims
    if (tile === null || (H <= tile && W <= tile)) return model(x, dims, t, c)
    let acc: Float32Array | undefined
    let wsum: Float32Array | undefined
    for (const tl of planTiles(H, W, tile, overlap)) {
      const xt = cropTiles(x, B * C, H, W, tl, new Float32Array(B * C * tl.h * tl.w))
      const ct = c && cond > 0 ? cropTiles(c, B * cond, H, W, tl, new Float32Array(B * cond * tl.h * tl.w)) : undefined
      const out = await model(xt, [B, C, tl.h, tl.w], t, ct)
      const Co = out.length / (B * tl.h * tl.w)
      acc ??= new Float32Array(B * Co * H * W)
      wsum ??= new Float32Array(B * Co * H * W)
      accumulateTiles(acc, wsum, B * Co, H, W, tl, out, weightFor(tl.h, tl.w))
    }
    if (!acc || !wsum) throw new RangeError('no tiles')
    for (let i = 0; i < acc.length; i++) acc[i] /= wsum[i]
    return acc
  }
}

/**
 * Runs task(0) … task(count − 1) with up to `lanes` of them in flight, in order of start. After
 * the first failure no further task starts (the ones in flight finish) and it is rethrown.
 */
export async function runLanes(count: number, lanes: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  let failed = false
  const lane = async (): Promise<void> => {
    while (!failed && next < count) {
      try {
        await task(next++)
      } catch (e) {
        failed = true
        throw e
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(Math.floor(lanes), count)) }, lane))
}

/**
 * Slices per run(), and runs in flight at once. On CPU (threaded-session.ts) a batch is split
 * across the inference threads, one slice each, and a second batch in flight keeps them busy while
 * this thread reads slices and steps the scheduler. One slice per thread rather than several: the
 * same at 128² (10-step pass over 120×120×90: batch 2 × 2 in flight 19.2 s, batch 8 × 2 19.0-19.1 s)
 * and 9 % faster at 240² (superres ×2 of a 90×240×240 IXI T1: 74.3-75.0 s against 82.0-82.1 s),
 * where a 4-slice part's activations no longer fit the cache. A GPU session takes batches of 8.
 */
export const DEFAULT_BATCH_SIZE = 8
export const CPU_BATCHES_IN_FLIGHT = 2

/** Batch size and batches in flight for a loaded model on its device. */
export function batchPlan(m: { session: { readonly parallelism: number }; device: string }): { batch: number; inFlight: number } {
  return m.device === 'cpu' ? { batch: m.session.parallelism, inFlight: CPU_BATCHES_IN_FLIGHT } : { batch: DEFAULT_BATCH_SIZE, inFlight: 1 }
}
