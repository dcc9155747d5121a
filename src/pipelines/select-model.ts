import path from 'node:path'
import { EngineError, listModels, type ModelCard } from '../engine/index.js'
import type { Volume } from '../volume/volume.js'
import type { TaskName } from './task.js'
import { superresSettings, type SuperresSettings } from './restoration-settings.js'

/** Card `tasks` spellings that serve each pipeline (training recipes write the long forms). */
const TASK_ALIASES: Record<TaskName, string[]> = {
  denoise: ['denoise'],
  superres: ['superres', 'super-resolution'],
  translate: ['translate', 'mri2ct'],
  anomaly: ['anomaly'],
}

export interface SelectedModel {
  card: ModelCard
  cardPath: string
}

/** The modality a model reads: the conditioning modality for translation, else its own. */
function inputModalityOf(card: ModelCard, task: TaskName): string {
  if (task === 'translate') return typeof card.cond_modality === 'string' ? card.cond_modality : 'MR'
  return card.modality
}

function modalityMatches(card: string, input: string): boolean {
  return card === 'OT' || input === 'OT' || card.toUpperCase() === input.toUpperCase()
}

/**
 * By name when asked (any task: the user knows best), else the first card (sorted by file name)
 * that lists the task and reads the input's modality (preferring `opts.contrast` when given).
 */
export async function selectModel(task: TaskName, input: Pick<Volume, 'modality'>, modelsDir: string, name?: string, opts: { contrast?: string; superresAxes?: 'inplane' | 'through' | 'all' } = {}): Promise<SelectedModel> {
  const entries = await listModels(modelsDir)
  const usable = entries.filter((e): e is typeof e & { card: ModelCard } => e.card !== undefined)
  const installed = usable.map((e) => `${e.card.name} (${e.card.tasks.join('/') || 'no tasks'}, ${e.card.modality})`)
  const listing = installed.length > 0 ? `installed: ${installed.join(', ')}` : `no usable model in ${path.resolve(modelsDir)}`
  if (name !== undefined) {
    const hit = usable.find((e) => e.card.name === name)
    if (!hit) throw new EngineError('MODEL_NOT_FOUND', `no model named "${name}"; ${listing}`, { source: modelsDir })
    return { card: hit.card, cardPath: hit.cardPath }
  }
  const want = TASK_ALIASES[task]
  const serving = usable.filter((e) => e.card.tasks.some((t) => want.includes(t)) && modalityMatches(inputModalityOf(e.card, task), input.modality))
  // a model trained for the task itself (conditioned super-resolution) before a prior that also serves it,
  // for the axes its card lists (superres.axes; absent: all)
  if (task === 'superres') {
    const pref = (c: ModelCard): number => Number(isConditionedSuperres(c, opts.superresAxes ?? 'inplane'))
    serving.sort((a, b) => pref(b.card) - pref(a.card))
  }
  // A contrast hint (e.g. FLAIR) prefers the card trained on it; without a match any serving card will do.
  const c = opts.contrast?.toUpperCase()
  const hit = (c && serving.find((e) => typeof e.card.contrast === 'string' && e.card.contrast.toUpperCase() === c)) || serving[0]
  if (!hit) throw new EngineError('MODEL_NOT_FOUND', `no installed model serves ${task} for ${input.modality} input; ${listing}`, { source: modelsDir })
  return { card: hit.card, cardPath: hit.cardPath }
}

function isConditionedSuperres(card: ModelCard, axes: 'inplane' | 'through' | 'all'): boolean {
  let sr: SuperresSettings
  try {
    sr = superresSettings(card)
  } catch {
    return false // a malformed block is reported when the model runs, not while ranking
  }
  return sr.conditioning !== null && (sr.axes === null || sr.axes.includes(axes))
}
