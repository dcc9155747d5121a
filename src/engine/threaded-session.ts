import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { EngineError } from './errors.js'
import type { ThreadInit, ThreadReply, ThreadRequest } from './ort-thread.js'
import { PROVIDER_NAMES, type ExecutionReport } from './execution-report.js'
import type { GraphInfo, TensorData } from './session-options.js'

const here = fileURLToPath(import.meta.url)
const isTs = here.endsWith('.ts')

/**
 * The thread's module beside this file. Under tsx / vitest it is TypeScript, and a worker thread
 * does not inherit the parent's loader (Node 20 ignores `--import` in a Worker's execArgv), so a
 * two-line bootstrap registers tsx inside the thread first.
 */
let entry: URL | undefined
function threadEntry(): URL {
  if (entry) return entry
  const file = pathToFileURL(path.join(path.dirname(here), `ort-thread.${isTs ? 'ts' : 'js'}`))
  if (!isTs) return (entry = file)
  const tsx = path.dirname(createRequire(import.meta.url).resolve('tsx/package.json'))
  const api = pathToFileURL(path.join(tsx, 'dist/esm/api/index.mjs')).href
  const boot = `import { register } from ${JSON.stringify(api)}; register(); await import(${JSON.stringify(file.href)})`
  return (entry = new URL(`data:text/javascript,${encodeURIComponent(boot)}`))
}

interface Part {
  feeds: Record<string, TensorData>
  transfer: ArrayBuffer[]
  resolve: (o: Record<string, TensorData>) => void
  reject: (e: unknown) => void
}

interface Slot {
  worker: Worker
  ready: boolean
  busy?: { id: number; part: Part }
}

/**
 * One ORT CPU session per worker thread, each with a share of the cores, behind a single run():
 * a batch is split along its first axis across the threads and the outputs are joined again.
 *
 * Why threads: onnxruntime-node runs a session's run() on the JS thread, one call at a time, so
 * concurrent calls never overlapped (two 1-thread "lanes": 35.2 s wall = 35.2 s CPU), and the event
 * loop (progress, cancellation, a server's requests) stalls for the whole forward. Why 1-thread
 * sessions on separate slices rather than one 2-thread session: a 2-thread forward meets at a
 * barrier after each of ~170 kernels and its batch-8 activations (up to 25 MB) fall out of cache;
 * two 1-thread sessions on 1-4 slices each did the same work with 10-20 % less CPU (idle 2-core
 * machine, 128²: 19.6 ms a slice against 24.0 ms; docs/engine-perf.md).
 *
 * A thread that ends unexpectedly (an uncaught error, V8's heap limit) fails only the run it had,
 * with an EngineError, and a new thread takes its place; a native crash inside onnxruntime still
 * ends the process, as it did on the main thread. Threads are never terminate()d from outside:
 * that aborts the process when it lands during a native run, so release() asks them to exit.
 */
export class ThreadedSession implements GraphInfo {
  readonly device = 'cpu' as const
  private slots: Slot[] = []
  private queue: Part[] = []
  private nextId = 0
  private released = false

  private constructor(
    readonly modelPath: string,
    /** Parts a batch is split into and run at once: one per inference thread. */
    readonly parallelism: number,
    private readonly init: ThreadInit,
    private graph: GraphInfo,
  ) {}

  /** Starts `count` threads with `threadsEach` ORT threads each; rejects if the model does not load. */
  static async open(modelPath: string, count: number, threadsEach: number): Promise<ThreadedSession> {
    const init: ThreadInit = { modelPath, threads: Math.max(1, threadsEach) }
    const s = new ThreadedSession(modelPath, Math.max(1, count), init, { inputNames: [], outputNames: [], inputMetadata: [], outputMetadata: [] })
    try {
      const graphs = await Promise.all(Array.from({ length: s.parallelism }, () => s.spawn()))
      s.graph = graphs[0]
    } catch (e) {
      await s.release()
      throw e
    }
    return s
  }

  get inputNames(): readonly string[] {
    return this.graph.inputNames
  }
  get outputNames(): readonly string[] {
    return this.graph.outputNames
  }
  get inputMetadata(): GraphInfo['inputMetadata'] {
    return this.graph.inputMetadata
  }
  get outputMetadata(): GraphInfo['outputMetadata'] {
    return this.graph.outputMetadata
  }
  /** Every node runs on ORT's CPU provider: no other provider is registered in the threads. */
  execution(): ExecutionReport {
    return { device: 'cpu', providers: [PROVIDER_NAMES.cpu] }
  }
  /** The threads (diagnostics and tests). */
  get threads(): readonly Worker[] {
    return this.slots.map((s) => s.worker)
  }

  private spawn(replacing?: Slot): Promise<GraphInfo> {
    const worker = new Worker(threadEntry(), { workerData: this.init })
    const slot: Slot = { worker, ready: false }
    if (replacing) this.slots[this.slots.indexOf(replacing)] = slot
    else this.slots.push(slot)
    return new Promise((resolve, reject) => {
      worker.on('message', (m: ThreadReply) => {
        if ('type' in m) {
          if (m.type === 'ready') {
            slot.ready = true
            worker.unref()
            resolve(m.graph)
            this.pump()
          } else failToStart(new EngineError('MODEL_CONTRACT_MISMATCH', 'onnxruntime could not load the model (corrupt or unsupported ONNX)', { source: this.modelPath, cause: new Error(m.message) }))
          return
        }
        const job = slot.busy
        if (!job || job.id !== m.id) return
        slot.busy = undefined
        worker.unref()
        if ('error' in m) job.part.reject(new EngineError('INFERENCE_FAILED', 'onnxruntime failed while running the model on this batch', { source: this.modelPath, cause: new Error(m.error) }))
        else job.part.resolve(m.outputs)
        this.pump()
      })
      // a thread that never became ready leaves the pool at once, so no part is queued for it
      const failToStart = (err: EngineError): void => {
        const i = this.slots.indexOf(slot)
        if (i >= 0) this.slots.splice(i, 1)
        reject(err)
      }
      const died = (cause: unknown): void => {
        if (!this.slots.includes(slot)) return
        const err = new EngineError('INFERENCE_FAILED', 'an inference thread ended during the run', { source: this.modelPath, cause })
        if (!slot.ready) return failToStart(err)
        slot.busy?.part.reject(err)
        slot.busy = undefined
        if (this.released) return
        // the session stays usable: a fresh thread takes the dead one's place
        this.spawn(slot).catch((e) => {
          // the other threads serve the queue; with none left nothing ever would
          if (!this.slots.length) for (const p of this.queue.splice(0)) p.reject(e)
        })
      }
      worker.on('error', died)
      worker.on('exit', (code) => died(new Error(`the thread exited with code ${code}`)))
    })
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (!this.queue.length) return
      if (!slot.ready || slot.busy) continue
      const part = this.queue.shift()!
      const id = this.nextId++
      slot.busy = { id, part }
      slot.worker.ref()
      slot.worker.postMessage({ id, feeds: part.feeds } satisfies ThreadRequest, part.transfer)
    }
  }

  private submit(feeds: Record<string, TensorData>, transfer: ArrayBuffer[]): Promise<Record<string, TensorData>> {
    if (this.released) return Promise.reject(new EngineError('INFERENCE_FAILED', 'the model session was released', { source: this.modelPath }))
    // every thread died and none could be started again: nothing would ever take the part
    if (!this.slots.length) return Promise.reject(new EngineError('INFERENCE_FAILED', 'no inference thread is running: the model could not be loaded again', { source: this.modelPath }))
    return new Promise((resolve, reject) => {
      this.queue.push({ feeds, transfer, resolve, reject })
      this.pump()
    })
  }

  /**
   * Runs the model on a batch: every input's first axis is the batch, split into up to one part
   * per thread. The inputs are copied (the caller keeps its arrays); outputs are joined in order.
   */
  async run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
    const names = Object.keys(feeds)
    const B = feeds[names[0]]?.dims[0] ?? 0
    if (names.some((n) => feeds[n].dims[0] !== B)) throw new RangeError('every input of a batched run needs the same first (batch) dimension')
    const k = Math.max(1, Math.min(this.slots.length, B))
    const parts: Promise<Record<string, TensorData>>[] = []
    for (let p = 0, b0 = 0; p < k; p++) {
      const n = Math.floor(B / k) + (p < B % k ? 1 : 0)
      const sub: Record<string, TensorData> = {}
      const transfer: ArrayBuffer[] = []
      for (const name of names) {
        const f = feeds[name]
        const per = B > 0 ? f.data.length / B : 0
        const data = f.data.slice(b0 * per, (b0 + n) * per)
        sub[name] = { type: f.type, data, dims: [n, ...f.dims.slice(1)] }
        transfer.push(data.buffer as ArrayBuffer)
      }
      parts.push(this.submit(sub, transfer))
      b0 += n
    }
    const results = await Promise.all(parts)
    if (results.length === 1) return results[0]
    const joined: Record<string, TensorData> = {}
    for (const name of Object.keys(results[0])) {
      const first = results[0][name]
      const total = results.reduce((s, r) => s + r[name].data.length, 0)
      const data = first.data instanceof BigInt64Array ? new BigInt64Array(total) : new Float32Array(total)
      let at = 0
      for (const r of results) {
        ;(data as Float32Array).set(r[name].data as Float32Array, at)
        at += r[name].data.length
      }
      joined[name] = { type: first.type, data, dims: [results.reduce((s, r) => s + r[name].dims[0], 0), ...first.dims.slice(1)] }
    }
    return joined
  }

  /**
   * Fails queued and running parts with a typed error and ends the threads. A thread busy in a
   * native run ends when that run returns (its result is dropped).
   */
  async release(): Promise<void> {
    this.released = true
    for (const p of this.queue.splice(0)) p.reject(new EngineError('INFERENCE_FAILED', 'the model session was released', { source: this.modelPath }))
    const slots = this.slots.splice(0)
    for (const s of slots) s.busy?.part.reject(new EngineError('INFERENCE_FAILED', 'the model session was released during the run', { source: this.modelPath }))
    await Promise.all(
      slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.worker.once('exit', () => resolve())
            // idle threads are unref'd; waiting for their exit must keep the process alive
            s.worker.ref()
            s.worker.postMessage({ type: 'exit', code: 0 } satisfies ThreadRequest)
          }),
      ),
    )
  }
}
