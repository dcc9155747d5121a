import type { TaskProgress } from '../pipelines/task.js'
import type { JobDone, JobSpec } from './execute-job.js'

/** Parent → worker. */
export type ToWorker = { type: 'run'; job: JobSpec } | { type: 'cancel'; id: string }

/** Worker → parent. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; id: string; progress: TaskProgress }
  | ({ type: 'done'; id: string } & JobDone)
  | { type: 'failed'; id: string; code: string; message: string }
  | { type: 'cancelled'; id: string }
