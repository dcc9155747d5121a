import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadVolumes } from '../../src/io/load.js'
import { createVolume, toFloat32, type Vec3, type Volume } from '../../src/volume/index.js'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const FIXTURE = path.join(repoRoot, 'fixtures/nifti/ixi-t1-small.nii.gz')

/**
 * A models folder holding copies of the test models with cards re-labelled for the pipelines
 * (the ONNX bytes, hence the sha256, are unchanged).
 */
export async function makeModelsDir(extra: Record<string, Record<string, unknown>> = {}): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raddiff-models-'))
  const src = path.join(repoRoot, 'fixtures/models')
  const eps = JSON.parse(await readFile(path.join(src, 'tiny-eps.json'), 'utf8'))
  const cond = JSON.parse(await readFile(path.join(src, 'tiny-cond.json'), 'utf8'))
  await copyFile(path.join(src, 'tiny-eps.onnx'), path.join(dir, 'tiny-eps.onnx'))
  await copyFile(path.join(src, 'tiny-cond.onnx'), path.join(dir, 'tiny-cond.onnx'))
  const prior = { ...eps, name: 'tiny-prior', tasks: ['denoise', 'super-resolution', 'anomaly'], modality: 'MR', ...extra.prior }
  await writeFile(path.join(dir, 'a-prior.json'), JSON.stringify(prior))
  await writeFile(path.join(dir, 'b-mri2ct.json'), JSON.stringify({ ...cond, tasks: ['mri2ct'], cond_modality: 'MR', ...extra.cond }))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** A small crop of the IXI fixture (real-valued float32, same direction and spacing). */
export async function croppedFixture(lo: Vec3 = [14, 14, 20], size: Vec3 = [32, 32, 4]): Promise<Volume> {
  const [{ volume: v }] = await loadVolumes([FIXTURE])
  const src = toFloat32(v)
  const data = new Float32Array(size[0] * size[1] * size[2])
  for (let k = 0; k < size[2]; k++)
    for (let j = 0; j < size[1]; j++)
      for (let i = 0; i < size[0]; i++) data[(k * size[1] + j) * size[0] + i] = src[((lo[2] + k) * v.size[1] + lo[1] + j) * v.size[0] + lo[0] + i]
  const d = v.direction
  const origin = [0, 1, 2].map((r) => v.origin[r] + d[r * 3] * v.spacing[0] * lo[0] + d[r * 3 + 1] * v.spacing[1] * lo[1] + d[r * 3 + 2] * v.spacing[2] * lo[2]) as Vec3
  return createVolume({ data, size, spacing: v.spacing, origin, direction: v.direction, modality: 'MR', meta: v.meta.clone({ rescaleSlope: 1, rescaleIntercept: 0 }) })
}
