import type { ModelCard } from '../../src/engine/model-card.js'
import type { RawVolumeHeader } from '../../src/service/raw-volume-format.js'
/** The service's public API as the viewer uses it. Errors become ApiError with the service's own code and message. */

export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly status: number) {
    super(message)
  }
}

let token = ''
export const setToken = (t: string): void => {
  token = t.trim()
}
const headers = (extra: Record<string, string> = {}): Record<string, string> => (token ? { authorization: `Bearer ${token}`, ...extra } : extra)

export async function call(url: string, init: RequestInit = {}): Promise<Response> {
  let res: Response
  try {
    res = await fetch(url, { ...init, headers: headers(init.headers as Record<string, string>) })
  } catch {
    throw new ApiError('NETWORK', 'the service cannot be reached; is it running?', 0)
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined
    const retry = res.headers.get('retry-after')
    const msg = body?.error?.message ?? `${res.status} ${res.statusText}`
    throw new ApiError(body?.error?.code ?? `HTTP_${res.status}`, retry ? `${msg} (retry after ${retry} s)` : msg, res.status)
  }
  return res
}

export interface SeriesSummary {
  format: string
  source: string
  files: number
  size: [number, number, number]
  spacing: [number, number, number]
  modality: string
  voxelType: string
  seriesNumber?: number
  seriesDescription?: string
  transferSyntax?: { name: string }
  warnings: string[]
}
export interface Scan { id: string; created: string; bytes: number; summary: SeriesSummary }
export interface UploadResult { scans: Scan[]; problems: { name: string; code: string; message: string }[] }

export interface Job {
  id: string
  scanId: string
  task: string
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'
  progress: number
  stage: string | null
  error: { code: string; message: string } | null
  provenance?: { model?: { name: string; version: string }; steps?: number; seed?: number; samples?: number; limitations?: string[] } | null
  report?: Record<string, unknown> | null
}
export interface JobUpdate { id: string; state: Job['state']; progress: number; stage: string | null; errorCode: string | null }
export interface Output { role: string; label: string; bytes: number }

export async function uploadFiles(files: { file: File; name: string }[]): Promise<UploadResult> {
  const form = new FormData()
  for (const f of files) form.append('files', f.file, f.name)
  return (await call('/v1/scans', { method: 'POST', body: form })).json()
}

export async function startJob(scanId: string, task: string, params: Record<string, unknown>): Promise<Job> {
  return (await call('/v1/jobs', { method: 'POST', body: JSON.stringify({ scanId, task, params }), headers: { 'content-type': 'application/json' } })).json()
}

export const getScan = async (id: string): Promise<Scan> => (await call(`/v1/scans/${id}`)).json()
export const getJob = async (id: string): Promise<Job> => (await call(`/v1/jobs/${id}`)).json()
export const cancelJob = async (id: string): Promise<void> => void (await call(`/v1/jobs/${id}`, { method: 'DELETE' }))
export const listOutputs = async (id: string): Promise<Output[]> => ((await (await call(`/v1/jobs/${id}/results`)).json()) as { outputs: Output[] }).outputs

/**
 * Progress from /v1/jobs/:id/events until the `end` event. EventSource cannot send an
 * Authorization header, so with a token the same stream is read through fetch.
 */
export function followJob(id: string, onUpdate: (u: JobUpdate) => void): { done: Promise<JobUpdate>; close(): void } {
  const url = `/v1/jobs/${id}/events`
  if (!token) {
    const es = new EventSource(url)
    const done = new Promise<JobUpdate>((resolve, reject) => {
      es.addEventListener('progress', (e) => onUpdate(JSON.parse((e as MessageEvent).data)))
      es.addEventListener('end', (e) => {
        es.close()
        resolve(JSON.parse((e as MessageEvent).data))
      })
      es.onerror = () => {
        // EventSource retries on its own; give up only when the server closed for good.
        if (es.readyState === EventSource.CLOSED) reject(new ApiError('NETWORK', 'lost the progress stream', 0))
      }
    })
    return { done, close: () => es.close() }
  }
  const ctrl = new AbortController()
  const done = (async () => {
    const res = await call(url, { signal: ctrl.signal })
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let buf = ''
    for (;;) {
      const { value, done: end } = await reader.read()
      if (end) throw new ApiError('NETWORK', 'the progress stream ended early', 0)
      buf += value
      let i: number
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        const ev = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (!data) continue
        const u = JSON.parse(data) as JobUpdate
        if (ev === 'end') return u
        onUpdate(u)
      }
    }
  })()
  return { done, close: () => ctrl.abort() }
}

export interface RawVolume extends RawVolumeHeader {
  data: Float32Array
}

/** The viewer route: u32 header length, JSON header, float32 voxels. */
export const fetchVolume = (jobId: string, role: string): Promise<RawVolume> => rawVolume(`/v1/jobs/${jobId}/volumes/${role}`)

/** An uploaded scan in the same format, for the in-browser preview (no job needed). */
export const fetchScanVolume = (scanId: string): Promise<RawVolume> => rawVolume(`/v1/scans/${scanId}/volume`)

async function rawVolume(url: string): Promise<RawVolume> {
  return decodeRawVolume(await (await call(url)).arrayBuffer())
}

/** The raw volume format of the viewer routes (raw-volume-format.ts). */
export function decodeRawVolume(buf: ArrayBuffer): RawVolume {
  const n = new DataView(buf).getUint32(0, true)
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)))
  return { ...header, data: new Float32Array(buf, 4 + n) }
}

/** An installed model as GET /v1/models lists it: its card and the sha256 of its ONNX file. */
export interface ModelInfo {
  name: string
  version: string
  tasks: string[]
  modality: string
  sha256: string
  bytes: number
  verified: boolean
  href: string
  card: ModelCard
}

export const listModels = async (): Promise<ModelInfo[]> => ((await (await call('/v1/models')).json()) as { models: ModelInfo[] }).models

/** A model's ONNX bytes (the caller checks them against the sha256 before using them). */
export const fetchModelFile = async (m: Pick<ModelInfo, 'href'>): Promise<ArrayBuffer> => (await call(m.href)).arrayBuffer()
