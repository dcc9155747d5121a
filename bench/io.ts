/**
 * npm run bench:io — load time of the two real DICOM series in ../shared/data/dicom, raddiff's
 * loader beside itk-wasm's own series reader (GDCM) on the same files, measured in one run.
 */
import { readdirSync, existsSync } from 'node:fs'
import path from 'node:path'
import { readImageDicomFileSeriesNode } from '@itk-wasm/dicom'
import { loadVolumes } from '../src/io/load.js'

const dataRoot = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '../../shared/data'))
const cases = [
  { name: 'MR 512×512×30, implicit LE', dir: 'dicom/mr_series_vs_seg' },
  { name: 'CT 512×512×20, JPEG 2000 lossless', dir: 'dicom/ct_series_j2k' },
]
const repeats = Number(process.env.BENCH_REPEATS ?? 5)

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function time(fn: () => Promise<unknown>): Promise<number[]> {
  await fn() // warm-up: WASM compilation and codec initialisation are paid once per process
  const out: number[] = []
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now()
    await fn()
    out.push(performance.now() - t0)
  }
  return out
}

if (!existsSync(dataRoot)) {
  console.error(`bench:io needs the shared data folder (looked in ${dataRoot}); pass its path as the first argument`)
  process.exit(2)
}
console.log(`bench:io  repeats=${repeats} (median ms, after one warm-up)  node ${process.version}`)
console.log('series'.padEnd(38), 'raddiff'.padStart(9), 'itk-wasm'.padStart(9), 'ratio'.padStart(7))
for (const c of cases) {
  const dir = path.join(dataRoot, c.dir)
  const files = readdirSync(dir).filter((f) => !f.startsWith('.')).map((f) => path.join(dir, f))
  const ours = median(await time(() => loadVolumes([dir])))
  const itk = median(await time(() => readImageDicomFileSeriesNode({ inputImages: files, singleSortedSeries: false })))
  console.log(c.name.padEnd(38), ours.toFixed(0).padStart(9), itk.toFixed(0).padStart(9), (itk / ours).toFixed(2).padStart(6) + '×')
}
console.log('ratio = itk-wasm time / raddiff time (above 1: raddiff is faster)')
