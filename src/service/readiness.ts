import { stat } from 'node:fs/promises'
import { listModels, sha256File } from '../engine/model-registry.js'

export interface ModelStatus {
  name: string
  version?: string
  tasks: string[]
  /** sha256 of the ONNX file matches its card. */
  verified: boolean
  error?: string
}

/**
 * Which installed models are usable, checked against their cards' sha256. Hashes are cached by
 * file size and mtime, so polling /readyz does not re-read gigabytes.
 */
export class Readiness {
  private cache = new Map<string, { key: string; ok: boolean }>()
  private last?: { at: number; models: ModelStatus[] }

  constructor(private readonly modelsDir: string) {}

  async models(maxAgeMs = 5000): Promise<ModelStatus[]> {
    if (this.last && Date.now() - this.last.at < maxAgeMs) return this.last.models
    let entries: Awaited<ReturnType<typeof listModels>>
    try {
      entries = await listModels(this.modelsDir)
    } catch {
      entries = []
    }
    const out: ModelStatus[] = []
    for (const e of entries) {
      if (!e.card || !e.onnxPath) {
        out.push({ name: e.cardPath.split(/[/\\]/).pop()!.replace(/\.json$/, ''), tasks: [], verified: false, error: e.error?.code ?? 'MODEL_NOT_FOUND' })
        continue
      }
      const st = await stat(e.onnxPath)
      const key = `${st.size}:${st.mtimeMs}:${e.card.sha256}`
      let hit = this.cache.get(e.onnxPath)
      if (hit?.key !== key) {
        hit = { key, ok: (await sha256File(e.onnxPath).catch(() => '')) === e.card.sha256 }
        this.cache.set(e.onnxPath, hit)
      }
      out.push({ name: e.card.name, version: e.card.version, tasks: e.card.tasks, verified: hit.ok, ...(hit.ok ? {} : { error: 'MODEL_HASH_MISMATCH' }) })
    }
    this.last = { at: Date.now(), models: out }
    return out
  }
}
