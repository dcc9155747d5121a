import { EngineError } from './errors.js'
import type { Prediction } from './schedulers/scheduler.js'
import type { ScheduleSpec } from './schedulers/schedule.js'

export type SlicePlane = 'axial' | 'coronal' | 'sagittal'

/**
 * percentile: clip to the volume's [low, high] percentiles (linear interpolation, as numpy) and map
 * that range to [-1, 1]. ct-window: clip HU to [low, high] and map to [-1, 1].
 */
export interface Normalisation {
  kind: 'percentile' | 'ct-window'
  params: { low: number; high: number }
}

/** The JSON card beside every ONNX model (training/raddiff_train/export.py writes it). */
export interface ModelCard {
  name: string
  version: string
  tasks: string[]
  modality: string
  contrast?: string | null
  prediction: Prediction
  schedule: ScheduleSpec
  normalisation: Normalisation
  /** Anatomical plane, sliced on the canonical LPS voxel order (see canonical.ts and src/engine/README.md). */
  plane: SlicePlane
  /** H and W must be multiples of this (2^(levels−1) for the UNet). */
  size_multiple: number
  /** Largest in-plane size run in one piece; larger slices are tiled. null = never tile. */
  tile_size: number | null
  /** Image channels C of `x` (and of the output). */
  channels: number
  /** Conditioning channels Cc of `cond`; 0 = unconditional (no `cond` input). */
  cond_channels: number
  /**
   * 2.5D context: k neighbouring slices on each side enter `x` as extra channels (C·(2k+1) in all,
   * the centre slice in the middle, all at the same noise level); `out` is the centre slice (C
   * channels). 0 or absent: one slice in, one out.
   */
  context_slices?: number
  /** Element type of the `t` input. */
  timestep_input: 'float32' | 'int64'
  clip_sample?: boolean
  parameters?: number
  training_data?: unknown
  metrics?: Record<string, unknown>
  licence: string
  /** The ONNX file name, relative to the card. */
  file: string
  sha256: string
  [extra: string]: unknown
}

const PREDICTIONS = ['epsilon', 'v', 'x0']
const SCHEDULES = ['linear', 'scaled-linear', 'cosine']
export const PLANES: readonly SlicePlane[] = ['axial', 'coronal', 'sagittal']

/** Checks a parsed card's shape and ranges; throws MODEL_CONTRACT_MISMATCH naming the first bad field. */
export function validateModelCard(raw: unknown, source?: string): ModelCard {
  const bad = (field: string, want: string): never => {
    throw new EngineError('MODEL_CONTRACT_MISMATCH', `model card field "${field}" must be ${want}`, { source })
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('(root)', 'a JSON object')
  const c = raw as Record<string, any>
  const str = (f: string): void => void (typeof c[f] === 'string' && c[f].length > 0 ? 0 : bad(f, 'a non-empty string'))
  const posInt = (v: unknown, f: string): void => void (Number.isInteger(v) && (v as number) > 0 ? 0 : bad(f, 'a positive integer'))
  for (const f of ['name', 'version', 'modality', 'licence', 'file']) str(f)
  if (!Array.isArray(c.tasks) || !c.tasks.every((t: unknown) => typeof t === 'string')) bad('tasks', 'an array of strings')
  if (!PREDICTIONS.includes(c.prediction)) bad('prediction', PREDICTIONS.join(' | '))
  const s = c.schedule
  if (typeof s !== 'object' || s === null || !SCHEDULES.includes(s.type)) bad('schedule.type', SCHEDULES.join(' | '))
  posInt(s.T, 'schedule.T')
  for (const f of ['beta_start', 'beta_end']) {
    if (!(typeof s[f] === 'number' && s[f] > 0 && s[f] < 1)) bad(`schedule.${f}`, 'a number in (0, 1)')
  }
  const n = c.normalisation
  if (typeof n !== 'object' || n === null || !['percentile', 'ct-window'].includes(n.kind)) bad('normalisation.kind', 'percentile | ct-window')
  if (!(typeof n.params?.low === 'number' && typeof n.params?.high === 'number' && n.params.low < n.params.high)) {
    bad('normalisation.params', '{low, high} numbers with low < high')
  }
  if (n.kind === 'percentile' && !(n.params.low >= 0 && n.params.high <= 100)) bad('normalisation.params', 'percentiles within [0, 100]')
  if (!PLANES.includes(c.plane)) bad('plane', PLANES.join(' | '))
  posInt(c.size_multiple, 'size_multiple')
  if (c.tile_size !== null && c.tile_size !== undefined) {
    posInt(c.tile_size, 'tile_size')
    if (c.tile_size % c.size_multiple !== 0) bad('tile_size', 'a multiple of size_multiple')
  }
  posInt(c.channels, 'channels')
  if (!(Number.isInteger(c.cond_channels) && c.cond_channels >= 0)) bad('cond_channels', 'an integer ≥ 0')
  if (!['float32', 'int64'].includes(c.timestep_input ?? 'float32')) bad('timestep_input', 'float32 | int64')
  if (c.context_slices !== undefined && !(Number.isInteger(c.context_slices) && c.context_slices >= 0 && c.context_slices <= 8)) bad('context_slices', 'an integer from 0 to 8')
  if (typeof c.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(c.sha256)) bad('sha256', '64 lowercase hex digits')
  return { timestep_input: 'float32', tile_size: null, context_slices: 0, ...c } as ModelCard
}

/** Channels of the model's `x` input: the image's channels for each of the 2k+1 slices it sees. */
export function inputChannels(card: Pick<ModelCard, 'channels' | 'context_slices'>): number {
  return card.channels * (2 * (card.context_slices ?? 0) + 1)
}
