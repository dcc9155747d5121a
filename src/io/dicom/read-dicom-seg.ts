import { IoError } from '../errors.js'
import { dcmjsData, type NaturalDataset } from '../writers/dicom-dcmjs.js'
import { SEG_SOP_CLASS } from '../writers/write-dicom-seg.js'

/** The voxel grid a segmentation is read onto: the scan's (row-major direction, column j = axis j). */
export interface SegTargetGrid {
  size: readonly [number, number, number]
  spacing: readonly [number, number, number]
  origin: readonly [number, number, number]
  direction: ArrayLike<number>
  /** The scan's Frame of Reference; absent for a non-DICOM scan, when only the geometry is checked. */
  frameOfReferenceUID?: string
}

export interface SegMask {
  /** 1 inside the chosen segments, 0 elsewhere, x-fastest on the target grid. */
  mask: Float32Array
  /** Voxels set to 1. */
  voxels: number
  /** Segment numbers whose frames were read. */
  segments: number[]
  frames: number
  /** False when the scan had no Frame of Reference to compare (geometry alone was checked). */
  frameOfReferenceChecked: boolean
}

/** Native transfer syntaxes: dcmjs reads them; an encapsulated SEG would need a codec per frame. */
const NATIVE = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2'])
/** A frame's position may be off the scan's voxel grid by this fraction of a voxel (DS rounding). */
const POSITION_TOLERANCE = 0.05
/** Orientation cosines and relative pixel spacing may differ by this much (DS rounding). */
const ANGLE_TOLERANCE = 1e-3

const bad = (message: string) => new IoError('NOT_A_SEGMENTATION', message)
const mismatch = (message: string) => new IoError('SEG_MISMATCH', message)

/** dcmjs naturalises a sequence as an array of items; a single item may also come as the item itself. */
function item(v: unknown): NaturalDataset | undefined {
  if (Array.isArray(v)) return v[0] as NaturalDataset | undefined
  return v && typeof v === 'object' ? (v as NaturalDataset) : undefined
}

function numbers(v: unknown, n: number): number[] | undefined {
  const a = (Array.isArray(v) ? v : [v]).map(Number)
  return a.length === n && a.every(Number.isFinite) ? a : undefined
}

/** A functional-group value: the frame's own group first, then the shared one (PS3.3 C.7.6.16). */
function groupValue(frame: NaturalDataset | undefined, shared: NaturalDataset | undefined, seq: string, attr: string): unknown {
  return item(frame?.[seq])?.[attr] ?? item(shared?.[seq])?.[attr]
}

function parse(bytes: Uint8Array): { ds: NaturalDataset; transferSyntax: string } {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
  try {
    const file = dcmjsData.DicomMessage.readFile(buffer)
    const ts = item((file.meta['00020010'] as { Value?: unknown })?.Value)
    return { ds: dcmjsData.DicomMetaDictionary.naturalizeDataset(file.dict), transferSyntax: String(ts ?? '') }
  } catch (cause) {
    // dcmjs's message can quote element values: kept as the cause only.
    throw new IoError('NOT_A_SEGMENTATION', 'the file could not be read as DICOM (not a Part 10 file, or damaged)', { cause })
  }
}

/**
 * A DICOM Segmentation read back as a binary mask on the scan's grid. dcmjs parses the file and
 * unpacks its 1-bit frames (BitArray.unpack); where each frame goes is read here from its own
 * functional groups — Plane Position (per frame), Plane Orientation and Pixel Measures (per frame
 * or shared) and Segment Identification — rather than assumed from frame order: a SEG written
 * by another tool may hold frames in any order, leave out empty ones, or cover part of a slice.
 * dcmjs's Segmentation adapters map frames onto source images by SOP Instance UID and need those
 * images' datasets; the viewer holds a volume, so frames are placed by geometry instead.
 * Anything that does not fall on the scan's voxel grid is a SEG_MISMATCH, never resampled.
 */
export function readSegMask(bytes: Uint8Array, grid: SegTargetGrid, opts: { segments?: number[] } = {}): SegMask {
  const { ds, transferSyntax } = parse(bytes)
  if (ds.SOPClassUID !== SEG_SOP_CLASS) throw bad('the file is DICOM but not a Segmentation (SEG) object')
  if (!NATIVE.has(transferSyntax)) throw new IoError('UNSUPPORTED_TRANSFER_SYNTAX', 'only uncompressed DICOM Segmentations can be read as a mask')
  if (grid.frameOfReferenceUID && ds.FrameOfReferenceUID !== grid.frameOfReferenceUID) {
    throw mismatch("the segmentation belongs to another Frame of Reference than the scan (it was drawn on another scan or registration)")
  }
  const rows = Number(ds.Rows)
  const cols = Number(ds.Columns)
  const nFrames = Number(ds.NumberOfFrames ?? 1)
  if (![rows, cols, nFrames].every((n) => Number.isInteger(n) && n > 0)) throw bad('the segmentation has no valid rows, columns or number of frames')
  const type = String(ds.SegmentationType ?? '')
  const bits = Number(ds.BitsAllocated)
  if (!((type === 'BINARY' && bits === 1) || (type === 'FRACTIONAL' && bits === 8))) {
    throw new IoError('UNSUPPORTED_PIXEL_FORMAT', 'only BINARY (1-bit) and FRACTIONAL (8-bit) segmentations can be read as a mask')
  }
  const raw = ds.PixelData
  const chunks = (Array.isArray(raw) ? raw : [raw]).filter((c): c is ArrayBuffer => c instanceof ArrayBuffer)
  if (chunks.length !== 1) throw new IoError('NO_IMAGE_DATA', 'the segmentation holds no pixel data')
  const perFrame = rows * cols
  const pixels = bits === 1 ? dcmjsData.BitArray.unpack(chunks[0]) : new Uint8Array(chunks[0])
  if (pixels.length < perFrame * nFrames) throw new IoError('PIXEL_DATA_SHORT', 'the segmentation pixel data is shorter than rows × columns × frames')
  // FRACTIONAL: a voxel is in the mask from half the maximum (probability or occupancy 0.5).
  const cut = bits === 1 ? 1 : Math.max(1, Number(ds.MaximumFractionalValue ?? 255) / 2)

  const [nx, ny, nz] = grid.size
  const d = grid.direction
  const axis = (j: number) => [d[j], d[3 + j], d[6 + j]]
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
  const shared = item(ds.SharedFunctionalGroupsSequence)
  const frames = Array.isArray(ds.PerFrameFunctionalGroupsSequence) ? (ds.PerFrameFunctionalGroupsSequence as NaturalDataset[]) : []
  if (frames.length !== nFrames) throw bad('the segmentation does not describe every frame (Per-frame Functional Groups)')
  const wanted = opts.segments ? new Set(opts.segments) : undefined
  const mask = new Float32Array(nx * ny * nz)
  const segments = new Set<number>()
  let voxels = 0
  for (let f = 0; f < nFrames; f++) {
    const fr = frames[f]
    const segment = Number(groupValue(fr, shared, 'SegmentIdentificationSequence', 'ReferencedSegmentNumber'))
    if (!Number.isInteger(segment)) throw bad(`frame ${f + 1} names no segment (Segment Identification)`)
    if (wanted && !wanted.has(segment)) continue
    const iop = numbers(groupValue(fr, shared, 'PlaneOrientationSequence', 'ImageOrientationPatient'), 6)
    const ps = numbers(groupValue(fr, shared, 'PixelMeasuresSequence', 'PixelSpacing'), 2)
    const ipp = numbers(groupValue(fr, shared, 'PlanePositionSequence', 'ImagePositionPatient'), 3)
    if (!iop || !ps || !ipp) throw bad(`frame ${f + 1} has no plane position, orientation or pixel spacing`)
    // IOP's first cosine runs along a row (column index → voxel axis i), the second down a column (→ j).
    const sameAxis = (a: number[], b: number[]) => Math.abs(a[0] - b[0]) < ANGLE_TOLERANCE && Math.abs(a[1] - b[1]) < ANGLE_TOLERANCE && Math.abs(a[2] - b[2]) < ANGLE_TOLERANCE
    if (!sameAxis(iop.slice(0, 3), axis(0)) || !sameAxis(iop.slice(3), axis(1))) {
      throw mismatch(`frame ${f + 1} of the segmentation is oriented differently from the scan's slices`)
    }
    // PixelSpacing is [between rows (along j), between columns (along i)].
    const close = (a: number, b: number) => Math.abs(a - b) <= ANGLE_TOLERANCE * Math.max(a, b)
    if (!close(ps[1], grid.spacing[0]) || !close(ps[0], grid.spacing[1])) {
      throw mismatch(`frame ${f + 1} of the segmentation has another pixel spacing than the scan`)
    }
    const q = [ipp[0] - grid.origin[0], ipp[1] - grid.origin[1], ipp[2] - grid.origin[2]]
    const idx = [0, 1, 2].map((j) => dot(axis(j), q) / grid.spacing[j])
    const at = idx.map(Math.round)
    if (idx.some((x, j) => Math.abs(x - at[j]) > POSITION_TOLERANCE)) throw mismatch(`frame ${f + 1} of the segmentation does not lie on the scan's voxel grid`)
    const [i0, j0, k] = at
    if (i0 < 0 || j0 < 0 || k < 0 || k >= nz || i0 + cols > nx || j0 + rows > ny) throw mismatch(`frame ${f + 1} of the segmentation lies outside the scan`)
    segments.add(segment)
    const base = f * perFrame
    for (let r = 0; r < rows; r++) {
      const row = i0 + nx * (j0 + r + ny * k)
      for (let c = 0; c < cols; c++) {
        if (pixels[base + r * cols + c] >= cut && mask[row + c] === 0) {
          mask[row + c] = 1
          voxels++
        }
      }
    }
  }
  return { mask, voxels, segments: [...segments].sort((a, b) => a - b), frames: nFrames, frameOfReferenceChecked: !!grid.frameOfReferenceUID }
}
