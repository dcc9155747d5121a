import { createHash } from 'node:crypto'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadVolumes } from '../../src/io/load.js'
import { toFloat32 } from '../../src/volume/volume.js'
import { auth, fixture, startTestServer, upload, type TestServer } from './helpers.js'
import { runTask as stubRunTask } from './stub-task.js'

const A = 'token-alice-0123456789'
const B = 'token-bob-9876543210'
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** The routes the in-browser preview needs: models with their cards and sha256, files, a scan's voxels. */
describe('model files and scan volumes for the in-browser preview', () => {
  let srv: TestServer
  let models: string

  beforeAll(async () => {
    // The fixture models, plus one whose card names a sha256 its file does not have.
    models = await mkdtemp(path.join(os.tmpdir(), 'raddiff-models-'))
    for (const f of ['tiny-eps.json', 'tiny-eps.onnx', 'tiny-edm25.json', 'tiny-edm25.onnx']) await copyFile(fixture(`models/${f}`), path.join(models, f))
    const eps = JSON.parse(await readFile(fixture('models/tiny-eps.json'), 'utf8'))
    await writeFile(path.join(models, 'z-tampered.json'), JSON.stringify({ ...eps, name: 'z-tampered', sha256: '0'.repeat(64) }))
    srv = await startTestServer({ tokens: { [A]: 'alice', [B]: 'bob' }, runTask: stubRunTask, modelsDir: models })
  })
  afterAll(async () => {
    await srv?.close()
    await rm(models, { recursive: true, force: true })
  })

  it('needs a token like every /v1 route', async () => {
    expect((await fetch(`${srv.url}/v1/models`)).status).toBe(401)
    expect((await fetch(`${srv.url}/v1/models/tiny-eps/file`)).status).toBe(401)
  })

  it('lists each model with its full card and the sha256 of its file, and serves exactly that file', async () => {
    const res = await fetch(`${srv.url}/v1/models`, { headers: auth(A) })
    expect(res.status).toBe(200)
    const { models: list } = (await res.json()) as { models: any[] }
    expect(list.map((m) => m.name)).toEqual(['tiny-edm25', 'tiny-eps', 'z-tampered'])
    const edm = list[0]
    const bytes = await readFile(fixture('models/tiny-edm25.onnx'))
    expect(edm).toMatchObject({ version: '0.0.1', verified: true, bytes: bytes.length, sha256: sha256(bytes), href: '/v1/models/tiny-edm25/file' })
    // the card as the server reads it: the fields the preview needs to prepare a slice
    expect(edm.card).toMatchObject({ prediction: 'x0', context_slices: 1, tile_size: 32, size_multiple: 2, plane: 'axial', timestep_input: 'float32', normalisation: { kind: 'percentile' } })
    expect(list[2].verified).toBe(false)

    const file = await fetch(`${srv.url}${edm.href}`, { headers: auth(B) })
    expect(file.status).toBe(200)
    expect(file.headers.get('content-type')).toBe('application/octet-stream')
    expect(file.headers.get('repr-digest')).toBe(`sha-256=:${Buffer.from(edm.sha256, 'hex').toString('base64')}:`)
    expect(sha256(Buffer.from(await file.arrayBuffer()))).toBe(edm.sha256)
  })

  it('refuses a file that does not match its card and answers 404 for unknown names', async () => {
    const bad = await fetch(`${srv.url}/v1/models/z-tampered/file`, { headers: auth(A) })
    expect(bad.status).toBe(409)
    expect(((await bad.json()) as any).error.code).toBe('MODEL_HASH_MISMATCH')
    const none = await fetch(`${srv.url}/v1/models/nope/file`, { headers: auth(A) })
    expect(none.status).toBe(404)
    expect(((await none.json()) as any).error.code).toBe('NOT_FOUND')
  })

  it("serves an uploaded scan's voxels to its owner only, as the job volumes are", async () => {
    const up = (await (await upload(srv.url, [fixture('nifti/ixi-t1-small.nii.gz')], A)).json()) as any
    const id = up.scans[0].id
    expect((await fetch(`${srv.url}/v1/scans/${id}/volume`, { headers: auth(B) })).status).toBe(404)
    const res = await fetch(`${srv.url}/v1/scans/${id}/volume`, { headers: auth(A) })
    expect(res.status).toBe(200)
    const buf = Buffer.from(await res.arrayBuffer())
    const n = buf.readUInt32LE(0)
    const header = JSON.parse(buf.subarray(4, 4 + n).toString())
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset + 4 + n, buf.byteOffset + buf.length))
    const [{ volume }] = await loadVolumes([fixture('nifti/ixi-t1-small.nii.gz')])
    expect(header.size).toEqual(volume.size)
    // (JSON writes −0 as 0)
    expect(header.direction).toEqual(volume.direction.map((x) => x + 0))
    // the real values (rescaled) the denoise task reads, bit for bit
    expect(Buffer.from(data.buffer).equals(Buffer.from(toFloat32(volume).buffer))).toBe(true)
  })
})
