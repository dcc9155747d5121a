import { createRequire } from 'node:module'

/** A naturalised dataset: DICOM keywords as keys, as dcmjs reads and writes them. */
export type NaturalDataset = Record<string, unknown>

interface TagEntry {
  tag: string
  vr: string
  name: string
}

/** The slice of dcmjs the writers and the SEG reader use; dcmjs ships no type declarations. */
interface DcmjsData {
  DicomDict: new (meta: Record<string, unknown>) => { dict: Record<string, unknown>; write(): ArrayBuffer }
  DicomMessage: {
    readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): { meta: Record<string, unknown>; dict: Record<string, unknown> }
  }
  /** PS3.5 8.1.1 1-bit data: LSB first, one byte (0 or 255) out per bit in. */
  BitArray: { unpack(packed: ArrayBuffer | Uint8Array): Uint8Array }
  DicomMetaDictionary: {
    naturalizeDataset(dataset: Record<string, unknown>): NaturalDataset
    denaturalizeDataset(dataset: NaturalDataset): Record<string, unknown>
    nameMap: Record<string, TagEntry>
    dictionary: Record<string, TagEntry>
  }
}

// createRequire loads the CommonJS build: dcmjs has no .d.ts, and this keeps the untyped
// surface to the few members declared above instead of an ambient `declare module`.
const require = createRequire(import.meta.url)
export const dcmjsData = (require('dcmjs') as { data: DcmjsData }).data
