import { IoError } from '../errors.js'
import { defaultLimits, type Limits } from '../limits.js'
import { createVolume, type Volume } from '../../volume/volume.js'
import { VolumeMetadata } from '../../volume/metadata.js'
import { allocateVoxels, type VoxelArray, type VoxelType } from '../../volume/voxel-array.js'
import { FramePixels } from './frame-pixels.js'
import { readDicomFile } from './read-file.js'
import type { DicomSeries, FileHeader } from './types.js'

/** Decodes a scanned series into a Volume (stored type kept, rescale in metadata). */
export async function loadDicomSeries(s: DicomSeries, limits: Limits = defaultLimits()): Promise<Volume> {
  const f0 = s.files[0]
  const fmt = f0.format
  const source = f0.ref.name
  const comps = outputComponents(f0)
  const total = s.size[0] * s.size[1] * s.size[2] * comps
  if (total > limits.maxVoxels) {
    throw new IoError('TOO_LARGE', `series needs ${total} voxels, above the cap of ${limits.maxVoxels}`, { source })
  }
  const frames = s.slices.map((sl) => s.files[sl.file].frames[sl.frame])
  const slopes = new Set(frames.map((f) => f.slope))
  const intercepts = new Set(frames.map((f) => f.intercept))
  const perSliceRescale = slopes.size > 1 || intercepts.size > 1
  const warnings = [...s.warnings]
  if (perSliceRescale) warnings.push('rescale slope / intercept differ between slices: real values stored as float32')

  const type: VoxelType = outputType(f0, perSliceRescale)
  const data = allocateVoxels(type, total)
  const mono1 = fmt.photometric === 'MONOCHROME1'
  if (mono1) warnings.push('MONOCHROME1 inverted so that bright means high')
  const maxStored = fmt.pixelRepresentation ? -1 : 2 ** fmt.bitsStored - 1

  const byFile = new Map<number, number[]>()
  s.slices.forEach((sl, k) => {
    if (!byFile.has(sl.file)) byFile.set(sl.file, [])
    byFile.get(sl.file)!.push(k)
  })
  const sliceLen = s.size[0] * s.size[1] * comps
  for (const [fi, ks] of byFile) {
    const h = s.files[fi]
    checkSameFormat(h, f0)
    const pixels = new FramePixels(await readDicomFile(h.ref, limits), h)
    for (const k of ks) {
      const sl = s.slices[k]
      const values = await pixels.frame(sl.frame)
      const fr = h.frames[sl.frame]
      const put = (dst: number, v: number) => {
        if (mono1) v = maxStored - v
        data[dst] = perSliceRescale ? v * fr.slope + fr.intercept : v
      }
      if (h.mosaic && s.size[2] === h.mosaic.tiles && s.slices.length === 1) {
        demosaic(values, h, s.size[0], s.size[1], put)
      } else {
        const base = k * sliceLen
        for (let i = 0; i < sliceLen; i++) put(base + i, values[i])
      }
    }
  }

  const dicom = { ...f0.info, sourceInstances: s.files.map((f) => ({ sopClassUID: f.sopClassUID, sopInstanceUID: f.sopInstanceUID })) }
  const meta = new VolumeMetadata({
    rescaleSlope: perSliceRescale ? 1 : frames[0].slope,
    rescaleIntercept: perSliceRescale ? 0 : frames[0].intercept,
    units: f0.modality === 'CT' ? 'HU' : f0.rescaleType,
    windowCenter: f0.windowCenter,
    windowWidth: f0.windowWidth,
    description: warnings.length ? warnings.join('; ') : undefined,
    dicom,
  })
  return createVolume({
    data: data as VoxelArray,
    size: [...s.size],
    spacing: [...s.spacing],
    origin: [...s.origin],
    direction: [...s.direction],
    components: comps,
    modality: f0.modality,
    meta,
  })
}

/** Palette images become RGB. */
export function outputComponents(h: FileHeader): number {
  return h.palette ? 3 : h.format.samplesPerPixel
}

export function outputType(h: FileHeader, perSliceRescale: boolean): VoxelType {
  const f = h.format
  if (h.palette) return h.palette.bits === 8 ? 'uint8' : 'uint16'
  if (perSliceRescale || f.floatPixels) return 'float32'
  return storedType(f.bitsAllocated, f.pixelRepresentation, f.photometric)
}

export function storedType(bitsAllocated: number, pixelRepresentation: number, photometric: string): VoxelType {
  // colour converted from YBR is 8-bit unsigned whatever the header says about sign
  const signed = pixelRepresentation === 1 && !photometric.startsWith('YBR') && photometric !== 'RGB'
  if (bitsAllocated <= 8) return signed ? 'int8' : 'uint8'
  if (bitsAllocated === 16) return signed ? 'int16' : 'uint16'
  return signed ? 'int32' : 'uint32'
}

function checkSameFormat(h: FileHeader, f0: FileHeader): void {
  const a = h.format
  const b = f0.format
  if (
    a.bitsAllocated !== b.bitsAllocated ||
    a.pixelRepresentation !== b.pixelRepresentation ||
    a.photometric !== b.photometric ||
    h.palette?.bits !== f0.palette?.bits
  ) {
    throw new IoError('INCONSISTENT_SERIES', 'slices of one series differ in bit depth, sign or colour model', { source: h.ref.name })
  }
}

/** Tile t of the mosaic grid becomes slice t (row-major tiles, as Siemens writes them). */
function demosaic(values: ArrayLike<number>, h: FileHeader, cols: number, rows: number, put: (dst: number, v: number) => void): void {
  const perSide = Math.ceil(Math.sqrt(h.mosaic!.tiles))
  const mcols = h.format.columns
  for (let t = 0; t < h.mosaic!.tiles; t++) {
    const r0 = Math.floor(t / perSide) * rows
    const c0 = (t % perSide) * cols
    for (let y = 0; y < rows; y++) {
      const src = (r0 + y) * mcols + c0
      const dst = (t * rows + y) * cols
      for (let x = 0; x < cols; x++) put(dst + x, values[src + x])
    }
  }
}
