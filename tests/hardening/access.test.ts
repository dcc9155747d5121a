import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixture, postJob, startTestServer, upload, waitForState, type TestServer } from '../service/helpers.js'
import { runTask as stubRunTask } from '../service/stub-task.js'

const ALICE = 'alice-token-aaaaaaaaaaaaaaaa'
const BOB = 'bob-token-bbbbbbbbbbbbbbbbbbbb'
const bearer = (t?: string): Record<string, string> => (t ? { authorization: `Bearer ${t}` } : {})

interface Route {
  method: string
  /** OpenAPI path, e.g. /v1/jobs/{id}/results/{role} */
  path: string
}

/** A multipart body built by hand, so file names reach the server byte for byte (NUL, backslashes…). */
function multipart(files: { name: string; bytes: Buffer }[]): { body: Buffer; type: string } {
  const boundary = `----raddiff${randomUUID()}`
  const parts: Buffer[] = []
  for (const f of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="`, 'latin1'))
    parts.push(Buffer.from(f.name, 'utf8'))
    parts.push(Buffer.from(`"\r\nContent-Type: application/octet-stream\r\n\r\n`, 'latin1'), f.bytes, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`))
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` }
}

describe('access control over HTTP: tokens, other users, guessed ids, path tricks', () => {
  let srv: TestServer
  let root: string
  let routes: Route[]
  const ids: Record<string, string> = {}

  beforeAll(async () => {
    // The data folder sits one level down, so anything escaping it would show up in `root`.
    root = await mkdtemp(path.join(os.tmpdir(), 'raddiff-access-'))
    srv = await startTestServer({ dataDir: path.join(root, 'data'), tokens: { [ALICE]: 'alice', [BOB]: 'bob' }, runTask: stubRunTask })
    const up = (await (await upload(srv.url, [fixture('nifti/ixi-t1-small.nii.gz')], ALICE)).json()) as any
    ids.scan = up.scans[0].id
    ids.job = ((await (await postJob(srv.url, { scanId: ids.scan, task: 'anomaly' }, ALICE)).json()) as any).id
    await waitForState(srv.url, ids.job, ['succeeded'], ALICE)
    const spec = (await (await fetch(`${srv.url}/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> }
    routes = Object.entries(spec.paths)
      .filter(([p]) => p.startsWith('/v1'))
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path: p })))
  })
  afterAll(async () => {
    await srv?.close()
    await rm(root, { recursive: true, force: true })
  })

  const fill = (p: string, id: Record<string, string>) =>
    p.replace('{id}', p.startsWith('/v1/scans') ? id.scan : id.job).replace('{role}', 'healed')
  const send = (r: Route, id: Record<string, string>, token?: string, url = srv.url) => {
    const headers: Record<string, string> = { ...bearer(token) }
    let body: RequestInit['body']
    if (r.method === 'POST' && r.path === '/v1/jobs') {
      headers['content-type'] = 'application/json'
      body = JSON.stringify({ scanId: id.scan, task: 'denoise' })
    } else if (r.method === 'POST' && r.path.endsWith('/push')) {
      // a well-formed push: the answer must come from the ownership check, not the body's validation
      headers['content-type'] = 'application/json'
      body = '{}'
    } else if (r.method === 'POST') {
      const m = multipart([{ name: 'x.nii', bytes: Buffer.alloc(10) }])
      headers['content-type'] = m.type
      body = m.body
    }
    return fetch(`${url}${fill(r.path, id)}`, { method: r.method, headers, body })
  }

  it('the OpenAPI document lists the routes this test walks (so a new route is covered automatically)', () => {
    const names = routes.map((r) => `${r.method} ${r.path}`)
    expect(names).toEqual(expect.arrayContaining(['POST /v1/scans', 'GET /v1/scans/{id}', 'DELETE /v1/jobs/{id}', 'GET /v1/jobs/{id}/results/{role}']))
    expect(routes.length).toBeGreaterThanOrEqual(11)
    console.info(`access: ${routes.length} /v1 operations: ${names.join(', ')}`)
  })

  it('every /v1 route answers 401 with WWW-Authenticate for a missing, wrong or malformed token', async () => {
    for (const r of routes) {
      for (const t of [undefined, 'wrong-token', `${ALICE}x`, ALICE.slice(0, -1)]) {
        const res = await send(r, ids, t)
        expect(res.status, `${r.method} ${r.path} token=${t}`).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer')
        expect(((await res.json()) as any).error.code).toBe('UNAUTHORIZED')
      }
      const basic = await fetch(`${srv.url}${fill(r.path, ids)}`, { method: r.method, headers: { authorization: `Basic ${Buffer.from(`alice:${ALICE}`).toString('base64')}` } })
      expect(basic.status, `${r.method} ${r.path} basic`).toBe(401)
    }
  })

  it("another user's ids answer 404 on every id route (never 200 or 403), and nothing of alice's changes", async () => {
    for (const r of routes.filter((x) => x.path.includes('{id}') || x.path === '/v1/jobs')) {
      if (r.method === 'GET' && r.path === '/v1/jobs') continue
      const res = await send(r, ids, BOB)
      expect(res.status, `${r.method} ${r.path}`).toBe(404)
      expect(((await res.json()) as any).error.code).toBe('NOT_FOUND')
    }
    for (const list of ['/v1/scans', '/v1/jobs']) {
      const text = await (await fetch(`${srv.url}${list}`, { headers: bearer(BOB) })).text()
      expect(text).not.toContain(ids.scan)
      expect(text).not.toContain(ids.job)
    }
    expect((await fetch(`${srv.url}/v1/scans/${ids.scan}`, { headers: bearer(ALICE) })).status).toBe(200)
    expect(((await (await fetch(`${srv.url}/v1/jobs/${ids.job}`, { headers: bearer(ALICE) })).json()) as any).state).toBe('succeeded')
  })

  it('guessed ids (random UUIDs, garbage, overlong) answer 404 or 400, identically for every id route', async () => {
    const guesses = [randomUUID(), randomUUID(), '00000000-0000-0000-0000-000000000000', 'x'.repeat(150), '1%20OR%201=1', "'%3B--"]
    for (const r of routes.filter((x) => x.path.includes('{id}'))) {
      for (const g of guesses) {
        const res = await send(r, { scan: g, job: g }, ALICE)
        expect([400, 404], `${r.method} ${r.path} id=${g}`).toContain(res.status)
      }
    }
  })

  it('role names with path tricks answer 400 or 404, never a file', async () => {
    for (const role of ['..%2F..%2Fraddiff.sqlite', '..', '%2e%2e', 'healed%00', 'healed.nii.gz', '..%5C..', 'HEALED', 'a'.repeat(40)]) {
      for (const q of ['', '?format=dicom', '?format=png']) {
        const res = await fetch(`${srv.url}/v1/jobs/${ids.job}/results/${role}${q}`, { headers: bearer(ALICE) })
        expect([400, 404], `${role}${q}`).toContain(res.status)
      }
    }
    const enc = await fetch(`${srv.url}/v1/jobs/${ids.job}/results/..%2F..%2F..%2Fraddiff.sqlite`, { headers: bearer(ALICE) })
    expect((await enc.text()).startsWith('SQLite format')).toBe(false)
  })

  it('upload file names with path tricks are stored inside the upload folder under safe names', async () => {
    const bytes = await readFile(fixture('nifti/ixi-t1-small.nii.gz'))
    const names = ['../../etc/passwd.nii.gz', 'a/../../b.nii.gz', '/etc/shadow.nii.gz', 'C:\\Windows\\..\\..\\win.nii.gz', '..\\..\\x.nii.gz', 'nul\u0000byte.nii.gz', `${'n'.repeat(5000)}.nii.gz`, '.hidden.nii.gz', '..', '']
    const m = multipart(names.map((name) => ({ name, bytes })))
    const res = await fetch(`${srv.url}/v1/scans`, { method: 'POST', body: m.body, headers: { 'content-type': m.type, ...bearer(ALICE) } })
    expect(res.status).toBe(201)
    const body = (await res.json()) as any
    expect(body.scans.length + body.problems.length).toBeGreaterThanOrEqual(1)
    for (const s of body.scans) expect(s.summary.source).not.toMatch(/\.\.|^\/|\\|\0/)
    // Nothing outside the data folder, and inside each upload only flat files with safe names.
    expect(await readdir(root)).toEqual(['data'])
    const uploads = path.join(root, 'data', 'uploads')
    let files = 0
    for (const u of await readdir(uploads)) {
      for (const f of await readdir(path.join(uploads, u), { withFileTypes: true })) {
        expect(f.isFile(), f.name).toBe(true)
        expect(f.name).toMatch(/^\d{5}-[A-Za-z0-9._-]{1,120}$/)
        expect(f.name.length).toBeLessThanOrEqual(126)
        files++
      }
    }
    expect(files).toBeGreaterThanOrEqual(names.length)
    expect((await stat('/etc/passwd')).size).toBeGreaterThan(0)
  })
})
