import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import { rootCertificates } from 'node:tls'
import type { Readable } from 'node:stream'
import { DicomwebError, errorForStatus } from './errors.js'

export type DicomwebAuth = { kind: 'basic'; user: string; password: string } | { kind: 'bearer'; token: string }

/** How to reach one DICOMweb server. Credentials stay here: they are never logged or echoed. */
export interface ConnectionOptions {
  auth?: DicomwebAuth
  /** Extra trusted CA certificates (PEM), for a server with a private CA. */
  ca?: string | Buffer
  /** Idle timeout per request (no byte received for this long), ms. Default 30 000. */
  timeoutMs?: number
  /** Retries of idempotent requests after a network failure or 429 / 502 / 503 / 504. Default 3. */
  retries?: number
  /** First back-off, doubled each retry, ms. Default 250. */
  backoffMs?: number
  /** Most bytes one retrieval may bring (all parts together). Default 4 GiB. */
  maxBytes?: number
}

export interface RequestSpec {
  method: 'GET' | 'POST'
  url: string
  headers?: Record<string, string>
  /** A factory, so that a retried request gets a fresh body stream. */
  body?: () => Readable
  /** Operation name for error messages (no UIDs). */
  what: string
}

const RETRY_STATUS = new Set([429, 502, 503, 504])

/**
 * OpenSSL's certificate verification failures (X509_V_ERR_* names) and Node's host-name check:
 * a configuration problem that retrying cannot fix, and one the user fixes by naming the CA.
 */
const TLS_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/**
 * Node's `ca` option replaces the bundled Mozilla roots instead of adding to them: a run that
 * reads from a private PACS and pushes to a publicly certified one would lose the latter. The
 * configured CA is therefore added to the roots, as the option's documentation here promises.
 */
export function trustedCas(ca: string | Buffer): string[] {
  return [...rootCertificates, ca.toString()]
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function authHeader(auth: DicomwebAuth | undefined): Record<string, string> {
  if (!auth) return {}
  if (auth.kind === 'bearer') return { authorization: `Bearer ${auth.token}` }
  return { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` }
}

function once(spec: RequestSpec, conn: ConnectionOptions): Promise<IncomingMessage> {
  const u = new URL(spec.url)
  const lib = u.protocol === 'https:' ? https : http
  const timeout = conn.timeoutMs ?? 30_000
  return new Promise((resolve, reject) => {
    let response: IncomingMessage | undefined
    const req = lib.request(
      u,
      {
        method: spec.method,
        headers: { ...spec.headers, ...authHeader(conn.auth) },
        ...(u.protocol === 'https:' && conn.ca ? { ca: trustedCas(conn.ca) } : {}),
      },
      (res) => {
        response = res
        resolve(res)
      },
    )
    // The request's idle timeout stays armed until the response body ends (Node removes its
    // socket listener then), so a server that stalls mid-body fails the read with this code.
    req.setTimeout(timeout, () => {
      const e = new DicomwebError('DICOMWEB_TIMEOUT', `${spec.what}: no data from the server for ${timeout} ms`)
      response?.destroy(e)
      req.destroy(e)
    })
    req.on('error', (cause) => {
      if (cause instanceof DicomwebError) return reject(cause)
      const code = (cause as NodeJS.ErrnoException).code
      if (code && TLS_CERT_CODES.has(code)) {
        // The OpenSSL code names the failure; the message text stays out (it can quote the certificate's names).
        return reject(new DicomwebError('DICOMWEB_TLS', `${spec.what}: the server's TLS certificate was refused (${code}); if it is signed by a private CA, give that CA's PEM file (RADDIFF_DICOMWEB_CA, or caFile in the service's servers file)`, { cause }))
      }
      reject(new DicomwebError('DICOMWEB_UNREACHABLE', `${spec.what}: the server cannot be reached (${(cause as NodeJS.ErrnoException).code ?? 'network error'})`, { cause }))
    })
    const body = spec.body?.()
    if (body) {
      body.on('error', (cause) => req.destroy(cause))
      body.pipe(req)
    } else req.end()
  })
}

/** Drains and discards a response body (so the socket can be reused). */
async function drain(res: IncomingMessage): Promise<void> {
  try {
    for await (const _ of res);
  } catch {
    // a body we do not read cannot fail us
  }
}

/**
 * One request with retries for idempotent ones (GET): network failures and 429 / 502 / 503 / 504
 * are retried with exponential back-off; 4xx answers fail at once with their typed error.
 * Resolves to a response with a 2xx status whose body is still unread.
 */
export async function request(spec: RequestSpec, conn: ConnectionOptions, okStatus: (s: number) => boolean = (s) => s >= 200 && s < 300): Promise<IncomingMessage> {
  const retries = spec.method === 'GET' ? (conn.retries ?? 3) : 0
  let last: unknown
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await sleep((conn.backoffMs ?? 250) * 2 ** (attempt - 1))
    let res: IncomingMessage
    try {
      res = await once(spec, conn)
    } catch (e) {
      last = e
      if (e instanceof DicomwebError && (e.code === 'DICOMWEB_UNREACHABLE' || e.code === 'DICOMWEB_TIMEOUT')) continue
      throw e
    }
    const status = res.statusCode ?? 0
    if (okStatus(status)) return res
    await drain(res)
    last = errorForStatus(status, spec.what)
    if (!RETRY_STATUS.has(status)) throw last
  }
  throw last
}

/** A whole (small) response body as text, capped at `max` bytes. */
export async function readText(res: IncomingMessage, what: string, max = 64 << 20): Promise<string> {
  const chunks: Buffer[] = []
  let n = 0
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      n += c.length
      if (n > max) {
        res.destroy()
        throw new DicomwebError('DICOMWEB_TOO_LARGE', `${what}: the answer exceeds ${max} bytes`)
      }
      chunks.push(c)
    }
  } catch (e) {
    if (e instanceof DicomwebError) throw e
    throw new DicomwebError('DICOMWEB_UNREACHABLE', `${what}: the connection was lost while reading the answer`, { cause: e })
  }
  return Buffer.concat(chunks).toString('utf8')
}
