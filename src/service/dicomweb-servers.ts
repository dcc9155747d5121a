import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from '../dicomweb/index.js'

/** One DICOMweb server the service may talk to, as an operator configures it. */
export interface DicomwebServerConfig {
  /** Service root, http(s)://host/dicom-web */
  url: string
  user?: string
  password?: string
  token?: string
  /** PEM file with extra trusted CA certificates. */
  caFile?: string
  timeoutMs?: number
  retries?: number
}

export type DicomwebServers = Map<string, { base: string; conn: ConnectionOptions }>

/**
 * Named servers with their credentials. Requests name a server, never a URL: the service only
 * ever connects to what the operator listed here (no server-side request forgery).
 */
export function resolveServers(cfg: Record<string, DicomwebServerConfig> = {}): DicomwebServers {
  const out: DicomwebServers = new Map()
  for (const [name, s] of Object.entries(cfg)) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new Error(`DICOMweb server name "${name}" must be 1-64 letters, digits, _ or -`)
    const u = new URL(s.url)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`DICOMweb server "${name}": the URL must be http(s)`)
    const conn: ConnectionOptions = { timeoutMs: s.timeoutMs, retries: s.retries }
    if (s.token) conn.auth = { kind: 'bearer', token: s.token }
    else if (s.user) conn.auth = { kind: 'basic', user: s.user, password: s.password ?? '' }
    if (s.caFile) conn.ca = readFileSync(s.caFile)
    out.set(name, { base: s.url.replace(/\/+$/, ''), conn })
  }
  return out
}

/** RADDIFF_DICOMWEB_SERVERS_FILE: a JSON file {"name": {url, user, password | token, caFile}}. */
export function serversFromEnv(env: NodeJS.ProcessEnv = process.env): DicomwebServers {
  const file = env.RADDIFF_DICOMWEB_SERVERS_FILE
  return resolveServers(file ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, DicomwebServerConfig>) : {})
}
