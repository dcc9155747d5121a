import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DicomwebClient } from '../../src/dicomweb/index.js'

/**
 * Server behaviours a real PACS shows only under load or misconfiguration, played by a local
 * HTTP server: a stall mid-body, 503 then success, 401, and a STOW-RS partial store.
 */
let dir: string
let server: http.Server
let base: string
const hits: Record<string, number> = {}
const json = (o: unknown) => JSON.stringify(o)

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'raddiff-dwfaults-'))
  server = http.createServer((req, res) => {
    const key = `${req.method} ${req.url}`
    hits[key] = (hits[key] ?? 0) + 1
    if (req.url?.startsWith('/stall/studies/1/series/2/instances')) return void res.writeHead(200, { 'content-type': 'application/dicom+json' }).end(json([{ '00080018': { vr: 'UI', Value: ['9.1'] } }]))
    if (req.url === '/stall/studies/1/series/2') {
      res.writeHead(200, { 'content-type': 'multipart/related; type="application/dicom"; boundary=b' })
      res.write('--b\r\nContent-Type: application/dicom\r\n\r\nDICM')
      return // never ends
    }
    if (req.url?.startsWith('/flaky/studies/1/series')) {
      if (hits[key] < 3) return void res.writeHead(503).end()
      return void res.writeHead(200, { 'content-type': 'application/dicom+json' }).end(json([{ '0020000E': { vr: 'UI', Value: ['2'] }, '00080060': { vr: 'CS', Value: ['MR'] } }]))
    }
    if (req.url?.startsWith('/locked/')) return void res.writeHead(401).end()
    if (req.method === 'POST' && req.url === '/partial/studies') {
      req.resume()
      req.on('end', () =>
        res.writeHead(202, { 'content-type': 'application/dicom+json' }).end(
          json({
            '00081199': { vr: 'SQ', Value: [{ '00081155': { vr: 'UI', Value: ['9.1'] } }] },
            '00081198': { vr: 'SQ', Value: [{ '00081155': { vr: 'UI', Value: ['9.2'] }, '00081197': { vr: 'US', Value: [42752] } }] },
          }),
        ),
      )
      return
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
  await rm(dir, { recursive: true, force: true })
})

describe('DICOMweb client faults', () => {
  it('a server that stalls mid-body fails with DICOMWEB_TIMEOUT', async () => {
    const c = new DicomwebClient(`${base}/stall`, { timeoutMs: 300, retries: 0 })
    const e = await c.retrieve(path.join(dir, 'stall'), '1', '2').catch((x) => x)
    expect(e.code).toBe('DICOMWEB_TIMEOUT')
  })

  it('503 is retried with back-off; 401 is not', async () => {
    const c = new DicomwebClient(`${base}/flaky`, { retries: 3, backoffMs: 10 })
    expect((await c.searchSeries('1')).map((s) => s.modality)).toEqual(['MR'])
    expect(hits['GET /flaky/studies/1/series?includefield=00201209']).toBe(3)
    const locked = new DicomwebClient(`${base}/locked`, { retries: 3, backoffMs: 10, auth: { kind: 'bearer', token: 'secret-token' } })
    const e = await locked.searchSeries('1').catch((x) => x)
    expect(e.code).toBe('DICOMWEB_UNAUTHORIZED')
    expect(String(e.message)).not.toContain('secret-token')
    expect(hits['GET /locked/studies/1/series?includefield=00201209']).toBe(1)
  })

  it('a partial STOW-RS store is an error that says what was and was not stored', async () => {
    const files = [path.join(dir, 'a.dcm'), path.join(dir, 'b.dcm')]
    for (const f of files) await writeFile(f, 'x')
    const e = await new DicomwebClient(`${base}/partial`).store(files).catch((x) => x)
    expect(e).toMatchObject({ code: 'DICOMWEB_STORE_FAILED', status: 202, stored: ['9.1'], failed: ['9.2'] })
  })
})
