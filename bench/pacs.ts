/**
 * `tsx bench/pacs.ts [--passes 3] [--series DIR]` (npm run bench:pacs)
 * Starts a private Orthanc with its DICOMweb plugin (tests/dicomweb/orthanc.ts: loopback port,
 * temp storage), stores the 30-slice 512² MR series (../shared/data/dicom/mr_series_vs_seg)
 * through Orthanc's REST API, then times per pass: WADO-RS pull of the series to disk, loading it
 * as a volume, writing + STOW-RS push of a derived 30-slice series, and of a DICOM SEG of a mask
 * of the same geometry. Prints each pass and the medians. Bounded: N passes, then Orthanc stops.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { DicomwebClient, pushFolders } from '../src/dicomweb/index.js'
import { openInputs } from '../src/io/load.js'
import { writeDicomSeries } from '../src/io/writers/write-dicom.js'
import { writeDicomSeg } from '../src/io/writers/write-dicom-seg.js'
import { createVolume, toFloat32 } from '../src/volume/index.js'
import { hasOrthanc, PASSWORD, startOrthanc, USER } from '../tests/dicomweb/orthanc.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const opt = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined)
const passes = Number(opt('--passes') ?? 3)
const seriesDir = opt('--series') ?? [path.resolve(root, '../shared/data/dicom/mr_series_vs_seg'), path.resolve(root, '../../shared/data/dicom/mr_series_vs_seg')].find(existsSync)
if (!hasOrthanc) throw new Error('bench:pacs needs Orthanc and its DICOMweb plugin (Debian orthanc, orthanc-dicomweb)')
if (!seriesDir) throw new Error('the 30-slice MR series (../shared/data/dicom/mr_series_vs_seg) is missing; pass --series DIR')

const files = (await readdir(seriesDir)).filter((f) => f.endsWith('.dcm')).sort().map((f) => path.join(seriesDir, f))
const orthanc = await startOrthanc()
const work = await mkdtemp(path.join(os.tmpdir(), 'raddiff-bench-pacs-'))
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
try {
  let bytes = 0
  let study = ''
  let series = ''
  for (const f of files) {
    const body = await readFile(f)
    bytes += body.length
    const r = await orthanc.rest('/instances', { method: 'POST', body })
    if (!r.ok) throw new Error(`Orthanc refused a fixture file: HTTP ${r.status}`)
    const info = (await r.json()) as { ParentSeries: string }
    if (!series) {
      const s = (await (await orthanc.rest(`/series/${info.ParentSeries}`)).json()) as { MainDicomTags: { SeriesInstanceUID: string }; ParentStudy: string }
      series = s.MainDicomTags.SeriesInstanceUID
      study = ((await (await orthanc.rest(`/studies/${s.ParentStudy}`)).json()) as { MainDicomTags: { StudyInstanceUID: string } }).MainDicomTags.StudyInstanceUID
    }
  }
  const client = new DicomwebClient(orthanc.dicomweb, { auth: { kind: 'basic', user: USER, password: PASSWORD } })
  console.log(`series: ${files.length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB, Orthanc ${orthanc.dicomweb}, ${passes} passes, ${os.cpus().length} CPUs`)
  const rows: Record<string, number>[] = []
  for (let p = 0; p < passes; p++) {
    const dir = path.join(work, `pass-${p}`)
    let t = performance.now()
    const pulled = await client.retrieve(path.join(dir, 'pull'), study, series)
    const pull = (performance.now() - t) / 1000
    t = performance.now()
    const opened = await openInputs([path.join(dir, 'pull')])
    const v = await opened.series[0].load()
    await opened.cleanup()
    const load = (performance.now() - t) / 1000
    t = performance.now()
    await writeDicomSeries(v, path.join(dir, 'derived'), { seriesDescription: 'bench derived' })
    const writeDerived = (performance.now() - t) / 1000
    t = performance.now()
    const r1 = await pushFolders(client, [path.join(dir, 'derived')])
    const pushDerived = (performance.now() - t) / 1000
    const real = toFloat32(v)
    let mean = 0
    for (const x of real) mean += x / real.length
    const mask = createVolume({ ...v, data: real.map((x) => (x > 2 * mean ? 1 : 0)), meta: v.meta.clone({ rescaleSlope: 1, rescaleIntercept: 0 }) })
    t = performance.now()
    await writeDicomSeg(mask, path.join(dir, 'seg'))
    const writeSeg = (performance.now() - t) / 1000
    t = performance.now()
    const r2 = await pushFolders(client, [path.join(dir, 'seg')])
    const pushSeg = (performance.now() - t) / 1000
    if (!r1.ok || !r2.ok || pulled.length !== files.length) throw new Error('a pull or push failed')
    const derivedBytes = (await Promise.all((await readdir(path.join(dir, 'derived'))).map((n) => stat(path.join(dir, 'derived', n))))).reduce((a, s) => a + s.size, 0)
    const row = { pull, load, writeDerived, pushDerived, writeSeg, pushSeg, pullMiBs: bytes / 2 ** 20 / pull, pushMiBs: derivedBytes / 2 ** 20 / pushDerived }
    rows.push(row)
    console.log(`pass ${p + 1}: ` + Object.entries(row).map(([k, x]) => `${k} ${x.toFixed(k.endsWith('MiBs') ? 1 : 2)}`).join('  '))
    await rm(dir, { recursive: true, force: true })
  }
  console.log('median: ' + Object.keys(rows[0]).map((k) => `${k} ${median(rows.map((r) => r[k])).toFixed(k.endsWith('MiBs') ? 1 : 2)}`).join('  '))
  console.log('(seconds; pull = WADO-RS of 30 instances streamed to disk; push = STOW-RS of the written series / SEG; MiBs = MiB per second)')
} finally {
  await orthanc.dispose()
  await rm(work, { recursive: true, force: true })
}
