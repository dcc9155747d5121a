import { IDENTITY, indexToPoint, type Mat3, type Vec3, type Volume } from '../volume/index.js'

/**
 * A pure voxel reordering (no resampling): output axis a is input voxel axis perm[a], read
 * backwards when flip[a].
 */
export interface Reorientation {
  perm: Vec3
  flip: [boolean, boolean, boolean]
}

const col = (d: Mat3, j: number): Vec3 => [d[j], d[3 + j], d[6 + j]]

/**
 * The reordering whose result's direction is closest to `target`. Rule (training/raddiff_train/data.py
 * applies the same one): for each target axis in order 0, 1, 2, the not yet used voxel axis with the
 * largest |cosine| to it (ties: the lower voxel axis); flipped when that cosine is negative. Greedy
 * rather than globally optimal so that python and TypeScript cannot disagree on near-45° obliques
 * through different optimisers.
 */
export function orientationTowards(direction: Mat3, target: Mat3 = IDENTITY): Reorientation {
  const perm: Vec3 = [0, 0, 0]
  const flip: [boolean, boolean, boolean] = [false, false, false]
  const used = [false, false, false]
  for (let a = 0; a < 3; a++) {
    const t = col(target, a)
    let best = -1
    let bestCos = 0
    for (let j = 0; j < 3; j++) {
      if (used[j]) continue
      const c = col(direction, j)
      const cos = c[0] * t[0] + c[1] * t[1] + c[2] * t[2]
      if (best < 0 || Math.abs(cos) > Math.abs(bestCos)) {
        best = j
        bestCos = cos
      }
    }
    used[best] = true
    perm[a] = best
    flip[a] = bestCos < 0
  }
  return { perm, flip }
}

export function isIdentityReorientation(r: Reorientation): boolean {
  return r.perm[0] === 0 && r.perm[1] === 1 && r.perm[2] === 2 && !r.flip[0] && !r.flip[1] && !r.flip[2]
}

/**
 * Reorders a volume's voxels and rewrites its geometry exactly: the origin becomes the physical
 * position of the new first voxel, direction columns are permuted (negated where flipped), spacing
 * and size permuted. Every voxel keeps its physical position. Components stay interleaved.
 */
export function reorient(vol: Volume, r: Reorientation): Volume {
  if (isIdentityReorientation(r)) return vol
  const { perm, flip } = r
  const n = vol.size
  const size: Vec3 = [n[perm[0]], n[perm[1]], n[perm[2]]]
  const first: Vec3 = [0, 0, 0]
  for (let a = 0; a < 3; a++) if (flip[a]) first[perm[a]] = n[perm[a]] - 1
  const direction = [...vol.direction] as Mat3
  for (let a = 0; a < 3; a++) {
    const s = flip[a] ? -1 : 1
    for (let row = 0; row < 3; row++) direction[row * 3 + a] = s * vol.direction[row * 3 + perm[a]]
  }
  // input voxel strides (in voxels, components folded in below), signed where flipped
  const inStride: Vec3 = [1, n[0], n[0] * n[1]]
  const step = [0, 1, 2].map((a) => (flip[a] ? -1 : 1) * inStride[perm[a]])
  const base = first[0] + first[1] * n[0] + first[2] * n[0] * n[1]
  const C = vol.components
  const src = vol.data
  const dst = new (src.constructor as new (len: number) => typeof src)(src.length)
  let o = 0
  for (let z = 0; z < size[2]; z++) {
    for (let y = 0; y < size[1]; y++) {
      let i = base + z * step[2] + y * step[1]
      for (let x = 0; x < size[0]; x++, i += step[0]) {
        if (C === 1) dst[o++] = src[i]
        else for (let c = 0; c < C; c++) dst[o++] = src[i * C + c]
      }
    }
  }
  return {
    ...vol,
    data: dst,
    size,
    spacing: [vol.spacing[perm[0]], vol.spacing[perm[1]], vol.spacing[perm[2]]],
    origin: indexToPoint(vol, first),
    direction,
    meta: vol.meta.clone(),
  }
}

export interface Canonical {
  /** The input reordered so its axes run as close as possible to +L (x), +P (y), +S (z). */
  volume: Volume
  reorientation: Reorientation
  /**
   * Back to the input's voxel order. The reordering is derived from the given volume's own
   * direction (towards the input's), and its own size, spacing and origin set the geometry, so a
   * result on a scaled canonical grid (super-resolution) comes back on the matching scaled grid.
   */
  undo(v: Volume): Volume
}

/**
 * Reorients to the closest canonical LPS voxel order, so that card planes name anatomy: on the
 * canonical grid axial = slices along axis 2 (S), coronal = along axis 1 (P), sagittal = along
 * axis 0 (L). Volumes already in that order are returned as they are (no copy).
 */
export function toCanonical(vol: Volume): Canonical {
  const reorientation = orientationTowards(vol.direction)
  const target = [...vol.direction] as Mat3
  return {
    volume: reorient(vol, reorientation),
    reorientation,
    undo: (v) => reorient(v, orientationTowards(v.direction, target)),
  }
}
