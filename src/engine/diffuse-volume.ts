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
 * On CPU the default is one lane per thread, each a 1-thread run() on its own slices (batch 2):
 * per slice this took 7-13% less CPU time than one 2-thread run() at a time, which pays for a
 * barrier between its two threads after each of ~170 kernels (notes: /work/notes/engine-perf.md).
 * (On a heavily oversubscribed machine the 2-thread run got equal or up to 15% better wall time:
 * its threads sleep at barriers and the kernel's scheduler favours sleepers over busy lanes.
 * `concurrency: 1` with `threads` gives that.) A GPU gets one lane and batches of 8.
 */
export async function diffuseVolume(input: Volume, cardPath: string, o: DiffuseOptions = {}): Promise<{ volume: Volume; device: ResolvedDevice; card: ModelCard }> {
  const threads = Math.max(1, o.threads ?? os.availableParallelism())
  const cpuLanes = Math.max(1, Math.min(Math.floor(o.concurrency ?? threads), threads))
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
    batchSize: o.batchSize ?? (m.device === 'cpu' ? DEFAULT_BATCH_SIZE : 8),
    concurrency: lanes,
  })
  return { volume, device: m.device, card }
}
