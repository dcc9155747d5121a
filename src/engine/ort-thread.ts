/**
 * Inside an inference thread (threaded-session.ts): one ORT CPU session, run on request.
 * Kept free of the rest of the engine so the thread starts with nothing but onnxruntime.
 */
import { parentPort, workerData } from 'node:worker_threads'
import ort from 'onnxruntime-node'
import { runOrt, sessionOptions, type GraphInfo, type TensorData } from './session-options.js'

export interface ThreadInit {
  modelPath: string
  threads: number
}
/**
 * A run, or `exit`: release the session and end the thread. Ending it from inside, between runs,
 * is the only safe way: Worker.terminate() during a native run aborts the whole process.
 */
export type ThreadRequest = { id: number; feeds: Record<string, TensorData> } | { type: 'exit'; code: number }
export type ThreadReply =
  | { type: 'ready'; graph: GraphInfo }
  | { type: 'init-error'; message: string }
  | { id: number; outputs: Record<string, TensorData> }
  | { id: number; error: string }

const port = parentPort!
const init = workerData as ThreadInit
ort.env.logLevel = 'fatal'

function plainMeta(list: readonly ort.InferenceSession.ValueMetadata[]): ort.InferenceSession.ValueMetadata[] {
  return list.map((m) => (m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] } : { name: m.name, isTensor: false }))
}

let session: ort.InferenceSession
try {
  session = await ort.InferenceSession.create(init.modelPath, sessionOptions('cpu', init.threads))
} catch (e) {
  port.postMessage({ type: 'init-error', message: e instanceof Error ? e.message : String(e) } satisfies ThreadReply)
  process.exit(1)
}
port.on('message', async (m: ThreadRequest) => {
  if ('type' in m) {
    await session.release().catch(() => {})
    process.exit(m.code)
  }
  const { id, feeds } = m
  try {
    const outputs = await runOrt(session, feeds)
    const transfer: ArrayBuffer[] = []
    for (const t of Object.values(outputs)) {
      // only a buffer this tensor owns whole can be handed over without copying
      if (t.data.byteOffset !== 0 || t.data.byteLength !== t.data.buffer.byteLength) t.data = t.data.slice()
      transfer.push(t.data.buffer as ArrayBuffer)
    }
    port.postMessage({ id, outputs } satisfies ThreadReply, transfer)
  } catch (e) {
    port.postMessage({ id, error: e instanceof Error ? e.message : String(e) } satisfies ThreadReply)
  }
})
port.postMessage({
  type: 'ready',
  graph: { inputNames: [...session.inputNames], outputNames: [...session.outputNames], inputMetadata: plainMeta(session.inputMetadata), outputMetadata: plainMeta(session.outputMetadata) },
} satisfies ThreadReply)
