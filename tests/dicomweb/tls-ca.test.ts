import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import https from 'node:https'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { rootCertificates } from 'node:tls'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DicomwebClient } from '../../src/dicomweb/index.js'
import { trustedCas } from '../../src/dicomweb/http.js'
import { fixture, startTestServer } from '../service/helpers.js'
import { run } from './cli-run.js'

/**
 * A DICOMweb server behind a private CA: the CA and the server's certificate (for 127.0.0.1) are
 * made here with the openssl CLI, and a node:https server answers QIDO-RS and a one-instance
 * WADO-RS series. Without the CA every path — client option, CLI environment, service servers
 * file — fails with DICOMWEB_TLS at once; with it, each succeeds.
 */
const exec = promisify(execFile)
const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0
const STUDY = '1.2.826.0.1.3680043.8.498.5101'
const SERIES = '1.2.826.0.1.3680043.8.498.5102'

let dir: string
let server: https.Server
let base: string
let caFile: string
/** TCP connections the server accepted: a retried request would open more than one. */
let connections = 0

async function makeCerts(): Promise<{ key: Buffer; cert: Buffer }> {
  const f = (n: string) => path.join(dir, n)
  const ssl = (args: string[]) => exec('openssl', args, { cwd: dir })
  // P-256 keys: generated in milliseconds, where RSA keys take seconds on a loaded machine.
  await ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=raddiff test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  await ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1'])
  await writeFile(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n')
  await ssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf')])
  caFile = f('ca.pem')
  return { key: await readFile(f('server.key')), cert: await readFile(f('server.pem')) }
}

beforeAll(async () => {
  if (!hasOpenssl) return
  dir = await mkdtemp(path.join(tmpdir(), 'raddiff-tls-'))
  const instance = await readFile(fixture('dicom/CT_small.dcm'))
  server = https.createServer(await makeCerts(), (req, res) => {
    const url = req.url ?? ''
    const json = (o: unknown) => void res.writeHead(200, { 'content-type': 'application/dicom+json' }).end(JSON.stringify(o))
    if (url.startsWith(`/dw/studies/${STUDY}/series?`)) return json([{ '0020000E': { vr: 'UI', Value: [SERIES] }, '00080060': { vr: 'CS', Value: ['CT'] }, '00201209': { vr: 'IS', Value: [1] } }])
    if (url === `/dw/studies/${STUDY}/series/${SERIES}/instances`) return json([{ '00080018': { vr: 'UI', Value: ['1.2.826.0.1.3680043.8.498.5103'] } }])
    if (url === `/dw/studies/${STUDY}/series/${SERIES}`) {
      res.writeHead(200, { 'content-type': 'multipart/related; type="application/dicom"; boundary=b0' })
      return void res.end(Buffer.concat([Buffer.from('--b0\r\nContent-Type: application/dicom\r\n\r\n'), instance, Buffer.from('\r\n--b0--\r\n')]))
    }
    res.writeHead(404).end()
  })
  server.on('connection', () => connections++)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `https://127.0.0.1:${(server.address() as { port: number }).port}/dw`
}, 60_000)
afterAll(async () => {
  if (server) {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  }
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe.skipIf(!hasOpenssl)('DICOMweb over TLS with a private CA', () => {
  it('client: without the CA a typed DICOMWEB_TLS error at once (no retries, no UID); with it, QIDO and WADO succeed', async () => {
    const before = connections
    const e = await new DicomwebClient(base, { retries: 3, backoffMs: 10 }).searchSeries(STUDY).catch((x) => x)
    expect(e).toMatchObject({ name: 'DicomwebError', code: 'DICOMWEB_TLS' })
    expect(e.message).toMatch(/QIDO-RS series search: the server's TLS certificate was refused \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)\)/)
    expect(e.message).not.toContain(STUDY)
    expect(e.message).not.toContain('raddiff test CA')
    expect(connections - before).toBe(1)

    const client = new DicomwebClient(base, { ca: await readFile(caFile), retries: 0 })
    expect(await client.searchSeries(STUDY)).toEqual([{ seriesInstanceUID: SERIES, modality: 'CT', instances: 1, seriesNumber: undefined, seriesDescription: undefined }])
    const files = await client.retrieve(path.join(dir, 'wado'), STUDY, SERIES)
    expect(files).toHaveLength(1)
    expect(await readFile(files[0])).toEqual(await readFile(fixture('dicom/CT_small.dcm')))
  })

  it("the CA is added to Node's public roots, not put in their place", async () => {
    const pem = await readFile(caFile, 'utf8')
    const cas = trustedCas(pem)
    expect(cas).toHaveLength(rootCertificates.length + 1)
    expect(rootCertificates.length).toBeGreaterThan(50)
    expect(cas.at(-1)).toBe(pem)
  })

  it('CLI: raddiff inspect fails with DICOMWEB_TLS without RADDIFF_DICOMWEB_CA and lists the series with it', async () => {
    const url = `dicomweb+${base}/studies/${STUDY}`
    const without = await run(['inspect', url, '--json'], { RADDIFF_DICOMWEB_CA: undefined, RADDIFF_DICOMWEB_RETRIES: '0' })
    expect(without.code).not.toBe(0)
    expect(without.lines[0]).toMatchObject({ ok: false, error: { code: 'DICOMWEB_TLS' } })
    const withCa = await run(['inspect', url, '--json'], { RADDIFF_DICOMWEB_CA: caFile, RADDIFF_DICOMWEB_RETRIES: '0' })
    expect(withCa.code).toBe(0)
    expect(withCa.lines[0]).toMatchObject({ ok: true, seriesInstanceUID: SERIES, modality: 'CT', instances: 1 })
  })

  it("service: a server in RADDIFF_DICOMWEB_SERVERS_FILE with caFile imports over TLS; the same server without it answers 502 DICOMWEB_TLS", async () => {
    const file = path.join(dir, 'servers.json')
    await writeFile(file, JSON.stringify({ private: { url: base, caFile, retries: 0 }, untrusted: { url: base, retries: 0 } }))
    const saved = process.env.RADDIFF_DICOMWEB_SERVERS_FILE
    process.env.RADDIFF_DICOMWEB_SERVERS_FILE = file
    let srv: Awaited<ReturnType<typeof startTestServer>> | undefined
    try {
      srv = await startTestServer()
    } finally {
      if (saved === undefined) delete process.env.RADDIFF_DICOMWEB_SERVERS_FILE
      else process.env.RADDIFF_DICOMWEB_SERVERS_FILE = saved
    }
    try {
      const importFrom = (server: string) =>
        fetch(`${srv!.url}/v1/scans/import`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ server, study: STUDY, series: SERIES }) })
      const bad = await importFrom('untrusted')
      expect(bad.status).toBe(502)
      const body = (await bad.json()) as { error: { code: string; message: string } }
      expect(body.error.code).toBe('DICOMWEB_TLS')
      expect(body.error.message).not.toContain(STUDY)
      expect(body.error.message).not.toContain(SERIES)
      const ok = await importFrom('private')
      expect(ok.status).toBe(201)
      const scans = ((await ok.json()) as { scans: { summary: { modality: string; source: string; size: number[] } }[] }).scans
      expect(scans).toHaveLength(1)
      expect(scans[0].summary).toMatchObject({ modality: 'CT', source: 'dicomweb:private', size: [128, 128, 1] })
    } finally {
      await srv.close()
    }
  }, 60_000)
})
