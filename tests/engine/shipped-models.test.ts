import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { defaultModelsDir, listModels, loadModel, sha256File } from '../../src/engine/index.js'

const dir = defaultModelsDir()
const cards = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : []

describe.skipIf(cards.length === 0)('shipped models', () => {
  it('every card is valid, its ONNX file matches the sha256 and the graph matches the card', async () => {
    const entries = await listModels(dir)
    expect(entries.map((e) => e.error?.message ?? null)).toEqual(entries.map(() => null))
    for (const e of entries) {
      expect(await sha256File(e.onnxPath!)).toBe(e.card!.sha256)
      const m = await loadModel(e.cardPath, { device: 'cpu' })
      expect(m.card.name).toBe(e.card!.name)
      // Held-out metrics are part of every shipped card.
      expect(Object.keys(e.card!.metrics ?? {}).length).toBeGreaterThan(0)
      expect(e.card!.licence).toBeTruthy()
      expect(path.basename(e.onnxPath!)).toBe(e.card!.file)
    }
    // each load starts one inference thread per core with its own session: minutes on a loaded 2-core machine
  }, 300_000)
})
