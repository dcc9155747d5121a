import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadVolumes } from '../../src/io/load.js'
import { toFloat32 } from '../../src/volume/volume.js'
import ref from '../reference/service-fixtures.json' with { type: 'json' }
import { auth, fixture, postJob, readEvents, startTestServer, storeKinds, testDatabases, upload, waitForState, type TestServer } from './helpers.js'
import { runTask as stubRunTask } from './stub-task.js'

const A = 'token-alice-0123456789'
const B = 'token-bob-9876543210'
const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0)

const databases = testDatabases()

describe.each(storeKinds)('service over HTTP (stub task runner, %s store)', (kind) => {
  let srv: TestServer
  let tmp: string
  let niftiScan: any
  let mosaicScan: any
  let jobId: string

  beforeAll(async () => {
    srv = await startTestServer({ tokens: { [A]: 'alice', [B]: 'bob' }, runTask: stubRunTask, modelsDir: path.join(fixture('models')), databaseUrl: await databases.url(kind) })
    tmp = await mkdtemp(path.join(os.tmpdir(), 'raddiff-svc-dl-'))
  })
  afterAll(async () => {
    await srv?.close()
    await rm(tmp, { recursive: true, force: true })
  })

  it('uploads a DICOM mosaic and a NIfTI in one multipart request: one scan per series, header summaries', async () => {
    const res = await upload(srv.url, [fixture('demo/mr-mosaic.dcm'), fixture('nifti/ixi-t1-small.nii.gz')], A)
    expect(res.status).toBe(201)
    const body = await res.json() as any
    expect(body.scans).toHaveLength(2)
    niftiScan = body.scans.find((s: any) => s.summary.format === 'nifti')
    mosaicScan = body.scans.find((s: any) => s.summary.format === 'dicom')
    // nibabel: shape and zooms
    expect(niftiScan.summary.size).toEqual(ref.nifti.shape)
    expect(niftiScan.summary.spacing).toEqual(ref.nifti.zooms)
    expect(niftiScan.summary.source).toBe('ixi-t1-small.nii.gz')
    // pydicom: modality; the mosaic's tiles (ceil(sqrt(slices)) per row) fill the stored Columns
    expect(mosaicScan.summary.modality).toBe(ref.mosaic.modality)
    expect(mosaicScan.summary.size[0] * Math.ceil(Math.sqrt(mosaicScan.summary.size[2]))).toBe(ref.mosaic.columns)
    expect(JSON.stringify(body)).not.toContain(srv.dataDir)

    const list = await (await fetch(`${srv.url}/v1/scans`, { headers: auth(A) })).json() as any
    expect(list.scans.map((s: any) => s.id).sort()).toEqual([niftiScan.id, mosaicScan.id].sort())
    const one = await (await fetch(`${srv.url}/v1/scans/${niftiScan.id}`, { headers: auth(A) })).json() as any
    expect(one.summary.size).toEqual(ref.nifti.shape)
  })

  it('runs a job: 202 + Location, SSE progress to the end, results listed', async () => {
    const res = await postJob(srv.url, { scanId: niftiScan.id, task: 'anomaly', params: { seed: 1 } }, A)
    expect(res.status).toBe(202)
    jobId = (await res.json() as any).id
    expect(res.headers.get('location')).toBe(`/v1/jobs/${jobId}`)
    const events = await readEvents(await fetch(`${srv.url}/v1/jobs/${jobId}/events`, { headers: auth(A) }))
    expect(events.at(-1)!.event).toBe('end')
    expect(events.at(-1)!.data.state).toBe('succeeded')
    const fractions = events.filter((e) => e.event === 'progress').map((e) => e.data.progress)
    expect(fractions.length).toBeGreaterThan(1)
    expect([...fractions].sort((a, b) => a - b)).toEqual(fractions)

    const job = await (await fetch(`${srv.url}/v1/jobs/${jobId}`, { headers: auth(A) })).json() as any
    expect(job).toMatchObject({ state: 'succeeded', progress: 1, error: null, attempts: 1, task: 'anomaly' })
    const results = await (await fetch(`${srv.url}/v1/jobs/${jobId}/results`, { headers: auth(A) })).json() as any
    expect(results.outputs.map((o: any) => o.role).sort()).toEqual(['healed', 'heatmap'])
  })

  it('downloads NIfTI, zipped DICOM and PNG, and each reads back to the uploaded image', async () => {
    const get = (q: string) => fetch(`${srv.url}/v1/jobs/${jobId}/results/healed${q}`, { headers: auth(A) })
    const nii = await get('')
    expect(nii.headers.get('content-type')).toBe('application/gzip')
    await writeFile(path.join(tmp, 'healed.nii.gz'), Buffer.from(await nii.arrayBuffer()))
    const [fromNifti] = await loadVolumes([path.join(tmp, 'healed.nii.gz')])
    expect(fromNifti.volume.size).toEqual(ref.nifti.shape)
    expect(sum(toFloat32(fromNifti.volume))).toBeCloseTo(ref.nifti.sum, -2)

    const zip = await get('?format=dicom')
    expect(zip.status).toBe(200)
    expect(zip.headers.get('content-type')).toBe('application/zip')
    await writeFile(path.join(tmp, 'healed.zip'), Buffer.from(await zip.arrayBuffer()))
    const [fromDicom] = await loadVolumes([path.join(tmp, 'healed.zip')])
    expect(fromDicom.summary.format).toBe('dicom')
    expect(fromDicom.volume.size).toEqual(ref.nifti.shape)
    // int16 storage with a rescale slope: within half a step per voxel
    expect(Math.abs(sum(toFloat32(fromDicom.volume)) - ref.nifti.sum) / ref.nifti.sum).toBeLessThan(1e-3)

    // the zipped series goes back in as an upload (zip input) and is one DICOM series again
    const again = await upload(srv.url, [path.join(tmp, 'healed.zip')], A)
    expect(again.status).toBe(201)
    const [rescan] = (await again.json() as any).scans
    expect(rescan.summary).toMatchObject({ format: 'dicom', size: ref.nifti.shape, files: ref.nifti.shape[2] })

    // The volume's axes run P, S and R→L (nibabel affine): an axial slice is shape[2] wide, shape[0] high.
    const png = await get('?format=png&plane=axial&slice=20&window=0.5,1')
    expect(png.headers.get('content-type')).toBe('image/png')
    const img = PNG.sync.read(Buffer.from(await png.arrayBuffer()))
    expect([img.width, img.height]).toEqual([ref.nifti.shape[2], ref.nifti.shape[0]])
    const grey = new Set<number>()
    for (let i = 0; i < img.data.length; i += 4) grey.add(img.data[i])
    expect([...grey].every((g) => g === 0 || g === 255)).toBe(true)

    const heat = await fetch(`${srv.url}/v1/jobs/${jobId}/results/heatmap`, { headers: auth(A) })
    await writeFile(path.join(tmp, 'heat.nii.gz'), Buffer.from(await heat.arrayBuffer()))
    const [h] = await loadVolumes([path.join(tmp, 'heat.nii.gz')])
    expect(h.volume.data).toBeInstanceOf(Float32Array)

    const bad = await get('?format=png&slice=9999')
    expect(bad.status).toBe(422)
    expect((await bad.json() as any).error.code).toBe('DIMENSIONS_INVALID')
  })

  it('cancels a running job: the abort reaches the runner, no results', async () => {
    process.env.RADDIFF_STUB_STEP_MS = '200'
    try {
      const { id } = await (await postJob(srv.url, { scanId: mosaicScan.id, task: 'denoise' }, A)).json() as any
      await waitForState(srv.url, id, ['running'], A)
      const del = await fetch(`${srv.url}/v1/jobs/${id}`, { method: 'DELETE', headers: auth(A) })
      expect(del.status).toBe(202)
      expect((await del.json() as any).state).toBe('cancelled')
      await new Promise((r) => setTimeout(r, 400))
      expect(srv.app.raddiff.pool.stats().busy).toBe(0)
      const job = await waitForState(srv.url, id, ['cancelled'], A)
      expect(job.error.code).toBe('CANCELLED')
      expect((await fetch(`${srv.url}/v1/jobs/${id}/results`, { headers: auth(A) })).status).toBe(409)
      expect(await readdir(path.join(srv.dataDir, 'results')).catch(() => [])).not.toContain(id)
    } finally {
      delete process.env.RADDIFF_STUB_STEP_MS
    }
  })

  it("isolates users: another user's ids answer 404 on every route; no token or a wrong one is 401", async () => {
    const routes: [string, string][] = [
      ['GET', `/v1/scans/${niftiScan.id}`],
      ['DELETE', `/v1/scans/${niftiScan.id}`],
      ['GET', `/v1/jobs/${jobId}`],
      ['GET', `/v1/jobs/${jobId}/events`],
      ['GET', `/v1/jobs/${jobId}/results`],
      ['GET', `/v1/jobs/${jobId}/results/healed`],
      ['GET', `/v1/jobs/${jobId}/results/healed?format=png`],
      ['DELETE', `/v1/jobs/${jobId}`],
      ['GET', `/v1/jobs/00000000-0000-0000-0000-000000000000`],
    ]
    for (const [method, route] of routes) {
      const res = await fetch(srv.url + route, { method, headers: auth(B) })
      expect(res.status, `${method} ${route}`).toBe(404)
      expect((await res.json() as any).error.code).toBe('NOT_FOUND')
    }
    expect((await postJob(srv.url, { scanId: niftiScan.id, task: 'denoise' }, B)).status).toBe(404)
    expect((await (await fetch(`${srv.url}/v1/scans`, { headers: auth(B) })).json() as any).scans).toEqual([])
    expect((await (await fetch(`${srv.url}/v1/jobs`, { headers: auth(B) })).json() as any).jobs).toEqual([])
    for (const h of [{}, auth('wrong'), { authorization: 'Basic abc' }]) {
      const res = await fetch(`${srv.url}/v1/scans/${niftiScan.id}`, { headers: h })
      expect(res.status).toBe(401)
      expect((await res.json() as any).error.code).toBe('UNAUTHORIZED')
    }
    // alice still has everything
    expect((await fetch(`${srv.url}/v1/jobs/${jobId}/results`, { headers: auth(A) })).status).toBe(200)
  })

  it('validates requests with JSON errors', async () => {
    const r1 = await postJob(srv.url, { scanId: niftiScan.id, task: 'paint' }, A)
    expect(r1.status).toBe(400)
    expect((await r1.json() as any).error.code).toBe('INVALID_REQUEST')
    const r2 = await postJob(srv.url, { scanId: niftiScan.id, task: 'denoise', params: { stepz: 3 } }, A)
    expect(r2.status).toBe(400)
    const r3 = await fetch(`${srv.url}/v1/scans`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth(A) }, body: '{}' })
    expect(r3.status).toBe(415)
    const r4 = await upload(srv.url, [path.join(fixture('models'), 'README.md')], A)
    expect(r4.status).toBe(422)
    expect((await r4.json() as any).error.code).toBe('NO_USABLE_INPUT')
  })

  it('serves health, readiness with verified models, OpenAPI docs and the placeholder page', async () => {
    expect((await (await fetch(`${srv.url}/healthz`)).json() as any).status).toBe('ok')
    const ready = await fetch(`${srv.url}/readyz`)
    expect(ready.status).toBe(200)
    const r = await ready.json() as any
    expect(r.models).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'tiny-eps', verified: true })]))
    expect(r.queue).toEqual({ queued: 0, running: 0 })
    const doc = await (await fetch(`${srv.url}/docs/json`)).json() as any
    expect(doc.openapi).toMatch(/^3\./)
    for (const p of ['/v1/scans', '/v1/scans/{id}', '/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/events', '/v1/jobs/{id}/results', '/v1/jobs/{id}/results/{role}', '/healthz', '/readyz']) {
      expect(doc.paths, p).toHaveProperty([p])
    }
    // `/` is the viewer when it is built (npm ci builds it), the placeholder page otherwise.
    const home = await (await fetch(srv.url)).text()
    expect(home).toMatch(/raddiff viewer — NOT FOR CLINICAL USE|href="\/docs"/)
  })

  it('deletes a scan and its files once no other scan of the upload remains', async () => {
    const { scans } = await (await upload(srv.url, [fixture('nifti/ixi-t1-small.nii.gz')], A)).json() as any
    const before = await readdir(path.join(srv.dataDir, 'uploads'))
    expect((await fetch(`${srv.url}/v1/scans/${scans[0].id}`, { method: 'DELETE', headers: auth(A) })).status).toBe(204)
    expect((await fetch(`${srv.url}/v1/scans/${scans[0].id}`, { headers: auth(A) })).status).toBe(404)
    expect(await readdir(path.join(srv.dataDir, 'uploads'))).toHaveLength(before.length - 1)
  })
})

describe.each(storeKinds)('service limits (%s store)', (kind) => {
  it('answers 429 with Retry-After past the rate limit', async () => {
    const srv = await startTestServer({ runTask: stubRunTask, limits: { rateLimitMax: 3, rateLimitWindowMs: 60_000 }, databaseUrl: await databases.url(kind) })
    try {
      const codes = []
      for (let i = 0; i < 4; i++) codes.push((await fetch(`${srv.url}/v1/jobs`)).status)
      expect(codes).toEqual([200, 200, 200, 429])
      const res = await fetch(`${srv.url}/v1/jobs`)
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
      expect((await res.json() as any).error.code).toBe('RATE_LIMITED')
      // health is not rate limited
      expect((await fetch(`${srv.url}/healthz`)).status).toBe(200)
    } finally {
      await srv.close()
    }
  })

  it('answers 413 with a JSON error for a file over the limit and keeps nothing', async () => {
    const srv = await startTestServer({ runTask: stubRunTask, limits: { maxFileBytes: 10_000 }, databaseUrl: await databases.url(kind) })
    try {
      const res = await upload(srv.url, [fixture('nifti/ixi-t1-small.nii.gz')])
      expect(res.status).toBe(413)
      expect((await res.json() as any).error.code).toBe('PAYLOAD_TOO_LARGE')
      expect(await readdir(path.join(srv.dataDir, 'uploads'))).toEqual([])
    } finally {
      await srv.close()
    }
  })

  it('answers 429 QUEUE_FULL with Retry-After past the per-user active job limit', async () => {
    process.env.RADDIFF_STUB_STEP_MS = '100'
    const srv = await startTestServer({ runTask: stubRunTask, limits: { maxActiveJobsPerUser: 1 }, databaseUrl: await databases.url(kind) })
    try {
      const { scans } = await (await upload(srv.url, [fixture('nifti/ixi-t1-small.nii.gz')])).json() as any
      expect((await postJob(srv.url, { scanId: scans[0].id, task: 'denoise' })).status).toBe(202)
      const res = await postJob(srv.url, { scanId: scans[0].id, task: 'denoise' })
      expect(res.status).toBe(429)
      expect(res.headers.get('retry-after')).toBe('30')
      expect((await res.json() as any).error.code).toBe('QUEUE_FULL')
    } finally {
      delete process.env.RADDIFF_STUB_STEP_MS
      await srv.close()
    }
  })

  it('answers 507 when the user quota is reached', async () => {
    const srv = await startTestServer({ runTask: stubRunTask, limits: { userQuotaBytes: 50_000 }, databaseUrl: await databases.url(kind) })
    try {
      const res = await upload(srv.url, [fixture('demo/mr-mosaic.dcm')])
      expect(res.status).toBe(507)
      expect((await res.json() as any).error.code).toBe('QUOTA_EXCEEDED')
    } finally {
      await srv.close()
    }
  })
})
