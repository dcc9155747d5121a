/**
 * `tsx bench/tasks.ts --data ../shared/data [--reps 2] [--tasks denoise,superres,translate,clinical]`
 * Seconds per volume of each task's DEFAULT run (what `raddiff TASK IN -o OUT` does, minus file I/O),
 * on a held-out IXI T1 (120×120×90, 2 mm) and, for `clinical`, the 512×512×30 contrast T1 series in
 * dicom/mr_series_vs_seg. Prints each model's GFLOP per 128² slice (from its card) beside the time,
 * and the best of --reps runs (the first run also pays the model load; a shared machine adds noise).
 */
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { releaseSessions } from '../src/engine/index.js'
import { loadVolumes } from '../src/io/load.js'
import { runTask } from '../src/pipelines/index.js'
import type { TaskName, TaskParams } from '../src/pipelines/task.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : dflt
}
const data = opt('--data', path.join(root, '..', 'shared', 'data'))
const reps = Math.max(1, Number(opt('--reps', '2')))
const tasks = opt('--tasks', 'denoise,superres,translate,clinical').split(',')
if (!existsSync(data)) throw new Error(`--data ${data} not found`)

const val = readFileSync(path.join(data, 'mri/ixi-t1/participants.csv'), 'utf8').trim().split(/\r?\n/).slice(1).map((l) => l.split(',')).find((c) => c[3] === 'val')![0]
const [{ volume: ixi }] = await loadVolumes([path.join(data, 'mri/ixi-t1', `${val}_T1.nii.gz`)])

const runs: [string, TaskName, TaskParams, typeof ixi][] = []
// --ensemble off beside each default: the self-ensemble's cost, side by side in one run
if (tasks.includes('denoise')) runs.push(['denoise (default)', 'denoise', {}, ixi], ['denoise --ensemble off', 'denoise', { ensemble: 'off' }, ixi])
if (tasks.includes('superres')) runs.push(['superres ×2 (default)', 'superres', { scale: 2 }, ixi], ['superres ×2 --ensemble off', 'superres', { scale: 2, ensemble: 'off' }, ixi])
if (tasks.includes('translate')) runs.push(['translate (default)', 'translate', {}, ixi])
if (tasks.includes('clinical')) {
  const dir = path.join(data, 'dicom/mr_series_vs_seg')
  if (existsSync(dir)) {
    const [{ volume }] = await loadVolumes([dir])
    runs.push([`denoise (default), clinical ${volume.size.join('×')}`, 'denoise', {}, volume])
  }
}

console.log(`bench:tasks — ${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} cores; IXI ${val} ${ixi.size.join('×')}; best of ${reps}`)
console.log('| run | model | GFLOP / 128² slice | steps | views | seconds (best) | seconds (all) |')
console.log('|---|---|---|---|---|---|---|')
for (const [label, task, params, vol] of runs) {
  const secs: number[] = []
  let model = ''
  let gflop = ''
  let steps = 0
  let views = 1
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now()
    const res = await runTask(task, vol, params, {})
    secs.push((performance.now() - t0) / 1000)
    model = `${res.provenance.model.name} ${res.provenance.model.version}`
    steps = res.provenance.steps
    views = (res.report.views as string[] | undefined)?.length ?? 1
    const card = JSON.parse(readFileSync(path.join(root, 'models', `${res.provenance.model.name}.json`), 'utf8'))
    gflop = card.gflop_per_128_slice !== undefined ? String(card.gflop_per_128_slice) : '–'
  }
  console.log(`| ${label} | ${model} | ${gflop} | ${steps} | ${views} | ${Math.min(...secs).toFixed(1)} | ${secs.map((s) => s.toFixed(1)).join(', ')} |`)
}
await releaseSessions()
