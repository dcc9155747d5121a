import { inspect } from 'node:util'

/**
 * What writers need to produce a derived series that a PACS files next to its source.
 * Values here can identify a patient: this record never prints them. `toJSON` and
 * `util.inspect` give a redacted summary, so a stray `console.log(volume)` or a pino
 * serialiser cannot leak them; read the fields explicitly where a writer needs them.
 */
export interface DicomSourceInfo {
  studyInstanceUID?: string
  seriesInstanceUID?: string
  frameOfReferenceUID?: string
  /** SOP class / instance of every source slice, in volume order, for SourceImageSequence. */
  sourceInstances?: { sopClassUID: string; sopInstanceUID: string }[]
  seriesNumber?: number
  seriesDescription?: string
  studyDate?: string
  studyTime?: string
  studyID?: string
  accessionNumber?: string
  /** Patient module attributes copied verbatim into derived series (same patient, same study). */
  patient?: Record<string, string>
  manufacturer?: string
  bodyPartExamined?: string
  transferSyntaxUID?: string
  photometricInterpretation?: string
}

export interface VolumeMetadataInit {
  /** Real value = stored * slope + intercept (DICOM Rescale, NIfTI scl_slope/scl_inter). */
  rescaleSlope?: number
  rescaleIntercept?: number
  /** e.g. 'HU' for CT. */
  units?: string
  windowCenter?: number
  windowWidth?: number
  description?: string
  dicom?: DicomSourceInfo
}

export class VolumeMetadata {
  rescaleSlope: number
  rescaleIntercept: number
  units?: string
  windowCenter?: number
  windowWidth?: number
  description?: string
  dicom?: DicomSourceInfo

  constructor(init: VolumeMetadataInit = {}) {
    this.rescaleSlope = init.rescaleSlope ?? 1
    this.rescaleIntercept = init.rescaleIntercept ?? 0
    this.units = init.units
    this.windowCenter = init.windowCenter
    this.windowWidth = init.windowWidth
    this.description = init.description
    this.dicom = init.dicom
  }

  get hasRescale(): boolean {
    return this.rescaleSlope !== 1 || this.rescaleIntercept !== 0
  }

  /** A copy that writers may change without touching the source volume. */
  clone(overrides: VolumeMetadataInit = {}): VolumeMetadata {
    return new VolumeMetadata({ ...this.toInit(), ...overrides })
  }

  private toInit(): VolumeMetadataInit {
    return {
      rescaleSlope: this.rescaleSlope,
      rescaleIntercept: this.rescaleIntercept,
      units: this.units,
      windowCenter: this.windowCenter,
      windowWidth: this.windowWidth,
      description: this.description,
      dicom: this.dicom ? structuredClone(this.dicom) : undefined,
    }
  }

  /** Safe to log: no identifiers, no free text that may hold a name. */
  toJSON(): Record<string, unknown> {
    return {
      rescaleSlope: this.rescaleSlope,
      rescaleIntercept: this.rescaleIntercept,
      units: this.units,
      windowCenter: this.windowCenter,
      windowWidth: this.windowWidth,
      dicom: this.dicom ? '[redacted]' : undefined,
    }
  }

  [inspect.custom](): string {
    return `VolumeMetadata ${JSON.stringify(this.toJSON())}`
  }
}
