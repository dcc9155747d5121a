import { IoError } from '../errors.js'
import type { Mat3, Vec3 } from '../../volume/volume.js'
import type { NiftiHeader } from './nifti-header.js'

/** 4×4 row-major index→RAS affine, as nibabel's `img.affine`. */
export type Affine = number[]

export type AffineSource = 'sform' | 'qform' | 'pixdim'

/**
 * The affine the NIfTI standard (and nibabel's get_best_affine) picks: sform when
 * sform_code > 0, else qform when qform_code > 0, else the pixdim-only "method 1".
 * ITK decides differently (it may prefer the qform when both codes are set, e.g. the
 * gg-flair template in shared/data, whose qform and sform disagree), so raddiff computes the
 * geometry from the header itself and only takes voxels from itk-wasm.
 */
export function niftiAffine(h: NiftiHeader): { affine: Affine; source: AffineSource } {
  if (h.hasMagic && h.sformCode > 0) {
    return { affine: [...h.srow[0], ...h.srow[1], ...h.srow[2], 0, 0, 0, 1], source: 'sform' }
  }
  if (h.hasMagic && h.qformCode > 0) return { affine: qformAffine(h), source: 'qform' }
  return { affine: baseAffine(h), source: 'pixdim' }
}

/** nibabel Nifti1Header.get_qform: rotation from (b, c, d), qfac from pixdim[0]. */
function qformAffine(h: NiftiHeader): Affine {
  const [b, c, d] = h.quatern
  // nibabel's fillpositive: a tiny negative a² from float rounding counts as 0.
  const a2 = 1 - (b * b + c * c + d * d)
  const a = a2 < 0 ? 0 : Math.sqrt(a2)
  const R = [
    a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c),
    2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b),
    2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b,
  ]
  const qfac = h.pixdim[0] === -1 ? -1 : 1
  const vox = [h.pixdim[1], h.pixdim[2], h.pixdim[3] * qfac]
  const m: Affine = []
  for (let r = 0; r < 3; r++) {
    for (let col = 0; col < 3; col++) m.push(R[r * 3 + col] * vox[col])
    m.push(h.qoffset[r])
  }
  return [...m, 0, 0, 0, 1]
}

/** nibabel's shape_zoom_affine: x flipped, image centred on the origin (Analyze convention). */
function baseAffine(h: NiftiHeader): Affine {
  const nd = Math.min(h.dim[0], 3)
  const shape = [1, 2, 3].map((i) => (i <= nd ? h.dim[i] : 1))
  const zooms = [1, 2, 3].map((i) => (i <= nd ? h.pixdim[i] : 1))
  zooms[0] *= -1
  const t = shape.map((s, i) => (-(s - 1) / 2) * zooms[i])
  return [zooms[0], 0, 0, t[0], 0, zooms[1], 0, t[1], 0, 0, zooms[2], t[2], 0, 0, 0, 1]
}

/** Millimetres per NIfTI spatial unit (xyzt_units & 7): 1 m, 2 mm, 3 µm; unknown counts as mm. */
export function unitScale(xyztUnits: number): number {
  const u = xyztUnits & 7
  return u === 1 ? 1000 : u === 3 ? 0.001 : 1
}

/**
 * RAS affine → Volume geometry (LPS, row-major direction, unit columns). A degenerate
 * column (zero pixdim of a 2-D image) becomes the cross product of the others, spacing 1.
 * Shear in an sform is kept: direction columns are then not orthogonal, and indexToRas
 * reproduces the affine exactly.
 */
export function affineToGeometry(affine: Affine, scale = 1): { spacing: Vec3; origin: Vec3; direction: Mat3; warnings: string[] } {
  if (!affine.every(Number.isFinite)) {
    throw new IoError('INVALID_HEADER', 'the NIfTI orientation (sform/qform) holds non-finite numbers')
  }
  const warnings: string[] = []
  const flip = [-1, -1, 1]
  const cols: number[][] = [0, 1, 2].map((j) => [0, 1, 2].map((r) => flip[r] * affine[r * 4 + j] * scale))
  const spacing = cols.map((c) => Math.hypot(c[0], c[1], c[2]))
  const bad = spacing.map((s) => !(s > 1e-12))
  if (bad.filter(Boolean).length > 1) {
    throw new IoError('INVALID_HEADER', 'the NIfTI orientation has more than one zero-length voxel axis')
  }
  for (let j = 0; j < 3; j++) {
    if (!bad[j]) cols[j] = cols[j].map((v) => v / spacing[j])
  }
  const k = bad.indexOf(true)
  if (k >= 0) {
    const [p, q] = [(k + 1) % 3, (k + 2) % 3]
    const u = cols[p]
    const v = cols[q]
    cols[k] = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]
    spacing[k] = 1
    warnings.push(`voxel axis ${k} had zero spacing; 1 mm assumed`)
  }
  const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
  if (Math.max(Math.abs(dot(cols[0], cols[1])), Math.abs(dot(cols[0], cols[2])), Math.abs(dot(cols[1], cols[2]))) > 1e-4) {
    warnings.push('the NIfTI affine has shear: direction axes are not orthogonal')
  }
  const direction = [0, 1, 2].flatMap((r) => [cols[0][r], cols[1][r], cols[2][r]]) as Mat3
  const origin = [0, 1, 2].map((r) => flip[r] * affine[r * 4 + 3] * scale) as Vec3
  return { spacing: spacing as Vec3, origin, direction, warnings }
}

/**
 * NIfTI quaternion of a direction matrix (LPS, row-major), as nifti_mat44_to_quatern: the
 * RAS rotation, with qfac = -1 folding a reflection into the third axis. Columns are
 * orthonormalised first (the sform carries any shear exactly).
 */
export function directionToQuatern(direction: Mat3): { b: number; c: number; d: number; qfac: 1 | -1 } {
  const flip = [-1, -1, 1]
  let cols = [0, 1, 2].map((j) => [0, 1, 2].map((r) => flip[r] * direction[r * 3 + j]))
  cols = gramSchmidt(cols)
  const det =
    cols[0][0] * (cols[1][1] * cols[2][2] - cols[1][2] * cols[2][1]) -
    cols[1][0] * (cols[0][1] * cols[2][2] - cols[0][2] * cols[2][1]) +
    cols[2][0] * (cols[0][1] * cols[1][2] - cols[0][2] * cols[1][1])
  const qfac = det < 0 ? -1 : 1
  if (qfac < 0) cols[2] = cols[2].map((v) => -v)
  // R[r][c] = cols[c][r]
  const R = (r: number, c: number) => cols[c][r]
  const tr = R(0, 0) + R(1, 1) + R(2, 2) + 1
  let a: number, b: number, c: number, d: number
  if (tr > 0.5) {
    a = 0.5 * Math.sqrt(tr)
    b = (0.25 * (R(2, 1) - R(1, 2))) / a
    c = (0.25 * (R(0, 2) - R(2, 0))) / a
    d = (0.25 * (R(1, 0) - R(0, 1))) / a
  } else {
    const xd = 1 + R(0, 0) - (R(1, 1) + R(2, 2))
    const yd = 1 + R(1, 1) - (R(0, 0) + R(2, 2))
    const zd = 1 + R(2, 2) - (R(0, 0) + R(1, 1))
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd)
      c = (0.25 * (R(0, 1) + R(1, 0))) / b
      d = (0.25 * (R(0, 2) + R(2, 0))) / b
      a = (0.25 * (R(2, 1) - R(1, 2))) / b
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd)
      b = (0.25 * (R(0, 1) + R(1, 0))) / c
      d = (0.25 * (R(1, 2) + R(2, 1))) / c
      a = (0.25 * (R(0, 2) - R(2, 0))) / c
    } else {
      d = 0.5 * Math.sqrt(zd)
      b = (0.25 * (R(0, 2) + R(2, 0))) / d
      c = (0.25 * (R(1, 2) + R(2, 1))) / d
      a = (0.25 * (R(1, 0) - R(0, 1))) / d
    }
    if (a < 0) {
      b = -b
      c = -c
      d = -d
    }
  }
  return { b, c, d, qfac }
}

function gramSchmidt(cols: number[][]): number[][] {
  const norm = (v: number[]) => {
    const n = Math.hypot(v[0], v[1], v[2])
    return v.map((x) => x / n)
  }
  const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
  const u0 = norm(cols[0])
  const u1 = norm(cols[1].map((v, i) => v - dot(cols[1], u0) * u0[i]))
  const t = cols[2].map((v, i) => v - dot(cols[2], u0) * u0[i] - dot(cols[2], u1) * u1[i])
  return [u0, u1, norm(t)]
}
