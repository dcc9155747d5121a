import { createDeidentifier } from '../../io/writers/deidentify.js'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { defaultModelsDir } from '../../engine/index.js'
import { isIoError } from '../../io/errors.js'
import { writeBytesAtomically } from '../../io/atomic-write.js'
import { openInputs, type SeriesHandle } from '../../io/load.js'
import { outputKindOf, withSuffix, writeVolume } from '../../io/write.js'
import { describeTaskFailure, runTask } from '../../pipelines/index.js'
import { outputRoles } from '../../pipelines/task-outputs.js'
import type { OutputRole, Provenance, TaskName, TaskParams, TaskResult } from '../../pipelines/task.js'
import { NOT_FOR_CLINICAL_USE, RADDIFF_VERSION } from '../../version.js'
import { connectionFromEnv, DicomwebClient, isDicomwebError, parseDicomwebUrl, pushFolders, type DicomwebTarget } from '../../dicomweb/index.js'
import { EXIT } from '../exit-codes.js'
import { resolveRemoteInputs } from './dicomweb-inputs.js'
import { formatProblem, isFailure, type Reporter } from '../report.js'
import { taskParams, UsageError } from './task-options.js'

/**
 * Options of the four task commands, as commander hands them over (strings). The task's own
 * parameters (--steps, --scale, …) come from its schema: task-options.ts.
 */
export interface TaskCliOptions extends Record<string, unknown> {
  output: string
  format?: string
  deidentify?: boolean
  modelsDir?: string
  json?: boolean
  resume?: boolean
  shard?: string
  /** `--push [url]`: STOW-RS the DICOM outputs (true: to the server the input came from). */
  push?: string | boolean
}

/** Which DICOM object each output role becomes: masks a SEG, float maps a Parametric Map. */
const DICOM_OBJECT: Partial<Record<OutputRole, 'seg' | 'pmap'>> = { mask: 'seg', heatmap: 'pmap', std: 'pmap' }

function oneOf<T extends string>(v: string | undefined, name: string, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined
  if (!allowed.includes(v as T)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`)
  return v as T
}

/** `--shard i/n` (1-based i): keeps the series whose index in input order satisfies index % n == i−1. */
export function parseShard(s: string | undefined): { i: number; n: number } | undefined {
  if (s === undefined) return undefined
  const m = /^(\d+)\/(\d+)$/.exec(s)
  if (!m || Number(m[2]) < 1 || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) throw new UsageError('--shard must be i/n with 1 ≤ i ≤ n, e.g. 2/4')
  return { i: Number(m[1]), n: Number(m[2]) }
}

/** A file-system-safe stem from a series' source name (path, archive!entry, DICOM folder). */
export function stemOf(source: string): string {
  const last = source.split(/[!/\\]/).filter(Boolean).pop() ?? 'series'
  const bare = last.replace(/(\.nii\.gz|\.nii|\.nrrd|\.mha|\.mhd|\.mgz|\.mgh|\.dcm|\.zip|\.ima)$/i, '')
  return bare.replace(/[^A-Za-z0-9.-]+/g, '_').replace(/^[._]+/, '').slice(0, 80) || 'series'
}

/** Output path for one role: in a folder by naming rule, or the file named by -o (+ `_desc-role`). */
export function outputPathFor(out: string, folderMode: boolean, stem: string, role: OutputRole, primary: OutputRole, format: 'nifti' | 'dicom'): string {
  if (folderMode) return path.join(out, `${stem}_desc-${role}${format === 'dicom' ? '' : '.nii.gz'}`)
  return role === primary ? out : withSuffix(out, `_desc-${role}`)
}

function sidecarFor(file: string): string {
  return file.replace(/(\.nii\.gz|\.nii|\.nrrd|\.mha|\.png)$/i, '') + '.json'
}

/** The notice comes first: NIfTI's descrip keeps only 79 characters (DICOM gets the full sha256). */
function descriptionOf(p: Provenance, format: 'nifti' | 'dicom'): string {
  const sha = format === 'dicom' ? p.model.sha256 : p.model.sha256.slice(0, 8)
  return `${NOT_FOR_CLINICAL_USE} raddiff ${p.raddiffVersion} ${p.task} ${p.model.name} ${p.model.version} sha256:${sha} steps ${p.steps} seed ${p.seed} K ${p.samples}`
}

/**
 * The batch loop behind `raddiff denoise|superres|translate|anomaly`. Exit codes: 0 every series
 * done (or already done with --resume), 1 every series failed and one of them by an internal error
 * (a bug, out of memory), 2 usage or setup (bad option, no model for the task, device
 * unavailable), 3 no usable input, 4 some series or inputs failed.
 */
export async function runTaskCommand(task: TaskName, inputs: string[], o: TaskCliOptions, r: Reporter, argv: string[] = []): Promise<number> {
  const started = new Date()
  // One de-identifier per run: all outputs of all series get consistent replacement UIDs.
  const deid = o.deidentify ? createDeidentifier() : undefined
  let params: TaskParams
  let shard: { i: number; n: number } | undefined
  let format: 'nifti' | 'dicom'
  let folderMode: boolean
  try {
    params = taskParams(task, o)
    shard = parseShard(o.shard)
    format = oneOf(o.format, 'format', ['nifti', 'dicom'] as const) ?? 'nifti'
    // A push sends DICOM: it implies --format dicom.
    if (o.push !== undefined) {
      if (o.format === 'nifti') throw new UsageError('--push sends DICOM outputs: leave out --format nifti')
      format = 'dicom'
      if (typeof o.push === 'string') parseDicomwebUrl(o.push)
    }
    const kind = outputKindOf(o.output)
    if (kind === 'png') throw new UsageError('a task output cannot be a PNG: use .nii.gz, .nii, .nrrd, .mha or a folder')
    folderMode = kind === 'dicom' || format === 'dicom'
    if (o.deidentify && format !== 'dicom' && kind !== 'dicom') throw new UsageError('--deidentify applies to DICOM outputs: add --format dicom')
  } catch (e) {
    const msg = e instanceof UsageError || isIoError(e) || isDicomwebError(e) ? e.message : String(e)
    r.err(`raddiff ${task}: ${msg}`)
    return EXIT.USAGE
  }
  const modelsDir = o.modelsDir ?? defaultModelsDir()
  const conn = connectionFromEnv()
  const remote = await resolveRemoteInputs(inputs, conn)
  const opened = await openInputs(remote.inputs)
  const results: Record<string, unknown>[] = []
  const models = new Map<string, Provenance['model']>()
  let failures = 0
  let setupFailures = 0
  let internalFailures = 0
  let pushFailures = 0
  let pushTarget: DicomwebTarget | undefined
  try {
    for (const p of remote.problems) {
      if (r.json) r.out(JSON.stringify({ ok: false, source: p.name, error: p.error }))
      else r.err(`raddiff ${task}: ${p.name}: ${p.error.message} [${p.error.code}]`)
    }
    if (o.push !== undefined) {
      pushTarget = typeof o.push === 'string' ? parseDicomwebUrl(o.push) : remote.firstRemote
      if (!pushTarget) {
        r.err(`raddiff ${task}: --push without a URL needs a dicomweb+http(s):// input to push back to`)
        return EXIT.USAGE
      }
    }
    const client = pushTarget && new DicomwebClient(pushTarget.base, conn)
    /** STOW-RS of a series' output folders; the outcome goes into its result line. */
    const push = async (folders: string[]) => {
      if (!client) return undefined
      const rep = await pushFolders(client, folders)
      if (!rep.ok) pushFailures++
      for (const out of rep.outputs) {
        if (out.error && !r.json) r.err(`raddiff ${task}: push of ${out.folder} failed: ${out.error.message} [${out.error.code}]`)
      }
      return rep
    }
    for (const p of opened.problems) {
      if (r.json) r.out(JSON.stringify({ ok: false, source: p.name, error: p.error.toJSON() }))
      else r.err(formatProblem(p.name, p.error))
    }
    const all = opened.series
    if (all.length === 0) return EXIT.NO_USABLE_INPUT
    const mine: [number, SeriesHandle][] = [...all.entries()].filter(([i]) => !shard || i % shard.n === shard.i - 1)
    const stems = new Map<string, number>()
    // The intensity anomaly score heals nothing (no healed or std output); the method may come from
    // the card, so --resume checks only what every method writes.
    const roles = task === 'anomaly' ? (['heatmap', 'mask'] as OutputRole[]) : outputRoles(task, params.samples ?? 1)
    const primary = roles[0]
    for (const [idx, s] of mine) {
      const url = remote.urlOf(s.summary.source)
      const source = url ?? s.summary.source
      // A UID's dots would read as a file extension in an output name.
      let stem = url ? stemOf(url).replace(/\./g, '-') : stemOf(source)
      if (s.summary.seriesNumber !== undefined && s.summary.format === 'dicom') stem += `_ser${s.summary.seriesNumber}`
      const seen = stems.get(stem) ?? 0
      stems.set(stem, seen + 1)
      if (seen > 0) stem += `_${seen + 1}`
      const target = !folderMode && all.length > 1 ? withSuffix(o.output, `_s${idx + 1}`) : o.output
      const paths = roles.map((role) => outputPathFor(target, folderMode, stem, role, primary, format))
      const sidecars = format === 'dicom' ? [] : paths.map(sidecarFor)
      if (o.resume && [...paths, ...sidecars].every((p) => existsSync(p))) {
        // With --push a skipped series' outputs are pushed again: a failed push can be retried.
        const pushed = format === 'dicom' ? await push(paths) : undefined
        const line = { ok: true, source, skipped: true, outputs: paths, ...(pushed ? { pushed } : {}) }
        results.push(line)
        if (r.json) r.out(JSON.stringify(line))
        else r.err(`skipped ${source} (outputs exist)`)
        continue
      }
      const t0 = performance.now()
      try {
        const volume = await s.load()
        const bar = progressBar(r, `${task} ${stem}`)
        let res: TaskResult
        try {
          res = await runTask(task, volume, params, { modelsDir, onProgress: (p) => bar.update(p.fraction) })
        } finally {
          bar.done()
        }
        models.set(res.provenance.model.sha256, res.provenance.model)
        const written: string[] = []
        const desc = descriptionOf(res.provenance, format)
        for (const out of res.outputs) {
          const file = outputPathFor(target, folderMode, stem, out.role, primary, format)
          const w = await writeVolume(out.volume, file, {
            description: desc,
            seriesDescription: `raddiff ${task} ${out.role} - ${NOT_FOR_CLINICAL_USE}`,
            deidentify: deid,
            dicomObject: DICOM_OBJECT[out.role],
            mapLabel: out.role,
            mapExplanation: out.label,
          })
          written.push(w)
          if (format !== 'dicom') {
            const side = { role: out.role, label: out.label, source, provenance: res.provenance, report: res.report }
            await writeBytesAtomically(sidecarFor(w), new TextEncoder().encode(JSON.stringify(side, null, 2) + '\n'))
          }
        }
        const pushed = format === 'dicom' ? await push(written) : undefined
        const seconds = (performance.now() - t0) / 1000
        const line = { ok: true, source, outputs: written, ...(pushed ? { pushed } : {}), model: res.provenance.model, steps: res.provenance.steps, seed: res.provenance.seed, samples: res.provenance.samples, device: res.provenance.device, execution: res.provenance.execution, report: res.report, seconds }
        results.push(line)
        if (r.json) r.out(JSON.stringify(line))
        else r.err(`wrote ${written.join(', ')}${pushed?.ok ? ' and pushed them' : ''}  (${source}, ${seconds.toFixed(1)} s)`)
      } catch (e) {
        failures++
        const { kind, code, message } = describeTaskFailure(e)
        if (kind === 'setup') setupFailures++
        if (kind === 'internal') internalFailures++
        if (process.env.RADDIFF_DEBUG) r.err(String((e as Error)?.stack ?? e))
        const line = { ok: false, source, error: { code, message } }
        results.push(line)
        if (r.json) r.out(JSON.stringify(line))
        else r.err(`raddiff ${task}: ${source}: ${message} [${code}]`)
      }
    }
    {
      const run = {
        raddiff: RADDIFF_VERSION,
        notice: NOT_FOR_CLINICAL_USE,
        task,
        arguments: argv,
        inputs,
        params,
        shard: shard ? `${shard.i}/${shard.n}` : undefined,
        modelsDir: path.resolve(modelsDir),
        models: [...models.values()],
        started: started.toISOString(),
        finished: new Date().toISOString(),
        results,
      }
      // A folder gets OUT/run.json (run-shard{i}of{n}.json per shard, so machines sharing OUT do not
      // overwrite each other); a named file gets OUT-without-extension.run.json beside it.
      const runName = shard ? `run-shard${shard.i}of${shard.n}.json` : 'run.json'
      const runFile = folderMode ? path.join(o.output, runName) : sidecarFor(o.output).replace(/\.json$/, '.run.json')
      await writeBytesAtomically(runFile, new TextEncoder().encode(JSON.stringify(run, null, 2) + '\n'))
    }
    if (mine.length > 0 && failures === mine.length) return setupFailures === failures ? EXIT.USAGE : internalFailures > 0 ? EXIT.INTERNAL : EXIT.NO_USABLE_INPUT
    return failures > 0 || pushFailures > 0 || remote.problems.length > 0 || opened.problems.some(isFailure) ? EXIT.PARTIAL_FAILURE : EXIT.OK
  } finally {
    await opened.cleanup()
    await remote.cleanup()
  }
}

/** A one-line bar on stderr, only for people watching a terminal (never in logs or --json pipes). */
function progressBar(r: Reporter, label: string): { update(f: number): void; done(): void } {
  const tty = process.stderr.isTTY === true && !r.json
  let last = -1
  return {
    update(f) {
      if (!tty) return
      const pct = Math.floor(f * 100)
      if (pct === last) return
      last = pct
      const w = 30
      const fill = Math.round(f * w)
      process.stderr.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${pct}%`)
    },
    done() {
      if (tty && last >= 0) process.stderr.write('\n')
    },
  }
}
