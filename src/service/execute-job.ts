import { mkdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { throwIfAborted } from '../engine/errors.js'
import { IoError } from '../io/errors.js'
import { openInputs } from '../io/load.js'
import { writeNifti } from '../io/writers/write-nifti.js'
import { FLOAT_ROLES } from '../pipelines/task-outputs.js'
import type { TaskContext, TaskName, TaskParams, TaskProgress, TaskResult } from '../pipelines/task.js'
import { NOT_FOR_CLINICAL_USE } from '../version.js'
import type { Volume } from '../volume/volume.js'
import { writeSourceHeader } from './source-header.js'

export type RunTaskFn = (task: TaskName, volume: Volume, params: TaskParams, ctx: TaskContext) => Promise<TaskResult>

/** Everything a worker needs to run one job; plain data so it crosses the IPC channel. */
export interface JobSpec {
  id: string
  task: TaskName
  params: TaskParams
  uploadDir: string
  seriesIndex: number
  /** The size recorded at upload: a guard against the folder's series order having changed. */
  expectSize: [number, number, number]
  outDir: string
  tmpDir: string
  modelsDir: string
}

export interface JobOutputFile {
  role: string
  label: string
  /** Absolute path, already renamed into place. */
  file: string
  bytes: number
}

export interface JobDone {
  outputs: JobOutputFile[]
  provenance: unknown
  report: unknown
}

/** Output file name for a role; the role comes from the task contract, never from a user. */
export const outputFileName = (role: string): string => `${role}.nii.gz`

/**
 * Load the scan's series, run the task, write each output as NIfTI (atomically). Progress runs
 * 0–0.05 loading, 0.05–0.95 the task, then writing. The same code runs in a forked worker and,
 * for tests, in-process.
 */
export async function executeJob(spec: JobSpec, runTask: RunTaskFn, signal: AbortSignal, onProgress: (p: TaskProgress) => void): Promise<JobDone> {
  onProgress({ stage: 'loading', fraction: 0 })
  const opened = await openInputs([spec.uploadDir], { tmpDir: spec.tmpDir })
  let volume: Volume
  try {
    const handle = opened.series[spec.seriesIndex]
    if (!handle || handle.summary.size.some((n, i) => n !== spec.expectSize[i])) {
      throw new IoError('NO_USABLE_INPUT', 'the stored scan no longer matches its record; upload it again')
    }
    volume = await handle.load()
  } finally {
    await opened.cleanup()
  }
  throwIfAborted(signal)
  onProgress({ stage: 'running', fraction: 0.05 })
  const result = await runTask(spec.task, volume, spec.params, {
    modelsDir: spec.modelsDir,
    signal,
    onProgress: (p) => onProgress({ ...p, fraction: Math.round((0.05 + 0.9 * Math.min(1, Math.max(0, p.fraction))) * 1e4) / 1e4 }),
  })
  throwIfAborted(signal)
  onProgress({ stage: 'writing', fraction: 0.95 })
  await mkdir(spec.outDir, { recursive: true })
  const p = result.provenance
  const description = p ? `raddiff ${p.raddiffVersion} ${p.task} ${p.model?.name} ${p.model?.version}; ${NOT_FOR_CLINICAL_USE}` : NOT_FOR_CLINICAL_USE
  const outputs: JobOutputFile[] = []
  for (const o of result.outputs) {
    const file = path.join(spec.outDir, outputFileName(o.role))
    await writeNifti(o.volume, file, { dtype: FLOAT_ROLES.has(o.role) ? 'float32' : 'auto', description }).catch((e: unknown) => {
      // A full disk is the operator's problem, not a bug: say so with a stable code.
      const code = (e as { code?: string; cause?: { code?: string } })?.code
      const cause = (e as { cause?: { code?: string } })?.cause?.code
      if ([code, cause].some((c) => c === 'ENOSPC' || c === 'EDQUOT')) {
        throw new IoError('WRITE_FAILED', 'the server ran out of disk space while writing the results', { cause: e })
      }
      throw e
    })
    outputs.push({ role: o.role, label: o.label, file, bytes: (await stat(file)).size })
  }
  await writeSourceHeader(spec.outDir, { dicom: volume.meta.dicom, modality: Object.fromEntries(result.outputs.map((o) => [o.role, o.volume.modality])) })
  onProgress({ stage: 'done', fraction: 1 })
  return { outputs, provenance: result.provenance, report: result.report }
}
