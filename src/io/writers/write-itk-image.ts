import { writeImageNode } from '@itk-wasm/image-io'
import type { Image } from 'itk-wasm'
import { IoError } from '../errors.js'
import { writeAtomically } from '../atomic-write.js'
import { quietItk } from '../itk/itk-quiet.js'
import { toFloat32, voxelType, type Volume } from '../../volume/volume.js'
import { writeNifti } from './write-nifti.js'

/** A Volume as an itk-wasm Image: both keep LPS geometry and a row-major direction. */
export function volumeToItkImage(v: Volume): Image {
  // NRRD and MetaImage have no rescale fields: real values go out as float32.
  const data = v.meta.hasRescale ? toFloat32(v) : v.data
  const componentType = v.meta.hasRescale ? 'float32' : voxelType(v)
  return {
    imageType: { dimension: 3, componentType, pixelType: v.components === 1 ? 'Scalar' : 'VariableLengthVector', components: v.components },
    name: 'image',
    origin: [...v.origin],
    spacing: [...v.spacing],
    direction: new Float64Array(v.direction),
    size: [...v.size],
    metadata: new Map(),
    data,
  } as Image
}

/**
 * Writes .nrrd or .mha (single-file, compressed) through itk-wasm; .nii/.nii.gz go to
 * writeNifti, which controls qform/sform and scaling itself. Detached-header formats
 * (.nhdr, .mhd) are refused: two files cannot be replaced atomically.
 */
export async function writeItkImage(v: Volume, out: string): Promise<void> {
  if (/\.nii(\.gz)?$/i.test(out)) return writeNifti(v, out)
  if (!/\.(nrrd|mha)$/i.test(out)) {
    throw new IoError('UNSUPPORTED_OUTPUT', `image output must end in .nrrd, .mha, .nii or .nii.gz: ${out}`, { source: out })
  }
  const image = volumeToItkImage(v)
  await writeAtomically(out, (tmp) =>
    quietItk(() => writeImageNode(image, tmp, { useCompression: true }), 'WRITE_FAILED', `could not write ${out}`, out),
  )
}
