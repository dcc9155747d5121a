import type { Mat3, Modality, Vec3 } from '../volume/volume.js'
import type { VoxelType } from '../volume/voxel-array.js'

/**
 * Header-only description of one image series: what `raddiff inspect` prints and what the
 * service answers after an upload. Built without decoding pixels.
 */
export interface SeriesSummary {
  /** 'dicom' or the itk-wasm format name ('nifti', 'nrrd', 'mha', 'mgh', …). */
  format: string
  /** User-facing name of the input (path as given, or archive!entry). */
  source: string
  /** Number of files that make up the series (1 for NIfTI, multi-frame DICOM). */
  files: number
  size: Vec3
  spacing: Vec3
  origin: Vec3
  direction: Mat3
  modality: Modality
  components: number
  /** Stored voxel type. */
  voxelType: VoxelType
  /** DICOM only. */
  transferSyntax?: { uid: string; name: string }
  seriesInstanceUID?: string
  seriesNumber?: number
  seriesDescription?: string
  /** Human-readable notes, e.g. "slice gap of 2 missing slices", "MONOCHROME1 inverted". No tag values. */
  warnings: string[]
}
