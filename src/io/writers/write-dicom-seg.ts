import type { Volume } from '../../volume/index.js'
import { toFloat32 } from '../../volume/index.js'
import { IoError } from '../errors.js'
import { NOT_FOR_CLINICAL_USE } from './dicom-dataset.js'
import type { NaturalDataset } from './dicom-dcmjs.js'
import { AT, code, dimensionModule, enhancedDataset, loBytes, maybeDeidentify, writeEnhancedFile, type EnhancedContext, type EnhancedWriteOptions, type EnhancedWriteResult } from './dicom-enhanced.js'

export const SEG_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.66.4'

/** A coded concept (PS3.16): value, scheme, meaning. */
export interface CodedConcept {
  value: string
  scheme: string
  meaning: string
}

export interface SegmentOptions extends EnhancedWriteOptions {
  segmentLabel?: string
  /** Default SCT 49755003 "Morphologically Altered Structure" (CID 7150). */
  category?: CodedConcept
  /** Default SCT 52988006 "Lesion" (CID 7159). */
  type?: CodedConcept
  algorithmName?: string
  /** Voxels above this are in the segment; default 0.5 (masks hold 0 and 1). */
  threshold?: number
}

/**
 * BINARY segmentation frames, packed as PS3.5 8.1.1 asks for 1-bit data: frame after frame
 * with no padding between them, first pixel in the least significant bit.
 */
export function packBits(mask: Float32Array, threshold: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(mask.length / 8) + (Math.ceil(mask.length / 8) % 2))
  for (let n = 0; n < mask.length; n++) if (mask[n] > threshold) out[n >> 3] |= 1 << (n & 7)
  return out
}

/**
 * The dataset of a one-segment BINARY DICOM Segmentation of `mask`, one frame per slice, each
 * naming its source slice (DerivationImageSequence) when the volume came from DICOM.
 * Written by hand over dcmjs's encoder: dcmjs's Segmentation derivation needs the source
 * images' full datasets, and raddiff keeps only their references (DicomSourceInfo).
 */
export function segmentationDataset(mask: Volume, opts: SegmentOptions = {}): { ds: NaturalDataset; ctx: EnhancedContext } {
  const category = opts.category ?? { value: '49755003', scheme: 'SCT', meaning: 'Morphologically Altered Structure' }
  const type = opts.type ?? { value: '52988006', scheme: 'SCT', meaning: 'Lesion' }
  const data = toFloat32(mask)
  for (let n = 0; n < data.length; n++) {
    if (Number.isNaN(data[n])) throw new IoError('WRITE_FAILED', 'the mask holds NaN values; a segmentation needs 0 / 1 voxels')
  }
  const threshold = opts.threshold ?? 0.5
  const built = enhancedDataset(mask, SEG_SOP_CLASS, 'SEG', opts, (_k, refs) => ({
    FrameContentSequence: [{ DimensionIndexValues: [1, _k + 1] }],
    SegmentIdentificationSequence: [{ ReferencedSegmentNumber: 1 }],
    ...(refs
      ? { DerivationImageSequence: [{ SourceImageSequence: [refs], DerivationCodeSequence: [code('113076', 'DCM', 'Segmentation')] }] }
      : {}),
  }))
  Object.assign(built.ds, {
    ImageType: ['DERIVED', 'PRIMARY'],
    ContentLabel: 'RADDIFF_ANOMALY',
    ContentDescription: loBytes(`raddiff anomaly mask - ${NOT_FOR_CLINICAL_USE}`),
    ContentCreatorName: '',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    SegmentationType: 'BINARY',
    SegmentSequence: [
      {
        SegmentNumber: 1,
        SegmentLabel: loBytes(opts.segmentLabel ?? 'anomaly'),
        SegmentAlgorithmType: 'AUTOMATIC',
        SegmentAlgorithmName: loBytes(opts.algorithmName ?? 'raddiff anomaly'),
        SegmentedPropertyCategoryCodeSequence: [code(category.value, category.scheme, category.meaning)],
        SegmentedPropertyTypeCodeSequence: [code(type.value, type.scheme, type.meaning)],
      },
    ],
    ...dimensionModule([{ pointer: AT.ReferencedSegmentNumber, group: AT.SegmentIdentificationSequence, label: 'ReferencedSegmentNumber' }]),
    PixelData: [packBits(data, threshold).buffer],
    _vrMap: { PixelData: 'OB' },
  })
  return maybeDeidentify(built.ds, built.ctx, opts.deidentify)
}

/**
 * Writes the mask as a DICOM SEG file `IM00001.dcm` in `folder` (whole or not at all, as
 * writeDicomSeries does), filed in the source's study with a new series.
 */
export function writeDicomSeg(mask: Volume, folder: string, opts: SegmentOptions = {}): Promise<EnhancedWriteResult> {
  return writeEnhancedFile(folder, () => segmentationDataset(mask, opts), 'the mask could not be encoded as a DICOM Segmentation')
}
