import { DDIMScheduler } from './ddim.js'
import { DDPMScheduler } from './ddpm.js'
import { DPMSolverPP2MScheduler } from './dpm-solver-pp.js'
import type { ScheduleSpec } from './schedule.js'
import type { NoiseScheduler, SchedulerOptions } from './scheduler.js'

export * from './schedule.js'
export * from './scheduler.js'
export { DDIMScheduler, DDPMScheduler, DPMSolverPP2MScheduler }

/** 'dpmpp' is the command line's name for DPM-Solver++(2M). */
export type SamplerKind = 'ddpm' | 'ddim' | 'dpmpp2m' | 'dpmpp'

export function createScheduler(kind: SamplerKind, schedule: ScheduleSpec, opts: SchedulerOptions & { eta?: number } = {}): NoiseScheduler {
  if (kind === 'ddpm') return new DDPMScheduler(schedule, opts)
  if (kind === 'ddim') return new DDIMScheduler(schedule, opts)
  if (kind === 'dpmpp2m' || kind === 'dpmpp') return new DPMSolverPP2MScheduler(schedule, opts)
  throw new RangeError(`unknown sampler ${String(kind)}`)
}

// Here rather than in volume-sampler.ts so the browser preview (which cannot load that file) shares it.
/** Largest integer t with ᾱ_t ≥ target (0 when even ᾱ_0 is below it). */
export function timestepForAbar(sch: Pick<NoiseScheduler, 'abar' | 'schedule'>, target: number): number {
  let t = 0
  for (let k = 0; k < sch.schedule.T; k++) if (sch.abar(k) >= target) t = k
  return t
}
