import { createHmac, randomBytes } from 'node:crypto'
import { dcmjsData, type NaturalDataset } from './dicom-dcmjs.js'

/**
 * PS3.15 Annex E Table E.1-1 action codes: D dummy value, Z zero length (or dummy), X remove,
 * K keep, C clean, U replace UID consistently. Where the table offers a choice (X/Z/D …) the
 * weakest that keeps our written IODs valid is used: X for Type 3, Z for Type 2.
 */
export type ProfileAction = 'D' | 'Z' | 'X' | 'K' | 'C' | 'U'

/**
 * The Basic Application Level Confidentiality Profile for the attributes raddiff's writer emits
 * and those the loaders carry from a source (patient, study, equipment, people, free text).
 * UIDs not listed here are handled by VR (every UI is replaced except class / syntax UIDs).
 */
export const BASIC_PROFILE: Readonly<Record<string, ProfileAction>> = {
  // Patient
  PatientName: 'Z',
  PatientID: 'Z',
  PatientBirthDate: 'Z',
  PatientBirthTime: 'X',
  PatientSex: 'Z',
  PatientAge: 'X',
  PatientSize: 'X',
  PatientWeight: 'X',
  PatientAddress: 'X',
  PatientTelephoneNumbers: 'X',
  PatientMotherBirthName: 'X',
  PatientBirthName: 'X',
  OtherPatientIDs: 'X',
  OtherPatientNames: 'X',
  OtherPatientIDsSequence: 'X',
  IssuerOfPatientID: 'X',
  EthnicGroup: 'X',
  Occupation: 'X',
  MilitaryRank: 'X',
  MedicalRecordLocator: 'X',
  AdditionalPatientHistory: 'X',
  PatientComments: 'X',
  PatientInsurancePlanCodeSequence: 'X',
  PatientReligiousPreference: 'X',
  PregnancyStatus: 'X',
  SmokingStatus: 'X',
  ResponsiblePerson: 'X',
  ResponsibleOrganization: 'X',
  // Study
  StudyDate: 'Z',
  StudyTime: 'Z',
  AccessionNumber: 'Z',
  StudyID: 'Z',
  ReferringPhysicianName: 'Z',
  ReferringPhysicianAddress: 'X',
  ReferringPhysicianTelephoneNumbers: 'X',
  ConsultingPhysicianName: 'X',
  PhysiciansOfRecord: 'X',
  NameOfPhysiciansReadingStudy: 'X',
  RequestingPhysician: 'X',
  PerformingPhysicianName: 'X',
  OperatorsName: 'X',
  StudyDescription: 'X',
  AdmittingDiagnosesDescription: 'X',
  RequestAttributesSequence: 'X',
  ReferencedPatientSequence: 'X',
  ReferencedStudySequence: 'X',
  // Series, equipment, dates
  SeriesDate: 'X',
  SeriesTime: 'X',
  AcquisitionDate: 'X',
  AcquisitionTime: 'X',
  AcquisitionDateTime: 'X',
  ContentDate: 'Z',
  ContentTime: 'Z',
  InstanceCreationDate: 'X',
  InstanceCreationTime: 'X',
  PerformedProcedureStepStartDate: 'X',
  PerformedProcedureStepStartTime: 'X',
  PerformedProcedureStepID: 'X',
  PerformedProcedureStepDescription: 'X',
  ProtocolName: 'X',
  InstitutionName: 'X',
  InstitutionAddress: 'X',
  InstitutionalDepartmentName: 'X',
  StationName: 'X',
  DeviceSerialNumber: 'X',
  BodyPartExamined: 'X',
  // Free text: raddiff writes these itself, never copying the source's, so they are kept
  // under the Clean Descriptors Option (113105) rather than removed (X).
  SeriesDescription: 'C',
  DerivationDescription: 'C',
  ImageComments: 'C',
  // UIDs
  StudyInstanceUID: 'U',
  SeriesInstanceUID: 'U',
  SOPInstanceUID: 'U',
  FrameOfReferenceUID: 'U',
  ReferencedSOPInstanceUID: 'U',
  MediaStorageSOPInstanceUID: 'U',
  // Kept: they describe the image, not the person.
  PatientIdentityRemoved: 'K',
}

/** UIDs that name a standard class or encoding, never an instance: never replaced. */
const KEEP_UIDS = new Set([
  'SOPClassUID',
  'ReferencedSOPClassUID',
  'MediaStorageSOPClassUID',
  'TransferSyntaxUID',
  'ImplementationClassUID',
  'CodingSchemeUID',
  'ContextGroupExtensionCreatorUID',
  'ReferencedTransferSyntaxUID',
])

/** LO is 64 characters a value, so the method is two values. */
const METHOD = ['PS3.15 E.1 Basic Application Confidentiality Profile', 'Clean Descriptors: raddiff-written text only']

export interface Deidentifier {
  /** Same source UID → same new UID for the life of this object (one run). */
  uid(source: string): string
  /** A pseudonym for a source value (e.g. PatientID) that does not reveal it. */
  pseudonym(source: string, prefix: string): string
}

/**
 * A keyed-hash UID mapper: a per-run secret makes the new UIDs unlinkable to the old ones by
 * anyone without the secret, while every file of a run maps a given UID the same way.
 */
export function createDeidentifier(secret: Uint8Array = randomBytes(32)): Deidentifier {
  const mac = (v: string): Buffer => createHmac('sha256', secret).update(v).digest()
  return {
    uid(source: string): string {
      const h = mac(`uid:${source.trim()}`).subarray(0, 16)
      // UUID-derived form (PS3.5 B.2) with RFC 9562 version 8 / variant bits, so it reads as a UUID.
      h[6] = (h[6] & 0x0f) | 0x80
      h[8] = (h[8] & 0x3f) | 0x80
      return `2.25.${BigInt(`0x${h.toString('hex')}`).toString()}`
    },
    pseudonym(source: string, prefix: string): string {
      return `${prefix}${mac(`id:${source}`).subarray(0, 6).toString('hex').toUpperCase()}`
    },
  }
}

const { nameMap } = dcmjsData.DicomMetaDictionary

function vrOf(key: string): string | undefined {
  return nameMap[key]?.vr
}

/** Keys dcmjs does not know are private or retired-unknown tags: the profile removes them (X). */
function isPrivateOrUnknown(key: string): boolean {
  if (!nameMap[key]) return true
  const group = parseInt(nameMap[key].tag.slice(1, 5), 16)
  return group % 2 === 1
}

function walk(ds: NaturalDataset, d: Deidentifier): NaturalDataset {
  const out: NaturalDataset = {}
  for (const [key, value] of Object.entries(ds)) {
    if (key === '_vrMap' || key === '_meta') {
      out[key] = key === '_meta' && value ? walk(value as NaturalDataset, d) : value
      continue
    }
    if (isPrivateOrUnknown(key)) continue
    const vr = vrOf(key)
    const action = BASIC_PROFILE[key] ?? (vr === 'UI' && !KEEP_UIDS.has(key) ? 'U' : 'K')
    switch (action) {
      case 'X':
        continue
      case 'Z':
        out[key] = key === 'PatientID' && typeof value === 'string' && value ? d.pseudonym(value, 'ANON-') : ''
        continue
      case 'D':
        out[key] = vr === 'DA' ? '19000101' : vr === 'TM' ? '000000' : 'ANONYMIZED'
        continue
      case 'U':
        out[key] = Array.isArray(value) ? value.map((u) => (typeof u === 'string' ? d.uid(u) : u)) : typeof value === 'string' && value ? d.uid(value) : value
        continue
      default:
        out[key] = vr === 'SQ' && Array.isArray(value) ? value.map((item) => walk(item as NaturalDataset, d)) : value
    }
  }
  return out
}

const code = (value: string, meaning: string): NaturalDataset => ({ CodeValue: value, CodingSchemeDesignator: 'DCM', CodeMeaning: meaning })

/**
 * Applies the Basic Profile to one naturalised dataset (and its `_meta`), recursing into
 * sequences, and records what was done. Dates are removed or emptied, not shifted, so
 * LongitudinalTemporalInformationModified is REMOVED.
 */
export function deidentifyDataset(ds: NaturalDataset, d: Deidentifier): NaturalDataset {
  const out = walk(ds, d)
  if (!out.PatientName) out.PatientName = ''
  if (!out.PatientID) out.PatientID = ''
  out.PatientIdentityRemoved = 'YES'
  out.LongitudinalTemporalInformationModified = 'REMOVED'
  out.DeidentificationMethod = METHOD
  out.DeidentificationMethodCodeSequence = [
    code('113100', 'Basic Application Confidentiality Profile'),
    code('113105', 'Clean Descriptors Option'),
  ]
  return out
}
