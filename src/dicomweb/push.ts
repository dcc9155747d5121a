import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { DicomwebClient } from './client.js'
import { DicomwebError } from './errors.js'

/** The DICOM files raddiff wrote into one output folder (IM00001.dcm …), sorted. */
export async function dicomFilesIn(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((n) => /^IM\d{5,}\.dcm$/.test(n)).sort().map((n) => path.join(folder, n))
}

export interface PushReport {
  ok: boolean
  /** Per output folder: instances stored, or the typed error. */
  outputs: { folder: string; stored: number; error?: { code: string; message: string; stored?: number } }[]
}

/**
 * Stores each output folder with one STOW-RS request (one series per request: a request the
 * server refuses stores none of that series). Every folder is tried; what failed is reported
 * with its code, the local files stay, and the same call can be made again (a STOW of an
 * instance the server already holds replaces it with identical content).
 */
export async function pushFolders(client: DicomwebClient, folders: string[], study?: string): Promise<PushReport> {
  const outputs: PushReport['outputs'] = []
  for (const folder of folders) {
    try {
      const files = await dicomFilesIn(folder)
      const r = await client.store(files, study)
      outputs.push({ folder, stored: r.stored.length })
    } catch (e) {
      const err = e instanceof DicomwebError ? e : new DicomwebError('DICOMWEB_STORE_FAILED', 'STOW-RS store: unexpected failure', { cause: e })
      outputs.push({ folder, stored: err.stored?.length ?? 0, error: { code: err.code, message: err.message, stored: err.stored?.length } })
    }
  }
  return { ok: outputs.every((o) => !o.error), outputs }
}
