import { mkdir } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { DicomwebError } from './errors.js'
import { readText, request, type ConnectionOptions } from './http.js'
import { boundaryOf, multipartBody, writeMultipartParts } from './multipart.js'

/** One QIDO-RS series result, with only the attributes raddiff shows (no patient data). */
export interface SeriesEntry {
  seriesInstanceUID: string
  modality?: string
  seriesNumber?: number
  seriesDescription?: string
  instances?: number
}

/** A DICOM JSON dataset (PS3.18 F.2): tag → { vr, Value }. */
type DicomJson = Record<string, { vr: string; Value?: unknown[] }>

const first = (ds: DicomJson, tag: string): unknown => ds[tag]?.Value?.[0]
const str = (ds: DicomJson, tag: string): string | undefined => {
  const v = first(ds, tag)
  return typeof v === 'string' ? v : undefined
}
const num = (ds: DicomJson, tag: string): number | undefined => {
  const v = Number(first(ds, tag))
  return first(ds, tag) === undefined || !Number.isFinite(v) ? undefined : v
}

export interface StoreResult {
  /** SOP Instance UIDs the server reports stored. */
  stored: string[]
  /** RetrieveURL of the study, when the server gives one. */
  retrieveUrl?: string
}

const WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'

/**
 * A DICOMweb (QIDO-RS / WADO-RS / STOW-RS) client on node:http(s). Written on Node's own HTTP
 * stack rather than `dicomweb-client` because that library buffers whole multipart bodies in
 * memory (XHR / fetch arrayBuffer) and has no custom-CA or streaming upload in Node; here
 * retrieval streams each part to disk and STOW streams from disk.
 */
export class DicomwebClient {
  constructor(
    readonly base: string,
    private readonly conn: ConnectionOptions = {},
  ) {
    this.base = base.replace(/\/+$/, '')
  }

  private async json(path: string, what: string): Promise<DicomJson[]> {
    const res = await request({ method: 'GET', url: `${this.base}${path}`, headers: { accept: 'application/dicom+json' }, what }, this.conn)
    // QIDO answers 204 No Content for an empty result.
    if (res.statusCode === 204) {
      res.resume()
      return []
    }
    const text = await readText(res, what)
    if (!text.trim()) return []
    try {
      const parsed = JSON.parse(text) as unknown
      if (!Array.isArray(parsed)) throw new Error('not an array')
      return parsed as DicomJson[]
    } catch (cause) {
      throw new DicomwebError('DICOMWEB_BAD_RESPONSE', `${what}: the answer is not DICOM JSON`, { cause })
    }
  }

  /** QIDO-RS: the series of a study. */
  async searchSeries(study: string): Promise<SeriesEntry[]> {
    const list = await this.json(`/studies/${study}/series?includefield=00201209`, 'QIDO-RS series search')
    return list
      .map((ds) => ({
        seriesInstanceUID: str(ds, '0020000E') ?? '',
        modality: str(ds, '00080060'),
        seriesNumber: num(ds, '00200011'),
        seriesDescription: str(ds, '0008103E'),
        instances: num(ds, '00201209'),
      }))
      .filter((s) => s.seriesInstanceUID)
  }

  /** QIDO-RS: SOP Instance UIDs of a series. */
  async searchInstances(study: string, series: string): Promise<string[]> {
    const list = await this.json(`/studies/${study}/series/${series}/instances`, 'QIDO-RS instance search')
    return list.map((ds) => str(ds, '00080018') ?? '').filter(Boolean)
  }

  /**
   * WADO-RS: a series (or a whole study) into `folder`, one file per instance, streamed. The
   * instance list is taken by QIDO first and checked against what arrived, so a series that
   * gains or loses instances during the transfer is reported instead of loaded half.
   */
  async retrieve(folder: string, study: string, series?: string): Promise<string[]> {
    const what = series ? 'WADO-RS series retrieval' : 'WADO-RS study retrieval'
    const expected = series ? await this.searchInstances(study, series) : undefined
    await mkdir(folder, { recursive: true })
    const url = `${this.base}/studies/${study}${series ? `/series/${series}` : ''}`
    const res: IncomingMessage = await request({ method: 'GET', url, headers: { accept: WADO_ACCEPT }, what }, this.conn)
    const boundary = boundaryOf(res.headers['content-type'])
    if (!boundary) {
      res.resume()
      throw new DicomwebError('DICOMWEB_BAD_RESPONSE', `${what}: the answer is not multipart/related with a boundary`)
    }
    const files = await writeMultipartParts(res as AsyncIterable<Buffer>, boundary, folder, { maxBytes: this.conn.maxBytes ?? 4 * 2 ** 30, what })
    if (files.length === 0) throw new DicomwebError('DICOMWEB_NOT_FOUND', `${what}: the server returned no instances`)
    if (expected) {
      const after = await this.searchInstances(study, series!)
      const same = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join('\\') === [...b].sort().join('\\')
      if (!same(expected, after) || files.length !== expected.length) {
        throw new DicomwebError('DICOMWEB_SERIES_CHANGED', `${what}: ${expected.length} instances listed before, ${after.length} after, ${files.length} received`)
      }
    }
    return files
  }

  /**
   * STOW-RS: stores `files` in one request (so a refused request stores nothing). A partial
   * store (HTTP 202 / 409 with a FailedSOPSequence) is an error that lists what was and was not
   * stored, so the caller can report it and push again.
   */
  async store(files: string[], study?: string): Promise<StoreResult> {
    const what = 'STOW-RS store'
    const body = await multipartBody(files)
    const res = await request(
      {
        method: 'POST',
        url: `${this.base}/studies${study ? `/${study}` : ''}`,
        headers: { 'content-type': body.contentType, 'content-length': String(body.length), accept: 'application/dicom+json' },
        body: body.stream,
        what,
      },
      this.conn,
      (s) => (s >= 200 && s < 300) || s === 409,
    )
    const status = res.statusCode ?? 0
    const text = await readText(res, what)
    let ds: DicomJson = {}
    try {
      const parsed = text.trim() ? (JSON.parse(text) as unknown) : {}
      ds = (Array.isArray(parsed) ? parsed[0] : parsed) as DicomJson
    } catch (cause) {
      throw new DicomwebError('DICOMWEB_BAD_RESPONSE', `${what}: the answer is not DICOM JSON (HTTP ${status})`, { cause, status })
    }
    const uids = (tag: string) =>
      ((ds?.[tag]?.Value ?? []) as DicomJson[]).map((item) => str(item, '00081155') ?? '').filter(Boolean)
    const stored = uids('00081199')
    const failed = uids('00081198')
    if (status === 409 || failed.length > 0 || stored.length < files.length) {
      throw new DicomwebError('DICOMWEB_STORE_FAILED', `${what}: ${stored.length} of ${files.length} instances stored, ${failed.length} refused (HTTP ${status})`, { status, stored, failed })
    }
    return { stored, retrieveUrl: str(ds, '00081190') }
  }
}
