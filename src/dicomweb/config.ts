import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from './http.js'

function positive(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  return Number.isFinite(n) && n > 0 ? n : undefined
}

/**
 * The CLI's connection settings, from the environment only (never from arguments, which land in
 * run.json and shell history): RADDIFF_DICOMWEB_TOKEN (bearer) or RADDIFF_DICOMWEB_USER +
 * RADDIFF_DICOMWEB_PASSWORD (basic), RADDIFF_DICOMWEB_CA (PEM file of extra trusted CAs),
 * RADDIFF_DICOMWEB_TIMEOUT_MS, RADDIFF_DICOMWEB_RETRIES, RADDIFF_DICOMWEB_MAX_BYTES.
 */
export function connectionFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionOptions {
  const c: ConnectionOptions = {}
  if (env.RADDIFF_DICOMWEB_TOKEN) c.auth = { kind: 'bearer', token: env.RADDIFF_DICOMWEB_TOKEN }
  else if (env.RADDIFF_DICOMWEB_USER) c.auth = { kind: 'basic', user: env.RADDIFF_DICOMWEB_USER, password: env.RADDIFF_DICOMWEB_PASSWORD ?? '' }
  if (env.RADDIFF_DICOMWEB_CA) c.ca = readFileSync(env.RADDIFF_DICOMWEB_CA)
  c.timeoutMs = positive(env.RADDIFF_DICOMWEB_TIMEOUT_MS)
  const retries = Number(env.RADDIFF_DICOMWEB_RETRIES)
  if (env.RADDIFF_DICOMWEB_RETRIES !== undefined && Number.isInteger(retries) && retries >= 0) c.retries = retries
  c.maxBytes = positive(env.RADDIFF_DICOMWEB_MAX_BYTES)
  return c
}
