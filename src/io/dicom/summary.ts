import type { SeriesSummary } from '../summary.js'
import { outputComponents, outputType } from './load.js'
import { transferSyntaxInfo } from './transfer-syntax.js'
import type { DicomSeries } from './types.js'

/** Header-only description of a scanned series; no pixel is decoded. */
export function summarizeDicomSeries(s: DicomSeries): SeriesSummary {
  const f0 = s.files[0]
  const frames = s.slices.map((sl) => s.files[sl.file].frames[sl.frame])
  const perSliceRescale = new Set(frames.map((f) => `${f.slope}/${f.intercept}`)).size > 1
  const warnings = [...s.warnings]
  if (perSliceRescale) warnings.push('rescale slope / intercept differ between slices: real values stored as float32')
  if (f0.format.photometric === 'MONOCHROME1') warnings.push('MONOCHROME1 inverted so that bright means high')
  return {
    format: 'dicom',
    source: f0.ref.name,
    files: s.files.length,
    size: [...s.size],
    spacing: [...s.spacing],
    origin: [...s.origin],
    direction: [...s.direction],
    modality: f0.modality,
    components: outputComponents(f0),
    voxelType: outputType(f0, perSliceRescale),
    transferSyntax: { uid: f0.transferSyntaxUID, name: transferSyntaxInfo(f0.transferSyntaxUID).name },
    seriesInstanceUID: f0.seriesInstanceUID || undefined,
    seriesNumber: f0.info.seriesNumber,
    seriesDescription: f0.info.seriesDescription,
    warnings,
  }
}
