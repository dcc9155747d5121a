import { createRequire } from 'node:module'

/** A naturalised dataset: DICOM keywords as keys, as dcmjs reads and writes them. */
export type NaturalDataset = Record<string, unknown>

interface TagEntry {
  tag: string
  vr: string
  name: string
}

/** The slice of dcmjs the writer uses; dcmjs ships no type declarations. */
interface DcmjsData {
  DicomDict: new (meta: Record<string, unknown>) => { dict: Record<string, unknown>; write(): ArrayBuffer }
  DicomMetaDictionary: {
    denaturalizeDataset(dataset: NaturalDataset): Record<string, unknown>
    nameMap: Record<string, TagEntry>
    dictionary: Record<string, TagEntry>
  }
}

// createRequire loads the CommonJS build: dcmjs has no .d.ts, and this keeps the untyped
// surface to the few members declared above instead of an ambient `declare module`.
const require = createRequire(import.meta.url)
export const dcmjsData = (require('dcmjs') as { data: DcmjsData }).data
