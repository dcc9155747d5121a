/**
 * Sets a model card's anomaly threshold (metrics.anomaly_threshold) from healthy tissue: the given
 * percentile of the anomaly heatmap over tumour-free brain voxels of TRAINING patients (no healthy
 * FLAIR set exists here; tumour labels dilated by 3 voxels are excluded), computed by the same
 * pipeline that uses the threshold. Validation patients are never touched.
 *
 *   npx tsx scripts/calibrate-anomaly.ts --data ../shared/data [--model brain-flair] [--slices 24] [--percentile 99]
 */
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadVolumes } from '../src/io/load.js'
import { runTask } from '../src/pipelines/index.js'
import { percentileOf } from '../src/pipelines/volume-ops.js'
import { createVolume, toFloat32, type Vec3 } from '../src/volume/index.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const arg = (k: string, d?: string): string => {
  const i = process.argv.indexOf(k)
  if (i < 0) {
    if (d === undefined) throw new Error(`${k} is required`)
    return d
  }
  return process.argv[i + 1]
}
const data = path.resolve(arg('--data'))
const model = arg('--model', 'brain-flair')
const nk = Number(arg('--slices', '24'))
const pct = Number(arg('--percentile', '99'))
const cardPath = path.join(root, 'models', `${model}.json`)
const dir = path.join(data, 'lesion/brats2013')
const split = readFileSync(path.join(dir, 'splits.txt'), 'utf8').trim().split(/\r?\n/).map((l) => l.trim().split(/\s+/))
const train = split.filter((s) => s[1] === 'train').map((s) => s[0])

/** 6-connected binary dilation, `it` times. */
function dilate(m: Uint8Array, [nx, ny, nz]: Vec3, it: number): Uint8Array {
  let cur = m
  for (let r = 0; r < it; r++) {
    const next = Uint8Array.from(cur)
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++) {
          const o = (k * ny + j) * nx + i
          if (!cur[o]) continue
          if (i > 0) next[o - 1] = 1
          if (i < nx - 1) next[o + 1] = 1
          if (j > 0) next[o - nx] = 1
          if (j < ny - 1) next[o + nx] = 1
          if (k > 0) next[o - nx * ny] = 1
          if (k < nz - 1) next[o + nx * ny] = 1
        }
    cur = next
  }
  return cur
}

const slab = (x: Float32Array, size: Vec3, k0: number): Float32Array => x.slice(k0 * size[0] * size[1], (k0 + nk) * size[0] * size[1])
const values: number[] = []
for (const p of train) {
  const load = async (f: string) => (await loadVolumes([path.join(dir, p, f)]))[0].volume
  const flair = await load('Flair_subtrMeanDivStd.nii.gz')
  const size = flair.size
  const k0 = Math.floor(size[2] / 2) - Math.floor(nk / 2)
  const sub: Vec3 = [size[0], size[1], nk]
  const brain = Uint8Array.from(slab(toFloat32(await load('brainmask.nii.gz')), size, k0), (v) => (v > 0 ? 1 : 0))
  const tumour = dilate(Uint8Array.from(slab(toFloat32(await load('OTMultiClass.nii.gz')), size, k0), (v) => (v > 0 ? 1 : 0)), sub, 3)
  const vol = createVolume({ data: slab(toFloat32(flair), size, k0), size: sub, spacing: flair.spacing, origin: flair.origin, direction: flair.direction, modality: 'MR' })
  const t0 = performance.now()
  const r = await runTask('anomaly', vol, { model, seed: 0, mask: createVolume({ data: brain, size: sub }) }, {})
  const heat = r.outputs.find((o) => o.role === 'heatmap')!.volume.data as Float32Array
  let n = 0
  for (let i = 0; i < heat.length; i++) if (brain[i] && !tumour[i]) (values.push(heat[i]), n++)
  process.stderr.write(`${p}: ${n} healthy brain voxels, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`)
}
const threshold = percentileOf(Float32Array.from(values), pct)
const card = JSON.parse(readFileSync(cardPath, 'utf8'))
card.metrics = {
  ...card.metrics,
  anomaly_threshold: Number(threshold.toPrecision(4)),
  anomaly_threshold_note: `${pct}th percentile of the heatmap over ${values.length} tumour-free brain voxels (tumour labels dilated 3 voxels excluded) of the ${nk} central slices of the training patients ${train.join(', ')}: no healthy FLAIR exists here, and these patients were seen in training, so healthy residuals may be lower than on new scans (threshold biased low). scripts/calibrate-anomaly.ts`,
}
writeFileSync(cardPath, JSON.stringify(card, null, 2) + '\n')
console.log(JSON.stringify({ model, threshold, voxels: values.length, percentile: pct }))
