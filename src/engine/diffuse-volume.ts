import os from 'node:os'
import type { Volume } from '../volume/index.js'
import type { ModelCard } from './model-card.js'
import { loadModel } from './model-registry.js'
import { batchPlan, onnxModelFn, sampleVolume, type VolumeSamplingOptions } from './sampler.js'
import { createScheduler, type SamplerKind } from './schedulers/index.js'
import type { Device, ResolvedDevice } from './session.js'

export interface DiffuseOptions extends Omit<VolumeSamplingOptions, 'model' | 'card' | 'createScheduler' | 'steps' | 'seed'> {
  device?: Device
  /** CPU threads in all (default: the machine's); split between the inference threads. */
  threads?: number
  sampler?: SamplerKind
  steps?: number
  eta?: number
  seed?: number
}

/**
 * The one call a pipeline needs: load (or reuse) the model behind a card, build the card's
 * scheduler, and sample the volume. Returns the device really used, for the job's report.
 * Batch size and batches in flight follow the device (batchPlan).
 */
export async function diffuseVolume(input: Volume, cardPath: string, o: DiffuseOptions = {}): Promise<{ volume: Volume; device: ResolvedDevice; card: ModelCard }> {
  const threads = Math.max(1, o.threads ?? os.availableParallelism())
  const m = await loadModel(cardPath, { device: o.device, threads })
  const { card } = m
  const plan = batchPlan(m)
  const volume = await sampleVolume(input, {
    ...o,
    model: onnxModelFn(m),
    card,
    createScheduler: () => createScheduler(o.sampler ?? 'ddim', card.schedule, { prediction: card.prediction, clipSample: card.clip_sample ?? true, eta: o.eta }),
    steps: o.steps ?? 10,
    seed: o.seed ?? 0,
    batchSize: o.batchSize ?? plan.batch,
    concurrency: o.concurrency ?? plan.inFlight,
  })
  return { volume, device: m.device, card }
}
