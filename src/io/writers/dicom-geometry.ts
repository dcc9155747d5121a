import type { Vec3, Volume } from '../../volume/index.js'

/** Image Plane module values for one k-slice. */
export interface SliceGeometry {
  imagePositionPatient: Vec3
  imageOrientationPatient: [number, number, number, number, number, number]
  /** [row spacing, column spacing]: the distance between rows (along j) comes first. */
  pixelSpacing: [number, number]
  sliceThickness: number
  /** Signed distance of the slice centre along the row × column normal. */
  sliceLocation: number
  patientOrientation: [string, string]
}

const column = (v: Volume, j: number): Vec3 => [v.direction[j], v.direction[3 + j], v.direction[6 + j]]

/** DICOM direction letters of an LPS vector, strongest component first (PS3.3 C.7.6.1.1.1). */
function orientationLetters(d: Vec3): string {
  const letters = [d[0] > 0 ? 'L' : 'R', d[1] > 0 ? 'P' : 'A', d[2] > 0 ? 'H' : 'F']
  return [0, 1, 2]
    .filter((a) => Math.abs(d[a]) > 1e-4)
    .sort((a, b) => Math.abs(d[b]) - Math.abs(d[a]))
    .map((a) => letters[a])
    .join('')
}

/** Rows run along voxel axis i (direction column 0), columns along axis j (column 1). */
export function sliceGeometry(v: Volume, k: number): SliceGeometry {
  const row = column(v, 0)
  const col = column(v, 1)
  const slice = column(v, 2)
  const step = k * v.spacing[2]
  const ipp = [0, 1, 2].map((a) => v.origin[a] + step * slice[a]) as Vec3
  const normal: Vec3 = [
    row[1] * col[2] - row[2] * col[1],
    row[2] * col[0] - row[0] * col[2],
    row[0] * col[1] - row[1] * col[0],
  ]
  return {
    imagePositionPatient: ipp,
    imageOrientationPatient: [...row, ...col],
    pixelSpacing: [v.spacing[1], v.spacing[0]],
    sliceThickness: v.spacing[2],
    sliceLocation: ipp[0] * normal[0] + ipp[1] * normal[1] + ipp[2] * normal[2],
    patientOrientation: [orientationLetters(row), orientationLetters(col)],
  }
}
