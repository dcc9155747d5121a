import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import ref from '../reference/service-fixtures.json' with { type: 'json' }
import { auth, fixture, postJob, startTestServer, upload, waitForState, type TestServer } from './helpers.js'
import { runTask as stubRunTask } from './stub-task.js'

const TOKEN = 'privacy-token-0123456789'

describe('no patient data in logs or error bodies', () => {
  let srv: TestServer
  let tmp: string
  const lines: string[] = []
  const bodies: string[] = []

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'raddiff-svc-priv-'))
    const stream = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk))
        cb()
      },
    })
    srv = await startTestServer({ tokens: { [TOKEN]: 'carol' }, runTask: stubRunTask, logger: { level: 'debug', stream } })
  })
  afterAll(async () => {
    await srv?.close()
    await rm(tmp, { recursive: true, force: true })
  })

  it('pushes an identified DICOM through upload, job, downloads and error paths', async () => {
    // pydicom's reading of the file: the identifiers exist, so the check below can fail
    expect(ref.mosaic.identifiers.length).toBeGreaterThanOrEqual(3)
    const up = await upload(srv.url, [fixture('demo/mr-mosaic.dcm')], TOKEN)
    expect(up.status).toBe(201)
    const scan = (await up.json() as any).scans[0]
    const { id } = await (await postJob(srv.url, { scanId: scan.id, task: 'denoise' }, TOKEN)).json() as any
    await waitForState(srv.url, id, ['succeeded'], TOKEN)
    for (const q of ['?format=dicom', '?format=png', '?format=png&slice=99999', '']) {
      const r = await fetch(`${srv.url}/v1/jobs/${id}/results/denoised${q}`, { headers: auth(TOKEN) })
      if (r.status >= 400) bodies.push(await r.text())
      else await r.arrayBuffer()
    }
    // a broken copy of the same file: the header is there, the pixels are cut off
    const bytes = await readFile(fixture('demo/mr-mosaic.dcm'))
    for (const n of [3000, 20_000, bytes.length - 1000]) {
      const f = path.join(tmp, `cut-${n}.dcm`)
      await writeFile(f, bytes.subarray(0, n))
      const r = await upload(srv.url, [f], TOKEN)
      const text = await r.text()
      if (r.status >= 400) bodies.push(text)
      else {
        const s = JSON.parse(text).scans[0]
        const j = await (await postJob(srv.url, { scanId: s.id, task: 'denoise' }, TOKEN)).json() as any
        const done = await waitForState(srv.url, j.id, ['succeeded', 'failed'], TOKEN)
        bodies.push(JSON.stringify(done.error))
      }
    }
    bodies.push(await (await fetch(`${srv.url}/v1/jobs/${id}`, { headers: auth('nope') })).text())
    expect(bodies.length).toBeGreaterThanOrEqual(3)
    expect(lines.length).toBeGreaterThan(5)
    const logs = lines.join('')
    for (const v of ref.mosaic.identifiers) {
      expect(logs, 'log lines').not.toContain(v)
      for (const b of bodies) expect(b, 'error body').not.toContain(v)
    }
    expect(logs).not.toContain(TOKEN)
  })
})
