import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readImageFile } from '../../src/io/image/index.js'
import { writeDicomSeg } from '../../src/io/writers/write-dicom-seg.js'
import { createVolume, toFloat32, VolumeMetadata, type Mat3 } from '../../src/volume/index.js'
import { runTask } from '../e2e/stub-task.js'
import { fixture, postJob, repoRoot, startTestServer, upload, waitForState, type TestServer } from './helpers.js'
import { decodeRaw, ones, unzipOne } from './seg-helpers.js'

let srv: TestServer
let tmp: string
async function finishedJob(file: string): Promise<string> {
  const up = (await (await upload(srv.url, [file])).json()) as { scans: { id: string }[] }
  const job = (await (await postJob(srv.url, { scanId: up.scans[0].id, task: 'anomaly' })).json()) as { id: string }
  await waitForState(srv.url, job.id, ['succeeded'])
  return job.id
}
const postSeg = (id: string, body: Uint8Array, type = 'application/dicom') => fetch(`${srv.url}/v1/jobs/${id}/seg-mask`, { method: 'POST', body, headers: { 'content-type': type } })

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'raddiff-segsvc-'))
  srv = await startTestServer({ runTask, modelsDir: path.join(repoRoot, 'fixtures/models') })
}, 120_000)
afterAll(async () => {
  await srv?.close()
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

describe('the service reads a DICOM SEG back as a job mask', () => {
  let nifti: string
  let mask: number[]
  beforeAll(async () => {
    nifti = await finishedJob(fixture('nifti/ixi-t1-small.nii.gz'))
    const r = await fetch(`${srv.url}/v1/jobs/${nifti}/results/mask`)
    const file = path.join(tmp, 'mask.nii.gz')
    await writeFile(file, Buffer.from(await r.arrayBuffer()))
    mask = ones(toFloat32(await readImageFile(file, 'mask.nii.gz')))
  }, 120_000)

  it("GET: the job's mask, written as the SEG it downloads and pushes, read back equal voxel by voxel", async () => {
    const r = await fetch(`${srv.url}/v1/jobs/${nifti}/seg-mask`)
    expect(r.status).toBe(200)
    const { header, data } = decodeRaw(await r.arrayBuffer())
    expect(header).toMatchObject({ role: 'mask', size: [60, 60, 45], range: [0, 1] })
    expect(mask.length).toBeGreaterThan(50)
    expect(ones(data)).toEqual(mask)
  })

  it("POST: the zipped SEG from the results route, sent back, is the same mask on the scan's grid", async () => {
    const zip = await fetch(`${srv.url}/v1/jobs/${nifti}/results/mask?format=dicom`)
    const seg = await unzipOne(Buffer.from(await zip.arrayBuffer()))
    const r = await postSeg(nifti, seg)
    expect(r.status).toBe(200)
    const got = decodeRaw(await r.arrayBuffer())
    const original = decodeRaw(await (await fetch(`${srv.url}/v1/jobs/${nifti}/volumes/original`)).arrayBuffer())
    for (const k of ['size', 'spacing', 'origin', 'direction'] as const) expect(got.header[k]).toEqual(original.header[k])
    expect(ones(got.data)).toEqual(mask)
  })

  it('a SEG half a voxel off the scan grid, an image that is no SEG, and another media type are refused with typed errors', async () => {
    const { header } = decodeRaw(await (await fetch(`${srv.url}/v1/jobs/${nifti}/volumes/original`)).arrayBuffer())
    const shifted = createVolume({
      data: new Float32Array(header.size[0] * header.size[1] * header.size[2]).fill(1),
      size: header.size,
      spacing: header.spacing,
      origin: [header.origin[0] + header.spacing[0] / 2, header.origin[1], header.origin[2]],
      direction: header.direction as Mat3,
    })
    const w = await writeDicomSeg(shifted, path.join(tmp, 'shifted'))
    const off = await postSeg(nifti, await readFile(w.files[0]))
    expect(off.status).toBe(422)
    expect(((await off.json()) as { error: { code: string } }).error.code).toBe('SEG_MISMATCH')
    const ct = await postSeg(nifti, await readFile(fixture('dicom/CT_small.dcm')))
    expect(ct.status).toBe(422)
    expect(((await ct.json()) as { error: { code: string } }).error.code).toBe('NOT_A_SEGMENTATION')
    expect((await postSeg(nifti, await readFile(w.files[0]), 'text/plain')).status).toBe(415)
  })

  it('a DICOM scan: its own SEG (same Frame of Reference) comes back; one from another Frame of Reference is SEG_MISMATCH', async () => {
    const id = await finishedJob(fixture('dicom/CT_small.dcm'))
    const own = await fetch(`${srv.url}/v1/jobs/${id}/seg-mask`)
    expect(own.status).toBe(200)
    const { header } = decodeRaw(await own.arrayBuffer())
    const other = createVolume({
      data: new Float32Array(header.size[0] * header.size[1] * header.size[2]),
      size: header.size,
      spacing: header.spacing,
      origin: header.origin,
      direction: header.direction as Mat3,
      meta: new VolumeMetadata({ dicom: { frameOfReferenceUID: '1.2.826.0.1.3680043.8.498.4242', studyInstanceUID: '1.2.826.0.1.3680043.8.498.4241' } }),
    })
    const w = await writeDicomSeg(other, path.join(tmp, 'other-for'))
    const r = await postSeg(id, await readFile(w.files[0]))
    expect(r.status).toBe(422)
    const body = (await r.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('SEG_MISMATCH')
    expect(body.error.message).toMatch(/Frame of Reference/)
    expect(body.error.message).not.toContain('1.2.826')
  }, 120_000)
})
