import { pathToFileURL } from 'node:url'
import { EngineError } from '../engine/errors.js'
import { executeJob, type RunTaskFn } from './execute-job.js'
import { jobFailure } from './errors.js'
import type { FromWorker, ToWorker } from './worker-protocol.js'

/**
 * A forked inference worker: runs one job at a time with the task module's runTask, keeping its
 * ORT sessions (one per model) between jobs. It dies with its parent: a kill -9 of the server
 * closes the IPC channel and the worker exits instead of finishing an orphaned job.
 */
const send = (m: FromWorker): void => void process.send?.(m)

async function loadRunTask(): Promise<RunTaskFn> {
  const spec = process.env.RADDIFF_TASK_MODULE
  const mod = spec ? await import(spec.startsWith('file:') ? spec : pathToFileURL(spec).href) : await import('../pipelines/index.js')
  return mod.runTask as RunTaskFn
}

const runTask = await loadRunTask()
const running = new Map<string, AbortController>()

process.on('disconnect', () => process.exit(1))
process.on('message', (m: ToWorker) => {
  if (m.type === 'cancel') {
    running.get(m.id)?.abort()
    return
  }
  const ac = new AbortController()
  running.set(m.job.id, ac)
  let last = 0
  executeJob(m.job, runTask, ac.signal, (progress) => {
    // Sampling loops report every step; the parent needs a few updates a second at most.
    const t = Date.now()
    if (t - last < 100 && progress.fraction < 1) return
    last = t
    send({ type: 'progress', id: m.job.id, progress })
  })
    .then((done) => send({ type: 'done', id: m.job.id, ...done }))
    .catch((e) => {
      if (ac.signal.aborted || (e instanceof EngineError && e.code === 'CANCELLED')) send({ type: 'cancelled', id: m.job.id })
      else send({ type: 'failed', id: m.job.id, ...jobFailure(e) })
    })
    .finally(() => running.delete(m.job.id))
})
send({ type: 'ready' })
