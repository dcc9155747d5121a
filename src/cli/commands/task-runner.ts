import { createDeidentifier } from '../../io/writers/deidentify.js'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { EngineError, defaultModelsDir, type Device } from '../../engine/index.js'
import { isRaddiffError } from '../../io/errors.js'
import { writeBytesAtomically } from '../../io/atomic-write.js'
import { openInputs, type SeriesHandle } from '../../io/load.js'
import { outputKindOf, withSuffix, writeVolume } from '../../io/write.js'
import { runTask } from '../../pipelines/index.js'
import type { OutputRole, Provenance, TaskName, TaskParams, TaskResult } from '../../pipelines/task.js'
import { NOT_FOR_CLINICAL_USE, RADDIFF_VERSION } from '../../version.js'
import { EXIT } from '../exit-codes.js'
import { formatProblem, isFailure, type Reporter } from '../report.js'

/** Options shared by the four task commands, as commander hands them over (strings). */
export interface TaskCliOptions {
  output: string
  model?: string
  steps?: string
  seed?: string
  samples?: string
  device?: string
  scale?: string
  axes?: string
  mode?: string
  depth?: string
  noise?: string
  polarity?: string
  method?: string
  format?: string
  deidentify?: boolean
  modelsDir?: string
  json?: boolean
  resume?: boolean
  shard?: string
}

class UsageError extends Error {}

const PRIMARY: Record<TaskName, OutputRole[]> = {
  denoise: ['denoised'],
  superres: ['superres'],
  translate: ['synthct'],
  anomaly: ['healed', 'heatmap', 'mask'],
}

function int(v: string | undefined, name: string, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) throw new UsageError(`--${name} must be an integer from ${lo} to ${hi}`)
  return Number(v)
}

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

export function taskParams(task: TaskName, o: TaskCliOptions): TaskParams {
  const p: TaskParams = {}
  if (o.model) p.model = o.model
  p.steps = int(o.steps, 'steps', 1, 1000)
  p.seed = int(o.seed, 'seed', 0, 2 ** 31 - 1)
  p.samples = int(o.samples, 'samples', 1, 64)
  p.device = oneOf<Device>(o.device, 'device', ['auto', 'cpu', 'cuda', 'webgpu'])
  p.mode = oneOf(o.mode, 'mode', ['sample', 'mean'] as const)
  if (task === 'superres') {
    p.scale = int(o.scale ?? '2', 'scale', 2, 4)
    p.axes = oneOf(o.axes, 'axes', ['inplane', 'through', 'all'] as const)
  }
  if (task === 'anomaly') {
    p.noise = oneOf(o.noise, 'noise', ['gaussian', 'simplex'] as const)
    p.polarity = oneOf(o.polarity, 'polarity', ['bright', 'dark', 'both'] as const)
    p.method = oneOf(o.method, 'method', ['diffusion', 'intensity', 'combined'] as const)
  }
  p.depth = int(o.depth, 'depth', 1, 999)
  for (const k of Object.keys(p) as (keyof TaskParams)[]) if (p[k] === undefined) delete p[k]
  return p
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

function describeError(e: unknown): { code: string; message: string } {
  if (isRaddiffError(e)) return { code: e.code, message: e.message }
  if (e instanceof EngineError) return { code: e.code, message: e.message }
  if (e instanceof RangeError) return { code: 'INVALID_INPUT', message: e.message }
  return { code: 'INTERNAL', message: 'unexpected internal error (set RADDIFF_DEBUG=1 for details)' }
}

/** The notice comes first: NIfTI's descrip keeps only 79 characters (DICOM gets the full sha256). */
function descriptionOf(p: Provenance, format: 'nifti' | 'dicom'): string {
  const sha = format === 'dicom' ? p.model.sha256 : p.model.sha256.slice(0, 8)
  return `${NOT_FOR_CLINICAL_USE} raddiff ${p.raddiffVersion} ${p.task} ${p.model.name} ${p.model.version} sha256:${sha} steps ${p.steps} seed ${p.seed} K ${p.samples}`
}

const SETUP_CODES = new Set(['MODEL_NOT_FOUND', 'MODEL_HASH_MISMATCH', 'MODEL_CONTRACT_MISMATCH', 'DEVICE_UNAVAILABLE'])

/**
 * The batch loop behind `raddiff denoise|superres|translate|anomaly`. Exit codes: 0 every series
 * done (or already done with --resume), 2 usage or setup (bad option, no model for the task,
 * device unavailable), 3 no usable input, 4 some series or inputs failed.
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
    const kind = outputKindOf(o.output)
    if (kind === 'png') throw new UsageError('a task output cannot be a PNG: use .nii.gz, .nii, .nrrd, .mha or a folder')
    folderMode = kind === 'dicom' || format === 'dicom'
    if (o.deidentify && format !== 'dicom' && kind !== 'dicom') throw new UsageError('--deidentify applies to DICOM outputs: add --format dicom')
  } catch (e) {
    const msg = e instanceof UsageError || isRaddiffError(e) ? e.message : String(e)
    r.err(`raddiff ${task}: ${msg}`)
    return EXIT.USAGE
  }
  const modelsDir = o.modelsDir ?? defaultModelsDir()
  const opened = await openInputs(inputs)
  const results: Record<string, unknown>[] = []
  const models = new Map<string, Provenance['model']>()
  let failures = 0
  let setupFailures = 0
  try {
    for (const p of opened.problems) {
      if (r.json) r.out(JSON.stringify({ ok: false, source: p.name, error: p.error.toJSON() }))
      else r.err(formatProblem(p.name, p.error))
    }
    const all = opened.series
    if (all.length === 0) return EXIT.NO_USABLE_INPUT
    const mine: [number, SeriesHandle][] = [...all.entries()].filter(([i]) => !shard || i % shard.n === shard.i - 1)
    const stems = new Map<string, number>()
    const primary = PRIMARY[task][0]
    // The intensity anomaly score heals nothing (no healed or std output); the method may come from
    // the card, so --resume checks only what every method writes (healed, when written, comes first).
    const roles: OutputRole[] = task === 'anomaly' ? ['heatmap', 'mask'] : [...PRIMARY[task], ...((params.samples ?? 1) > 1 ? (['std'] as OutputRole[]) : [])]
    for (const [idx, s] of mine) {
      let stem = stemOf(s.summary.source)
      if (s.summary.seriesNumber !== undefined && s.summary.format === 'dicom') stem += `_ser${s.summary.seriesNumber}`
      const seen = stems.get(stem) ?? 0
      stems.set(stem, seen + 1)
      if (seen > 0) stem += `_${seen + 1}`
      const target = !folderMode && all.length > 1 ? withSuffix(o.output, `_s${idx + 1}`) : o.output
      const paths = roles.map((role) => outputPathFor(target, folderMode, stem, role, primary, format))
      const sidecars = format === 'dicom' ? [] : paths.map(sidecarFor)
      if (o.resume && [...paths, ...sidecars].every((p) => existsSync(p))) {
        const line = { ok: true, source: s.summary.source, skipped: true, outputs: paths }
        results.push(line)
        if (r.json) r.out(JSON.stringify(line))
        else r.err(`skipped ${s.summary.source} (outputs exist)`)
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
          const w = await writeVolume(out.volume, file, { description: desc, seriesDescription: `raddiff ${task} ${out.role} - ${NOT_FOR_CLINICAL_USE}`, deidentify: deid })
          written.push(w)
          if (format !== 'dicom') {
            const side = { role: out.role, label: out.label, source: s.summary.source, provenance: res.provenance, report: res.report }
            await writeBytesAtomically(sidecarFor(w), new TextEncoder().encode(JSON.stringify(side, null, 2) + '\n'))
          }
        }
        const seconds = (performance.now() - t0) / 1000
        const line = { ok: true, source: s.summary.source, outputs: written, model: res.provenance.model, steps: res.provenance.steps, seed: res.provenance.seed, samples: res.provenance.samples, device: res.provenance.device, report: res.report, seconds }
        results.push(line)
        if (r.json) r.out(JSON.stringify(line))
        else r.err(`wrote ${written.join(', ')}  (${s.summary.source}, ${seconds.toFixed(1)} s)`)
      } catch (e) {
        failures++
        const { code, message } = describeError(e)
        if (SETUP_CODES.has(code)) setupFailures++
        if (process.env.RADDIFF_DEBUG) r.err(String((e as Error)?.stack ?? e))
        const line = { ok: false, source: s.summary.source, error: { code, message } }
        results.push(line)
        if (r.json) r.out(JSON.stringify(line))
        else r.err(`raddiff ${task}: ${s.summary.source}: ${message} [${code}]`)
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
    if (mine.length > 0 && failures === mine.length) return setupFailures === failures ? EXIT.USAGE : EXIT.NO_USABLE_INPUT
    return failures > 0 || opened.problems.some(isFailure) ? EXIT.PARTIAL_FAILURE : EXIT.OK
  } finally {
    await opened.cleanup()
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
