import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import type ort from 'onnxruntime-node'
import { EngineError } from './errors.js'
import { inputChannels, validateModelCard, type ModelCard } from './model-card.js'
import { getSession, type Device, type GraphInfo, type ModelSession, type ResolvedDevice } from './session.js'

export interface ModelEntry {
  card?: ModelCard
  cardPath: string
  onnxPath?: string
  /** Why the card could not be used (listing never throws for one bad card). */
  error?: EngineError
}

export async function readCard(cardPath: string): Promise<{ card: ModelCard; onnxPath: string }> {
  let text: string
  try {
    text = await readFile(cardPath, 'utf8')
  } catch (e) {
    throw new EngineError('MODEL_NOT_FOUND', 'the model card cannot be read', { source: cardPath, cause: e })
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    throw new EngineError('MODEL_CONTRACT_MISMATCH', 'the model card is not valid JSON', { source: cardPath, cause: e })
  }
  const card = validateModelCard(raw, cardPath)
  return { card, onnxPath: path.resolve(path.dirname(cardPath), card.file) }
}

/** Cards (*.json) in a models folder, each with its ONNX file beside it. */
export async function listModels(dir: string): Promise<ModelEntry[]> {
  let names: string[]
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort()
  } catch (e) {
    throw new EngineError('MODEL_NOT_FOUND', 'the models folder cannot be read', { source: dir, cause: e })
  }
  const out: ModelEntry[] = []
  for (const n of names) {
    const cardPath = path.join(dir, n)
    try {
      const { card, onnxPath } = await readCard(cardPath)
      await stat(onnxPath).catch((e) => {
        throw new EngineError('MODEL_NOT_FOUND', `the ONNX file named by the card (${card.file}) is missing`, { source: cardPath, cause: e })
      })
      out.push({ card, cardPath, onnxPath })
    } catch (e) {
      if (!(e instanceof EngineError)) throw e
      out.push({ cardPath, error: e })
    }
  }
  return out
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', (e) => reject(new EngineError('MODEL_NOT_FOUND', 'the ONNX file cannot be read', { source: file, cause: e })))
      .on('end', () => resolve(h.digest('hex')))
  })
}

function tensorMeta(session: GraphInfo, name: string, inputs: boolean): ort.InferenceSession.ValueMetadata | undefined {
  const list = inputs ? session.inputMetadata : session.outputMetadata
  return list?.find((m) => m.name === name)
}

/** Compares the graph's input/output names, ranks, element types and fixed dims with the card. */
export function checkContract(session: GraphInfo, card: ModelCard, source?: string): void {
  const fail = (msg: string): never => {
    throw new EngineError('MODEL_CONTRACT_MISMATCH', `the ONNX graph does not match its card: ${msg}`, { source })
  }
  const wantIn = card.cond_channels > 0 ? ['x', 't', 'cond'] : ['x', 't']
  const gotIn = [...session.inputNames].sort()
  if (gotIn.join(',') !== [...wantIn].sort().join(',')) fail(`inputs are [${gotIn.join(', ')}], the card needs [${wantIn.join(', ')}]`)
  if (!session.outputNames.includes('out')) fail(`outputs are [${session.outputNames.join(', ')}], the card needs [out]`)
  const expect: [string, boolean, number, string, number | null][] = [
    ['x', true, 4, 'float32', inputChannels(card)],
    ['t', true, 1, card.timestep_input, null],
    ['out', false, 4, 'float32', card.channels],
  ]
  if (card.cond_channels > 0) expect.push(['cond', true, 4, 'float32', card.cond_channels])
  for (const [name, isInput, rank, type, ch] of expect) {
    const m = tensorMeta(session, name, isInput)
    if (!m || !m.isTensor) fail(`${name} is not a tensor`)
    const tm = m as ort.InferenceSession.TensorValueMetadata
    if (tm.shape.length !== rank) fail(`${name} has rank ${tm.shape.length}, expected ${rank}`)
    if (tm.type !== type) fail(`${name} is ${tm.type}, expected ${type}`)
    if (ch !== null && typeof tm.shape[1] === 'number' && tm.shape[1] !== ch) fail(`${name} has ${tm.shape[1]} channels, the card says ${ch}`)
  }
}

export interface LoadedModel {
  card: ModelCard
  cardPath: string
  onnxPath: string
  session: ModelSession
  device: ResolvedDevice
}

/** Reads and validates the card, verifies the sha256, opens (or reuses) the session and checks the graph. */
export async function loadModel(cardPath: string, opts: { device?: Device; threads?: number } = {}): Promise<LoadedModel> {
  const { card, onnxPath } = await readCard(cardPath)
  const hash = await sha256File(onnxPath)
  if (hash !== card.sha256) {
    throw new EngineError('MODEL_HASH_MISMATCH', `the ONNX file's sha256 (${hash.slice(0, 12)}…) differs from the card's (${card.sha256.slice(0, 12)}…): re-download or re-export the model`, { source: onnxPath })
  }
  const s = await getSession(onnxPath, opts.device ?? 'auto', opts.threads)
  checkContract(s.session, card, onnxPath)
  return { card, cardPath, onnxPath, session: s.session, device: s.device }
}
