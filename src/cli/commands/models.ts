import { defaultModelsDir, listModels, sha256File } from '../../engine/index.js'
import { EXIT } from '../exit-codes.js'
import type { Reporter } from '../report.js'

/** Lists installed models; every sha256 is recomputed, so a corrupt file shows here first. */
export async function modelsCommand(dir: string | undefined, r: Reporter): Promise<number> {
  const modelsDir = dir ?? defaultModelsDir()
  const entries = await listModels(modelsDir)
  let bad = 0
  for (const e of entries) {
    if (!e.card || !e.onnxPath) {
      bad++
      if (r.json) r.out(JSON.stringify({ ok: false, card: e.cardPath, error: { code: e.error?.code, message: e.error?.message } }))
      else r.err(`raddiff: ${e.cardPath}: ${e.error?.message} [${e.error?.code}]`)
      continue
    }
    const sha256 = await sha256File(e.onnxPath)
    const verified = sha256 === e.card.sha256
    if (!verified) bad++
    if (r.json) {
      r.out(JSON.stringify({ ok: verified, name: e.card.name, version: e.card.version, file: e.onnxPath, sha256, verified, card: e.card }))
    } else {
      const metrics = Object.keys(e.card.metrics ?? {}).length ? '' : '  (no held-out metrics)'
      r.out(`${e.card.name} ${e.card.version}  tasks: ${e.card.tasks.join(', ')}  ${e.card.modality}${e.card.contrast ? ' ' + e.card.contrast : ''}${metrics}`)
      r.out(`  ${e.onnxPath}`)
      r.out(`  sha256 ${sha256} ${verified ? 'verified' : 'DOES NOT MATCH THE CARD'}`)
    }
  }
  if (entries.length === 0 && !r.json) r.err(`raddiff: no models in ${modelsDir}`)
  return bad > 0 ? EXIT.PARTIAL_FAILURE : EXIT.OK
}
