/**
 * npm run bench:anomaly -- [--data ../shared/data] [--methods intensity,combined] [--passes 1]
 *
 * Seconds per 240×240×155 FLAIR for `raddiff anomaly` with the card's defaults and each method
 * (issue 14's target: ≤ 120 s on 2 cores). The volume is a BraTS 2018 validation FLAIR when the
 * shared data is there, else a synthetic 240×240×155 head-sized ellipsoid with a bright blob.
 * Prints one line per pass and the median; run it on an otherwise idle machine.
 */
import { existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { releaseSessions } from '../src/engine/index.js'
import { loadVolumes } from '../src/io/load.js'
import { runTask } from '../src/pipelines/index.js'
import type { AnomalyMethod } from '../src/pipelines/anomaly-settings.js'
import { createVolume, type Volume } from '../src/volume/index.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const arg = (k: string, d: string): string => {
  const i = process.argv.indexOf(k)
  return i < 0 ? d : process.argv[i + 1]
}
const data = path.resolve(arg('--data', path.join(root, '../shared/data')))
const methods = arg('--methods', 'intensity,combined').split(',') as AnomalyMethod[]
const passes = Number(arg('--passes', '1'))

async function volume(): Promise<{ v: Volume; what: string }> {
  const f = path.join(data, 'lesion/brats2018/Brats18_TCIA01_499_1/Brats18_TCIA01_499_1_flair.nii.gz')
  if (existsSync(f)) return { v: (await loadVolumes([f]))[0].volume, what: 'BraTS 2018 TCIA01_499 FLAIR' }
  const [nx, ny, nz] = [240, 240, 155]
  const d = new Float32Array(nx * ny * nz)
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const r = ((i - 120) / 70) ** 2 + ((j - 120) / 85) ** 2 + ((k - 77) / 65) ** 2
        const blob = ((i - 150) / 15) ** 2 + ((j - 110) / 15) ** 2 + ((k - 80) / 12) ** 2
        d[(k * ny + j) * nx + i] = r < 1 ? (blob < 1 ? 900 : 400 + 40 * Math.sin(i / 3) * Math.cos(j / 4)) : 0
      }
  return { v: createVolume({ data: d, size: [nx, ny, nz], spacing: [1, 1, 1], modality: 'MR' }), what: 'synthetic 240×240×155 ellipsoid' }
}

const { v, what } = await volume()
console.log(`bench:anomaly — ${what}, ${v.size.join('×')}; ${os.cpus().length} CPU cores (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg()[0].toFixed(1)}`)
for (const method of methods) {
  const secs: number[] = []
  let line = ''
  for (let p = 0; p < passes; p++) {
    const t0 = performance.now()
    const r = await runTask('anomaly', v, { model: 'brain-flair', method }, { modelsDir: path.join(root, 'models') })
    secs.push((performance.now() - t0) / 1000)
    line = `steps ${r.report.steps}, K = ${r.provenance.samples}${r.report.depth ? `, depth ${r.report.depth}` : ''}`
    console.log(`  ${method} pass ${p + 1}: ${secs[p].toFixed(1)} s`)
  }
  secs.sort((a, b) => a - b)
  console.log(`${method}: median ${secs[Math.floor(secs.length / 2)].toFixed(1)} s over ${passes} pass(es) (${line}); target ≤ 120 s`)
}
await releaseSessions()
