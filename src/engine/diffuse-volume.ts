import os from 'node:os'
import type { Volume } from '../volume/index.js'
import type { ModelCard } from './model-card.js'
import { loadModel } from './model-registry.js'
import { DEFAULT_BATCH_SIZE, onnxModelFn, sampleVolume, type VolumeSamplingOptions } from './sampler.js'
import { createScheduler, type SamplerKind } from './schedulers/index.js'
import type { Device, ResolvedDevice } from './session.js'

export interface DiffuseOptions extends Omit<VolumeSamplingOptions, 'model' | 'card' | 'createScheduler' | 'steps' | 'seed'> {
  device?: Device
  /** CPU threads in all (default: the machine's); split between the concurrent batches. */
  threads?: number
  sampler?: SamplerKind
  steps?: number
  eta?: number
  seed?: number
}

/**
 * The one call a pipeline needs: load (or reuse) the model behind a card, build the card's
 * scheduler, and sample the volume. Returns the device really used, for the job's report.
 *
 * One run() at a time by default (`concurrency` > 1 runs several batches on one session at
 * once): onnxruntime-node executes run() calls one after another, so two 1-thread lanes used one
 * core (same pass: 35.2 s wall and 35.2 s CPU, against 25.4 s wall / 43.8 s CPU for one 2-thread
 * run at batch 2; docs/engine-perf.md).
 */
export async function diffuseVolume(input: Volume, cardPath: string, o: DiffuseOptions = {}): Promise<{ volume: Volume; device: ResolvedDevice; card: ModelCard }> {
  const threads = Math.max(1, o.threads ?? os.availableParallelism())
  const cpuLanes = Math.max(1, Math.min(Math.floor(o.concurrency ?? 1), threads))
  const m = await loadModel(cardPath, { device: o.device, threads: Math.max(1, Math.floor(threads / cpuLanes)) })
  // a GPU provider ignores the thread count; one lane keeps its batches whole
  const lanes = m.device === 'cpu' ? cpuLanes : 1
  const { card } = m
  const volume = await sampleVolume(input, {
    ...o,
    model: onnxModelFn(m),
    card,
    createScheduler: () => createScheduler(o.sampler ?? 'ddim', card.schedule, { prediction: card.prediction, clipSample: card.clip_sample ?? true, eta: o.eta }),
    steps: o.steps ?? 10,
    seed: o.seed ?? 0,
    batchSize: o.batchSize ?? DEFAULT_BATCH_SIZE,
    concurrency: lanes,
  })
  return { volume, device: m.device, card }
}
