import type { Vec3 } from '../../volume/volume.js'
import type { DicomSourceInfo } from '../../volume/metadata.js'

export interface DicomFileRef {
  path: string
  /** User-facing name: the path as given, or archive!entry. */
  name: string
}

/** Geometry and scaling of one 2D frame (a slice file, a frame of a multi-frame file, or a whole mosaic). */
export interface FrameHeader {
  position?: Vec3
  /** Row cosine then column cosine (ImageOrientationPatient). */
  orientation?: number[]
  /** [between rows (vertical), between columns (horizontal)], as PixelSpacing. */
  pixelSpacing?: [number, number]
  slope: number
  intercept: number
  /** For stacking frames without positions, and for ordering duplicates. */
  order: number
  /** Geometry attributes present but unusable (non-finite, zero, not unit vectors): ignored, and warned. */
  unusable?: ('ImagePositionPatient' | 'ImageOrientationPatient' | 'PixelSpacing')[]
}

export interface PixelFormat {
  rows: number
  columns: number
  bitsAllocated: number
  bitsStored: number
  pixelRepresentation: number
  samplesPerPixel: number
  planarConfiguration: number
  photometric: string
  /** Float Pixel Data (7FE0,0008) instead of Pixel Data. */
  floatPixels: boolean
}

/** Palette Color lookup tables (PS3.3 C.7.6.3.1.5-6), expanded to one array per channel. */
export interface Palette {
  firstMapped: number
  /** 8 or 16: the bits each entry really occupies (as pydicom's apply_color_lut decides). */
  bits: number
  red: Uint16Array
  green: Uint16Array
  blue: Uint16Array
}

export interface FileHeader {
  ref: DicomFileRef
  transferSyntaxUID: string
  modality: string
  sopClassUID: string
  sopInstanceUID: string
  seriesInstanceUID: string
  format: PixelFormat
  numberOfFrames: number
  frames: FrameHeader[]
  /** Siemens mosaic: tiles per image, and the slice normal its CSA header names. */
  mosaic?: { tiles: number; sliceNormal?: Vec3; sliceSpacing?: number }
  /** Slice spacing the header declares (SpacingBetweenSlices, else SliceThickness): used only when positions cannot tell. */
  declaredSpacing?: number
  windowCenter?: number
  windowWidth?: number
  rescaleType?: string
  palette?: Palette
  info: DicomSourceInfo
}

/** One slice of a series: frame `frame` of file `file` (an index into DicomSeries.files). */
export interface SliceRef {
  file: number
  frame: number
}

/**
 * One image series after grouping and sorting: headers of its files and the order of its
 * slices. Built by scanDicom; pixels are only read by loadDicomSeries.
 */
export interface DicomSeries {
  files: FileHeader[]
  slices: SliceRef[]
  size: Vec3
  spacing: Vec3
  origin: Vec3
  direction: [number, number, number, number, number, number, number, number, number]
  warnings: string[]
}
