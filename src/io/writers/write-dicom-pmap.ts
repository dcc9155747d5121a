import { endianness } from 'node:os'
import type { Volume } from '../../volume/index.js'
import { toFloat32 } from '../../volume/index.js'
import { IoError } from '../errors.js'
import { NOT_FOR_CLINICAL_USE } from './dicom-dataset.js'
import type { NaturalDataset } from './dicom-dcmjs.js'
import { code, dimensionModule, enhancedDataset, loBytes, maybeDeidentify, writeEnhancedFile, type EnhancedContext, type EnhancedWriteOptions, type EnhancedWriteResult } from './dicom-enhanced.js'
import { toDecimalString } from './dicom-storage.js'

export const PARAMETRIC_MAP_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.30'

export interface ParametricMapOptions extends EnhancedWriteOptions {
  /** Short label of the mapped quantity, e.g. 'heatmap' (LUT Label, SH: 16 characters). */
  label?: string
  /** What the values mean, e.g. 'anomaly score, normalised units' (LUT Explanation). */
  explanation?: string
  /** UCUM units of the real-world values; default '1' (dimensionless). */
  units?: { value: string; meaning: string }
}

/**
 * The dataset of a Parametric Map (float32 Float Pixel Data, one frame per slice) of `v`. The
 * floats are stored as they are, and the Real World Value Mapping is the identity (slope 1,
 * intercept 0) over their range, so a reader gets back the exact values the pipeline produced.
 */
export function parametricMapDataset(v: Volume, opts: ParametricMapOptions = {}): { ds: NaturalDataset; ctx: EnhancedContext } {
  const data = toFloat32(v)
  let min = Infinity
  let max = -Infinity
  for (let n = 0; n < data.length; n++) {
    const x = data[n]
    if (!Number.isFinite(x)) throw new IoError('WRITE_FAILED', 'the map holds NaN or infinite values; a Parametric Map cannot store them')
    if (x < min) min = x
    if (x > max) max = x
  }
  if (data.length === 0) min = max = 0
  // Parametric Map Series: Modality is that of the source images (MR, CT, …).
  const modality = loBytes(v.modality && v.modality !== 'OT' ? v.modality : 'OT', 16)
  const units = opts.units ?? { value: '1', meaning: 'no units' }
  const center = (min + max) / 2
  const width = Math.max(max - min, 1e-6)
  const built = enhancedDataset(v, PARAMETRIC_MAP_SOP_CLASS, modality, opts, (k, refs) => ({
    FrameContentSequence: [{ DimensionIndexValues: [k + 1] }],
    ...(refs
      ? {
          DerivationImageSequence: [
            { SourceImageSequence: [refs], DerivationCodeSequence: [code('110001', 'DCM', 'Image Processing')] },
          ],
        }
      : {}),
  }))
  const shared = (built.ds.SharedFunctionalGroupsSequence as NaturalDataset[])[0]
  Object.assign(shared, {
    ParametricMapFrameTypeSequence: [{ FrameType: ['DERIVED', 'PRIMARY', 'VOLUME', 'NONE'] }],
    // LINEAR_EXACT: a heatmap's whole range can be narrower than 1.
    FrameVOILUTSequence: [{ WindowCenter: toDecimalString(center), WindowWidth: toDecimalString(width), VOILUTFunction: 'LINEAR_EXACT' }],
    PixelValueTransformationSequence: [{ RescaleIntercept: '0', RescaleSlope: '1', RescaleType: 'US' }],
    RealWorldValueMappingSequence: [
      {
        DoubleFloatRealWorldValueFirstValueMapped: min,
        DoubleFloatRealWorldValueLastValueMapped: max,
        RealWorldValueIntercept: 0,
        RealWorldValueSlope: 1,
        LUTExplanation: loBytes(opts.explanation ?? 'raddiff output values', 64),
        LUTLabel: loBytes(opts.label ?? 'raddiff', 16),
        MeasurementUnitsCodeSequence: [code(units.value, 'UCUM', units.meaning)],
      },
    ],
  })
  // Float data is written in the transfer syntax's (little-endian) byte order.
  const bytes = new Uint8Array(data.byteLength)
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
  if (endianness() === 'BE') Buffer.from(bytes.buffer).swap32()
  Object.assign(built.ds, {
    ImageType: ['DERIVED', 'PRIMARY', 'VOLUME', 'NONE'],
    ContentLabel: loBytes((opts.label ?? 'RADDIFF').toUpperCase().replace(/[^A-Z0-9_ ]/g, '_'), 16),
    ContentDescription: loBytes(`${opts.explanation ?? 'raddiff map'} - ${NOT_FOR_CLINICAL_USE}`),
    ContentCreatorName: '',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    BitsAllocated: 32,
    PresentationLUTShape: 'IDENTITY',
    LossyImageCompression: '00',
    BurnedInAnnotation: 'NO',
    RecognizableVisualFeatures: 'NO',
    // Type 2C: we cannot tell whether the body part is paired, so it is sent empty.
    Laterality: '',
    AcquisitionContextSequence: [],
    ...dimensionModule(),
    FloatPixelData: [bytes.buffer],
  })
  return maybeDeidentify(built.ds, built.ctx, opts.deidentify)
}

/** Writes the map as `IM00001.dcm` in `folder` (whole or not at all), in the source's study. */
export function writeParametricMap(v: Volume, folder: string, opts: ParametricMapOptions = {}): Promise<EnhancedWriteResult> {
  return writeEnhancedFile(folder, () => parametricMapDataset(v, opts), 'the map could not be encoded as a DICOM Parametric Map')
}
