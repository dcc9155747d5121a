/**
 * The viewer's volume wire format, shared by the service route (plugins/viewer.ts) and the
 * browser (viewer/src/api.ts): u32 little-endian header length, this JSON header, float32 voxels.
 * No imports, so the browser bundle can take it as a type.
 */
export interface RawVolumeHeader {
  role: string
  size: [number, number, number]
  spacing: [number, number, number]
  origin: [number, number, number]
  /** Row-major 3×3, column j = LPS direction of voxel axis j. */
  direction: number[]
  modality: string
  units?: string
  window?: { center: number; width: number }
  range: [number, number]
}
