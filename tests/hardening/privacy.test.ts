import { readFile, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import yauzl from 'yauzl'
import canary from '../reference/canary.json' with { type: 'json' }
import { bearer, fixture, jobIn, startServerProcess, type ServerProcess } from './service-process.js'

const TOKEN = 'canary-token-7a1c9e0b4d2f'
/** Every canary string and its name / address parts, so a reformatted value is caught too. */
const NEEDLES = [...new Set(Object.values(canary.strings).flatMap((s) => [s, ...s.split(/[\^ -]/).filter((p) => p.length >= 6)]))]
const leaks = (text: string): string[] => NEEDLES.filter((n) => text.includes(n))

function unzip(buf: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buf, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err)
      const out = new Map<string, Buffer>()
      zip.on('entry', (e: yauzl.Entry) =>
        zip.openReadStream(e, (er, s) => {
          if (er || !s) return reject(er)
          const chunks: Buffer[] = []
          s.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
            out.set(e.fileName, Buffer.concat(chunks))
            zip.readEntry()
          })
        }),
      )
      zip.on('end', () => resolve(out))
      zip.readEntry()
    })
  })
}

async function multipartUpload(url: string, files: { file: string; name?: string }[], token = TOKEN): Promise<Response> {
  const form = new FormData()
  for (const f of files) form.append('files', new Blob([await readFile(f.file)]), f.name ?? path.basename(f.file))
  return fetch(`${url}/v1/scans`, { method: 'POST', body: form, headers: bearer(token) })
}

describe('privacy canary through every route and error path (server as a child process, logs captured)', () => {
  let dataDir: string
  let tmp: string
  let p: ServerProcess
  /** Response bodies the canary must never appear in (text, or binary read as latin1). */
  const bodies: { what: string; text: string }[] = []
  let identifiedZip: Map<string, Buffer>
  let deidZip: Map<string, Buffer>
  let jobId: string

  /** `echo`: the body repeats the caller's own file names back to them; it is checked for the file's contents only. */
  const get = async (what: string, url: string, init: RequestInit = {}, echo = false): Promise<Response> => {
    const r = await fetch(`${p.url}${url}`, { ...init, headers: { ...bearer(TOKEN), ...(init.headers as Record<string, string>) } })
    const buf = Buffer.from(await r.arrayBuffer())
    const type = r.headers.get('content-type') ?? ''
    const text = type.includes('gzip') ? gunzipSync(buf).toString('latin1') : buf.toString('latin1')
    if (echo) bodies.push({ what: `${what} ${r.status}`, text: text.split(/CANARYQX-file|CANARYID8842QX\.dcm/).join('') })
    else if (!type.includes('zip') || type.includes('gzip')) bodies.push({ what: `${what} ${r.status}`, text: text + JSON.stringify([...r.headers]) })
    return new Response(buf, { status: r.status, headers: r.headers })
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'raddiff-canary-'))
    tmp = await mkdtemp(path.join(os.tmpdir(), 'raddiff-canary-files-'))
    p = await startServerProcess(dataDir, { RADDIFF_TOKENS: `carol:${TOKEN}`, RADDIFF_TEST_LOG: '1' })
    const full = fixture('hardening/canary-mosaic.dcm')
    const broken = fixture('hardening/canary-broken.dcm')
    const bytes = await readFile(full)
    // Header intact, pixels cut: loads at upload, fails when the job reads the pixels.
    await writeFile(path.join(tmp, 'cut-pixels.dcm'), bytes.subarray(0, bytes.length - 50_000))

    // Upload, scan get / list, job, events, job get / list.
    const up = await get('upload', '/v1/scans', { method: 'POST', body: await formOf([{ file: full, name: 'CANARYQX-file.dcm' }]) }, true)
    expect(up.status).toBe(201)
    const scanId = ((await up.json()) as any).scans[0].id
    await get('scan', `/v1/scans/${scanId}`, {}, true)
    await get('scans', '/v1/scans', {}, true)
    const job = await get('job post', '/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scanId, task: 'anomaly' }) })
    jobId = ((await job.json()) as any).id
    await get('events', `/v1/jobs/${jobId}/events`)
    await jobIn(p.url, jobId, ['succeeded'], TOKEN)
    await get('job', `/v1/jobs/${jobId}`)
    await get('jobs', '/v1/jobs')
    await get('results', `/v1/jobs/${jobId}/results`)
    // Downloads: NIfTI (body checked, gunzipped), PNG, DICOM identified and de-identified (unzipped).
    for (const role of ['healed', 'heatmap']) {
      await get(`nifti ${role}`, `/v1/jobs/${jobId}/results/${role}`)
      await get(`png ${role}`, `/v1/jobs/${jobId}/results/${role}?format=png&slice=3`)
    }
    const dz = async (q: string) => unzip(Buffer.from(await (await get(`dicom${q}`, `/v1/jobs/${jobId}/results/healed?format=dicom${q}`)).arrayBuffer()))
    identifiedZip = await dz('')
    deidZip = await dz('&deidentify=1')
    await get('viewer volume', `/v1/jobs/${jobId}/volumes/healed`)

    // Error paths: broken canary, a mixed upload with a problem, pixels cut (job failure), bad requests.
    await get('broken upload', '/v1/scans', { method: 'POST', body: await formOf([{ file: broken }]) })
    await get('mixed upload', '/v1/scans', { method: 'POST', body: await formOf([{ file: broken, name: 'CANARYID8842QX.dcm' }, { file: fixture('nifti/ixi-t1-small.nii.gz') }]) }, true)
    const cut = await get('cut upload', '/v1/scans', { method: 'POST', body: await formOf([{ file: path.join(tmp, 'cut-pixels.dcm') }]) })
    if (cut.status === 201) {
      const s = ((await cut.json()) as any).scans[0].id
      const j = ((await (await get('cut job', '/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scanId: s, task: 'denoise' }) })).json()) as any).id
      await jobIn(p.url, j, ['failed', 'succeeded'], TOKEN)
      await get('cut job state', `/v1/jobs/${j}`)
    }
    await get('not multipart', '/v1/scans', { method: 'POST', headers: { 'content-type': 'application/dicom' }, body: bytes })
    await get('bad params', '/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scanId, task: 'denoise', params: { steps: -1 } }) })
    await get('bad window', `/v1/jobs/${jobId}/results/healed?format=png&window=1,-5`)
    // Whatever a user types into a query string stays out of the request log.
    await get('query text', `/v1/jobs/${jobId}/results?note=${encodeURIComponent(canary.strings.PatientName ?? Object.values(canary.strings)[0])}`)
    await get('bad token', `/v1/jobs/${jobId}`, { headers: { authorization: 'Bearer CANARYID8842QX' } })
    // Flush the log: a graceful stop.
    p.child.kill('SIGTERM')
    await p.exited
  }, 90_000)
  afterAll(async () => {
    await p?.stop()
    await rm(dataDir, { recursive: true, force: true })
    await rm(tmp, { recursive: true, force: true })
  })

  async function formOf(files: { file: string; name?: string }[]): Promise<FormData> {
    const form = new FormData()
    for (const f of files) form.append('files', new Blob([await readFile(f.file)]), f.name ?? path.basename(f.file))
    return form
  }

  it('the canary is really in the input (so the checks below can fail)', async () => {
    expect(leaks((await readFile(fixture('hardening/canary-mosaic.dcm'))).toString('latin1'))).toEqual(expect.arrayContaining(Object.values(canary.strings)))
  })

  it('the identified DICOM download is filed in the source study: it repeats the patient and study identifiers, and nothing else', () => {
    // Derived series go back into the patient's own study (issue #17), so they carry its Patient
    // and General Study modules, as the CLI's --format dicom does; institution, referring
    // physician and private tags of the source stay out.
    const kept = [canary.strings.PatientName, canary.strings.PatientID, canary.strings.PatientBirthDate, canary.strings.AccessionNumber]
    expect(identifiedZip.size).toBeGreaterThan(10)
    for (const [name, buf] of identifiedZip) {
      const found = leaks(buf.toString('latin1'))
      expect(found, name).toEqual(expect.arrayContaining([canary.strings.PatientName, canary.strings.PatientID]))
      expect(found.filter((n) => !kept.some((k) => k.includes(n))), name).toEqual([])
    }
  })

  it('no log line carries a canary string (or the token)', () => {
    const log = p.output.join('')
    expect(log.split('\n').length).toBeGreaterThan(20)
    expect(log).toContain('"statusCode":')
    expect(log).toContain(jobId)
    expect(leaks(log), log.split("\n").filter((l) => leaks(l).length).join("\n").slice(0, 3000)).toEqual([])
    expect(log).not.toContain(TOKEN)
  })

  it('no response body (JSON, NIfTI, PNG, errors) carries a canary string', () => {
    expect(bodies.length).toBeGreaterThanOrEqual(18)
    console.info(`privacy: ${bodies.length} bodies: ${bodies.map((b) => b.what).join('; ')}`)
    expect(bodies.filter((b) => /\s[45]\d\d$/.test(b.what)).length).toBeGreaterThanOrEqual(4)
    for (const b of bodies) expect(leaks(b.text), b.what).toEqual([])
  })

  it('the de-identified DICOM download carries none, in any file', () => {
    expect(deidZip.size).toBe(identifiedZip.size)
    for (const [name, buf] of deidZip) expect(leaks(buf.toString('latin1')), name).toEqual([])
  })

  it('no SQLite row other than the scan\'s own metadata carries one; result files carry none', async () => {
    const db = new Database(path.join(dataDir, 'raddiff.sqlite'), { readonly: true, fileMustExist: true })
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name)
      expect(tables).toEqual(expect.arrayContaining(['scans', 'jobs', 'outputs']))
      let cells = 0
      for (const t of tables) {
        for (const row of db.prepare(`SELECT * FROM "${t}"`).all() as Record<string, unknown>[]) {
          for (const [col, v] of Object.entries(row)) {
            if (typeof v !== 'string') continue
            cells++
            const found = leaks(v)
            if (t === 'scans' && col === 'summary') continue
            expect(found, `${t}.${col}`).toEqual([])
          }
        }
      }
      expect(cells).toBeGreaterThan(20)
    } finally {
      db.close()
    }
    // Outputs on disk: the NIfTI results and the de-identified zip; only the identified zip may carry the patient.
    const dir = path.join(dataDir, 'results', jobId)
    for (const f of await readdir(dir)) {
      const buf = await readFile(path.join(dir, f))
      if (f.endsWith('.nii.gz')) expect(leaks(gunzipSync(buf).toString('latin1')), f).toEqual([])
      if (f.endsWith('.deid.dicom.zip')) for (const [n, b] of await unzip(buf)) expect(leaks(b.toString('latin1')), `${f}!${n}`).toEqual([])
    }
    expect((await stat(path.join(dir, 'healed.deid.dicom.zip'))).size).toBeGreaterThan(0)
    expect(await readdir(path.join(dataDir, 'tmp')).catch(() => [])).toEqual([])
  })
})
