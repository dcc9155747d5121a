import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { scanDicom, loadDicomSeries } from '../../../src/io/dicom/index.js'
import type { Volume } from '../../../src/volume/volume.js'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
// RADDIFF_SHARED_DATA: the shared data folder when it is not ../shared/data (a git worktree elsewhere)
export const dicomData = path.resolve(process.env.RADDIFF_SHARED_DATA ?? path.resolve(repoRoot, '../shared/data'), 'dicom')
export const hasData = existsSync(dicomData)
export const fixtures = path.join(repoRoot, 'fixtures/dicom')

export const refs = (name: string) => path.join(repoRoot, 'tests/reference', name)

export function refsOf(paths: string[]) {
  return paths.map((p) => ({ path: p, name: path.basename(p) }))
}

/** Scans exactly one file and loads its single series. */
export async function loadOne(file: string): Promise<Volume> {
  const { series, rejected } = await scanDicom(refsOf([file]))
  if (rejected.length) throw rejected[0].error
  if (series.length !== 1) throw new Error(`expected one series, got ${series.length}`)
  return loadDicomSeries(series[0])
}

/** Row-major 4×4 LPS affine → RAS (what nibabel reports). */
export function lpsToRas(m: number[]): number[] {
  return m.map((x, i) => (i < 8 ? -x : x))
}
