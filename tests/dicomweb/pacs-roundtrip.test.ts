import { execFile, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DicomwebClient } from '../../src/dicomweb/index.js'
import { releaseSessions } from '../../src/engine/index.js'
import { writeDicomSeries } from '../../src/io/writers/write-dicom.js'
import { runTask } from '../../src/pipelines/index.js'
import { postJob, startTestServer, waitForState, type TestServer } from '../service/helpers.js'
import { decodeRaw, ones } from '../service/seg-helpers.js'
import { readImageFile } from '../../src/io/image/index.js'
import { toFloat32 } from '../../src/volume/index.js'
import { croppedFixture, makeModelsDir, repoRoot } from '../pipelines/helpers.js'
import { run } from './cli-run.js'
import { hasOrthanc, PASSWORD, startOrthanc, USER, type OrthancInstance } from './orthanc.js'

const exec = promisify(execFile)
const hasPydicom = spawnSync('/usr/bin/python3', ['-c', 'import pydicom, numpy'], { stdio: 'ignore' }).status === 0
const hasDciodvfy = spawnSync('dciodvfy', [], { stdio: 'ignore' }).error === undefined
const readback = path.join(repoRoot, 'scripts/reference/enhanced_readback.py')

let orthanc: OrthancInstance
let models: { dir: string; cleanup: () => Promise<void> }
let tmp: string
let study: string
let series: string
let sourceInstances: string[]
let lateInstance: string
const SOP = { MR: '1.2.840.10008.5.1.4.1.1.4', SEG: '1.2.840.10008.5.1.4.1.1.66.4', PM: '1.2.840.10008.5.1.4.1.1.30' }

const CREDS = { RADDIFF_DICOMWEB_USER: USER, RADDIFF_DICOMWEB_PASSWORD: PASSWORD, RADDIFF_DICOMWEB_RETRIES: '1' }
const common = () => ['--models-dir', models.dir, '--steps', '2', '--seed', '3', '--json']

/** QIDO straight over fetch (not our client): the series of the study, as Orthanc lists them. */
async function qidoSeries(): Promise<{ uid: string; modality: string; sopClasses: string[] }[]> {
  const r = await orthanc.rest(`/dicom-web/studies/${study}/series`, { headers: { accept: 'application/dicom+json' } })
  const list = (await r.json()) as Record<string, { Value?: string[] }>[]
  const out = []
  for (const s of list) {
    const uid = s['0020000E'].Value![0]
    const inst = (await (await orthanc.rest(`/dicom-web/studies/${study}/series/${uid}/instances`, { headers: { accept: 'application/dicom+json' } })).json()) as Record<string, { Value?: string[] }>[]
    out.push({ uid, modality: s['00080060']?.Value?.[0] ?? '', sopClasses: [...new Set(inst.map((i) => i['00080016'].Value![0]))] })
  }
  return out
}

/**
 * A server in front of Orthanc that answers every POST with 413, cuts WADO bodies short, or
 * stores one more instance of the series in Orthanc just before forwarding the WADO request.
 */
async function faultProxy(mode: '413' | 'truncate' | 'grow'): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    if (mode === 'grow' && req.method === 'GET' && /\/series\/[0-9.]+$/.test(req.url ?? '')) {
      await orthanc.rest('/instances', { method: 'POST', body: await readFile(lateInstance) })
    }
    if (mode === '413' && req.method === 'POST') {
      req.resume()
      res.writeHead(413, { 'content-type': 'text/plain' }).end('too large')
      return
    }
    const up = http.request({ host: '127.0.0.1', port: orthanc.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers)
      const multipart = /multipart/.test(String(ur.headers['content-type']))
      if (mode === 'truncate' && multipart) {
        // Orthanc "stops" after the first 3000 bytes of a retrieval.
        let sent = 0
        ur.on('data', (c: Buffer) => {
          if (sent >= 3000) return
          res.write(c.subarray(0, 3000 - sent))
          sent += c.length
          if (sent >= 3000) res.destroy()
        })
        return
      }
      ur.pipe(res)
    })
    req.pipe(up)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return { url: `dicomweb+http://127.0.0.1:${port}/dicom-web`, close: () => new Promise((r) => server.close(() => r())) }
}

async function pydicomRead(file: string): Promise<any> {
  return JSON.parse((await exec('/usr/bin/python3', [readback, file], { maxBuffer: 64 << 20 })).stdout)
}

describe.skipIf(!hasOrthanc)('PACS round trip against a real Orthanc with DICOMweb', () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'raddiff-pacs-'))
    orthanc = await startOrthanc()
    models = await makeModelsDir()
    // The fixture series: a real MR crop written as DICOM, then stored through Orthanc's REST API
    // (not our STOW), so the study exists before raddiff talks to the server.
    // Five slices written, four stored: the fifth joins the series mid-retrieval in the last test.
    const w = await writeDicomSeries(await croppedFixture([14, 14, 20], [24, 24, 5]), path.join(tmp, 'fixture'), { seriesDescription: 'fixture T1' })
    lateInstance = w.files[4]
    for (const f of w.files.slice(0, 4)) {
      const r = await orthanc.rest('/instances', { method: 'POST', body: await readFile(f) })
      expect(r.status).toBe(200)
    }
    const studies = (await (await orthanc.rest('/dicom-web/studies', { headers: { accept: 'application/dicom+json' } })).json()) as Record<string, { Value: string[] }>[]
    study = studies[0]['0020000D'].Value[0]
    series = w.seriesInstanceUID
    const inst = (await (await orthanc.rest(`/dicom-web/studies/${study}/series/${series}/instances`, { headers: { accept: 'application/dicom+json' } })).json()) as Record<string, { Value: string[] }>[]
    sourceInstances = inst.map((i) => i['00080018'].Value[0])
    expect(sourceInstances).toHaveLength(4)
  }, 60_000)
  afterAll(async () => {
    await orthanc?.dispose()
    await models?.cleanup()
    await releaseSessions()
    if (tmp && !process.env.KEEP) await rm(tmp, { recursive: true, force: true })
  })

  it('client: QIDO lists the series, WADO-RS streams every instance to disk', async () => {
    const c = new DicomwebClient(orthanc.dicomweb, { auth: { kind: 'basic', user: USER, password: PASSWORD } })
    expect((await c.searchSeries(study)).map((s) => [s.seriesInstanceUID, s.modality, s.instances])).toEqual([[series, 'MR', 4]])
    const files = await c.retrieve(path.join(tmp, 'wado'), study, series)
    expect(files).toHaveLength(4)
    if (hasPydicom) {
      const { stdout } = await exec('/usr/bin/python3', ['-c', 'import pydicom,sys; print(" ".join(sorted(str(pydicom.dcmread(f).SOPInstanceUID) for f in sys.argv[1:])))', ...files])
      expect(stdout.trim().split(' ')).toEqual([...sourceInstances].sort())
    }
  })

  it('raddiff inspect lists the study over QIDO-RS', async () => {
    const r = await run(['inspect', `${orthanc.url}/studies/${study}`, '--json'], CREDS)
    expect(r.code).toBe(0)
    expect(r.lines).toEqual([expect.objectContaining({ ok: true, seriesInstanceUID: series, modality: 'MR', instances: 4 })])
  })

  it('denoise and anomaly from the series URL with --push: derived MR, SEG and Parametric Map land in the same study', async () => {
    const url = `${orthanc.url}/studies/${study}/series/${series}`
    const den = await run(['denoise', url, '-o', path.join(tmp, 'den'), '--push', ...common()], CREDS)
    expect(den.code, den.stdout + den.stderr).toBe(0)
    expect(den.lines[0]).toMatchObject({ ok: true, source: url, pushed: { ok: true } })
    const ano = await run(['anomaly', url, '-o', path.join(tmp, 'ano'), '--push', ...common()], CREDS)
    expect(ano.code, ano.stderr).toBe(0)
    expect(ano.lines[0].pushed.outputs.map((o: { stored: number }) => o.stored)).toEqual([4, 1, 1])

    const found = await qidoSeries()
    // source + denoised + healed (MR series), heatmap (Parametric Map, modality MR), mask (SEG)
    expect(found).toHaveLength(5)
    expect(found.filter((s) => s.sopClasses.includes(SOP.MR))).toHaveLength(3)
    expect(found.filter((s) => s.sopClasses.includes(SOP.PM))).toHaveLength(1)
    const seg = found.filter((s) => s.sopClasses.includes(SOP.SEG))
    expect(seg).toHaveLength(1)
    expect(seg[0].modality).toBe('SEG')

    // What Orthanc serves back is what was written locally, and a valid SEG / Parametric Map.
    const c = new DicomwebClient(orthanc.dicomweb, { auth: { kind: 'basic', user: USER, password: PASSWORD } })
    const segFile = (await c.retrieve(path.join(tmp, 'seg-back'), study, seg[0].uid))[0]
    const pm = found.find((s) => s.sopClasses.includes(SOP.PM))!
    const pmFile = (await c.retrieve(path.join(tmp, 'pm-back'), study, pm.uid))[0]
    if (hasDciodvfy) {
      for (const f of [segFile, pmFile]) {
        const v = spawnSync('dciodvfy', [f], { encoding: 'utf8' })
        expect(`${v.stdout}\n${v.stderr}`.split('\n').filter((l) => l.startsWith('Error'))).toEqual([])
      }
    }
    if (hasPydicom) {
      const back = await pydicomRead(segFile)
      const local = await pydicomRead(path.join(tmp, 'ano', (await readdir(path.join(tmp, 'ano'))).find((n) => n.endsWith('_desc-mask'))!, 'IM00001.dcm'))
      expect(back.studyInstanceUID).toBe(study)
      expect(back.ones).toEqual(local.ones)
      // Frame k names source slice k; all four source instances are referenced.
      expect(new Set(back.frames.flatMap((f: { sources: string[] }) => f.sources))).toEqual(new Set(sourceInstances))
      const pmBack = await pydicomRead(pmFile)
      const pmLocal = await pydicomRead(path.join(tmp, 'ano', (await readdir(path.join(tmp, 'ano'))).find((n) => n.endsWith('_desc-heatmap'))!, 'IM00001.dcm'))
      expect(pmBack.values).toEqual(pmLocal.values)
      expect(pmBack.rwvm).toMatchObject({ slope: 1, intercept: 0 })
    }
  }, 240_000)

  it('service: import → anomaly job → push files the SEG, map and healed series in the scan\'s study, and the SEG read back from the PACS is the job\'s mask; only configured servers', async () => {
    const srv: TestServer = await startTestServer({
      runTask,
      modelsDir: models.dir,
      dicomwebServers: { pacs: { url: orthanc.dicomweb, user: USER, password: PASSWORD, retries: 1 }, locked: { url: orthanc.dicomweb, user: USER, password: 'wrong', retries: 0 } },
    })
    const post = (p: string, body: unknown) => fetch(`${srv.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    try {
      // A request names a server; a URL or an unknown name is refused before any connection.
      expect((await post('/v1/scans/import', { server: 'http://127.0.0.1:1/x', study, series })).status).toBe(400)
      const unknown = await post('/v1/scans/import', { server: 'elsewhere', study, series })
      expect([unknown.status, ((await unknown.json()) as { error: { code: string } }).error.code]).toEqual([400, 'DICOMWEB_UNKNOWN_SERVER'])
      const denied = await post('/v1/scans/import', { server: 'locked', study, series })
      expect([denied.status, ((await denied.json()) as { error: { code: string } }).error.code]).toEqual([502, 'DICOMWEB_UNAUTHORIZED'])

      const imp = await post('/v1/scans/import', { server: 'pacs', study, series })
      expect(imp.status).toBe(201)
      const scan = ((await imp.json()) as { scans: { id: string; summary: { size: number[]; modality: string } }[] }).scans[0]
      expect(scan.summary).toMatchObject({ size: [24, 24, 4], modality: 'MR' })
      const job = (await (await postJob(srv.url, { scanId: scan.id, task: 'anomaly', params: { steps: 2, seed: 1 } })).json()) as { id: string }
      expect((await waitForState(srv.url, job.id, ['succeeded', 'failed'], undefined, 120_000)).state).toBe('succeeded')

      const before = await qidoSeries()
      const refused = await post(`/v1/jobs/${job.id}/push`, { server: 'locked' })
      expect([refused.status, ((await refused.json()) as { error: { code: string } }).error.code]).toEqual([502, 'DICOMWEB_UNAUTHORIZED'])
      expect(await qidoSeries()).toHaveLength(before.length)
      const pushed = await post(`/v1/jobs/${job.id}/push`, { server: 'pacs' })
      expect(pushed.status).toBe(200)
      const body = (await pushed.json()) as { outputs: { role: string; stored: number }[] }
      expect(body.outputs.map((o) => o.role).sort()).toEqual(['healed', 'heatmap', 'mask'])
      const after = await qidoSeries()
      const added = after.filter((s) => !before.some((b) => b.uid === s.uid))
      expect(added.map((s) => s.sopClasses[0]).sort()).toEqual([SOP.PM, SOP.MR, SOP.SEG].sort())

      // The round trip of the mask: the SEG as the PACS stores it, retrieved and read back onto the
      // scan (Frame of Reference and geometry checked), is the mask the job wrote, voxel by voxel.
      const segSeries = added.find((s) => s.sopClasses[0] === SOP.SEG)!.uid
      const [segFile] = await new DicomwebClient(orthanc.dicomweb, { auth: { kind: 'basic', user: USER, password: PASSWORD } }).retrieve(path.join(tmp, 'service-seg-from-pacs'), study, segSeries)
      const back = await fetch(`${srv.url}/v1/jobs/${job.id}/seg-mask`, { method: 'POST', headers: { 'content-type': 'application/dicom' }, body: await readFile(segFile) })
      expect(back.status).toBe(200)
      const maskNii = path.join(tmp, 'job-mask.nii.gz')
      await writeFile(maskNii, Buffer.from(await (await fetch(`${srv.url}/v1/jobs/${job.id}/results/mask`)).arrayBuffer()))
      const written = toFloat32(await readImageFile(maskNii, 'job-mask.nii.gz'))
      const decoded = decodeRaw(await back.arrayBuffer()).data
      expect(decoded).toHaveLength(written.length)
      expect(ones(written).length).toBeGreaterThan(0)
      expect(ones(decoded)).toEqual(ones(written))

      // The zipped DICOM download is filed in the same study too (not a new one).
      const zip = await fetch(`${srv.url}/v1/jobs/${job.id}/results/healed?format=dicom`)
      expect(zip.status).toBe(200)
      const zipFile = path.join(tmp, 'healed.zip')
      await (await import('node:fs/promises')).writeFile(zipFile, Buffer.from(await zip.arrayBuffer()))
      if (hasPydicom) {
        const { stdout } = await exec('/usr/bin/python3', ['-c', 'import pydicom,sys,zipfile,io; z=zipfile.ZipFile(sys.argv[1]); print(sorted({(str(d.StudyInstanceUID), str(d.SourceImageSequence[0].ReferencedSOPInstanceUID)) for d in (pydicom.dcmread(io.BytesIO(z.read(n))) for n in z.namelist())}))', zipFile])
        for (const uid of sourceInstances) expect(stdout).toContain(uid)
        expect(stdout.match(new RegExp(study.replace(/\./g, '\\.'), 'g'))).toHaveLength(4)
      }
    } finally {
      await srv.close()
    }
  }, 180_000)

  it('wrong credentials: a typed 401 error, no output, exit 3', async () => {
    const r = await run(['denoise', `${orthanc.url}/studies/${study}/series/${series}`, '-o', path.join(tmp, 'badauth'), ...common()], { ...CREDS, RADDIFF_DICOMWEB_PASSWORD: 'wrong' })
    expect(r.code).toBe(3)
    expect(r.lines[0]).toMatchObject({ ok: false, error: { code: 'DICOMWEB_UNAUTHORIZED' } })
    expect(r.stdout + r.stderr).not.toContain('wrong')
  })

  it('a 413 on push: typed error, local outputs intact, and the same outputs push again with --resume', async () => {
    const proxy = await faultProxy('413')
    const out = path.join(tmp, 'p413')
    const before = (await qidoSeries()).length
    try {
      const r = await run(['denoise', `${orthanc.url}/studies/${study}/series/${series}`, '-o', out, '--push', proxy.url, ...common()], CREDS)
      expect(r.code).toBe(4)
      expect(r.lines[0].pushed.ok).toBe(false)
      expect(r.lines[0].pushed.outputs[0].error).toMatchObject({ code: 'DICOMWEB_TOO_LARGE' })
    } finally {
      await proxy.close()
    }
    const folder = path.join(out, (await readdir(out)).find((n) => n.endsWith('_desc-denoised'))!)
    expect(await readdir(folder)).toHaveLength(4)
    expect((await qidoSeries()).length).toBe(before)
    const again = await run(['denoise', `${orthanc.url}/studies/${study}/series/${series}`, '-o', out, '--resume', '--push', ...common()], CREDS)
    expect(again.code, again.stderr).toBe(0)
    expect(again.lines[0]).toMatchObject({ skipped: true, pushed: { ok: true } })
    expect((await qidoSeries()).length).toBe(before + 1)
  }, 120_000)

  it('the server dies mid-retrieval: a typed error and nothing half-loaded', async () => {
    const proxy = await faultProxy('truncate')
    try {
      const r = await run(['denoise', `${proxy.url}/studies/${study}/series/${series}`, '-o', path.join(tmp, 'trunc'), ...common()], CREDS)
      expect(r.code).toBe(3)
      expect(['DICOMWEB_UNREACHABLE', 'DICOMWEB_BAD_RESPONSE']).toContain(r.lines[0].error.code)
      expect(existsSync(path.join(tmp, 'trunc'))).toBe(false)
    } finally {
      await proxy.close()
    }
    await orthanc.stop()
    try {
      const r = await run(['denoise', `${orthanc.url}/studies/${study}/series/${series}`, '-o', path.join(tmp, 'down'), ...common()], CREDS)
      expect(r.code).toBe(3)
      expect(r.lines[0]).toMatchObject({ ok: false, error: { code: 'DICOMWEB_UNREACHABLE' } })
    } finally {
      await orthanc.restart()
    }
  }, 60_000)

  it('an instance added to the series during retrieval: DICOMWEB_SERIES_CHANGED, nothing loaded', async () => {
    const proxy = await faultProxy('grow')
    try {
      const r = await run(['denoise', `${proxy.url}/studies/${study}/series/${series}`, '-o', path.join(tmp, 'grown'), ...common()], CREDS)
      expect(r.code).toBe(3)
      expect(r.lines[0]).toMatchObject({ ok: false, error: { code: 'DICOMWEB_SERIES_CHANGED' } })
      expect(existsSync(path.join(tmp, 'grown'))).toBe(false)
    } finally {
      await proxy.close()
    }
  }, 60_000)
})
