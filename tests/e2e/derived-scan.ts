import path from 'node:path'
import { loadVolumes } from '../../src/io/load.js'
import { writeVolume } from '../../src/io/write.js'
import { createVolume, type Vec3 } from '../../src/volume/volume.js'

/**
 * A scan of other sizes from a fixture, written as NIfTI into `dir`: each voxel repeated `factor`
 * times per axis (spacing divided by it, same origin and direction), then the last axis cut to
 * `lastAxis` slices. Sizes that the fixtures lack (120×120×90, an odd cut of it) without storing them.
 */
export async function derivedScan(source: string, dir: string, factor: number, lastAxis?: number): Promise<{ file: string; size: Vec3 }> {
  const [{ volume: v }] = await loadVolumes([source])
  const [nx, ny] = [v.size[0] * factor, v.size[1] * factor]
  const nz = Math.min(lastAxis ?? Infinity, v.size[2] * factor)
  const data = new Float32Array(nx * ny * nz)
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++)
        data[i + nx * (j + ny * k)] = Number(v.data[Math.floor(i / factor) + v.size[0] * (Math.floor(j / factor) + v.size[1] * Math.floor(k / factor))])
  const size: Vec3 = [nx, ny, nz]
  const file = path.join(dir, `derived-${size.join('x')}.nii.gz`)
  await writeVolume(createVolume({ data, size, spacing: v.spacing.map((x) => x / factor) as Vec3, origin: v.origin, direction: v.direction, modality: v.modality }), file)
  return { file, size }
}
