import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DicomwebError } from '../../src/dicomweb/errors.js'
import { boundaryOf, multipartBody, writeMultipartParts } from '../../src/dicomweb/multipart.js'
import { parseDicomwebUrl } from '../../src/dicomweb/url.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'raddiff-multipart-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** An RFC 2046 body built by hand: preamble, CRLF before each delimiter, transport padding, epilogue. */
function body(parts: Buffer[], boundary: string, close = true): Buffer {
  const chunks: Buffer[] = [Buffer.from('preamble to ignore\r\n')]
  for (const p of parts) chunks.push(Buffer.from(`--${boundary}  \r\nContent-Type: application/dicom\r\nContent-Length: ${p.length}\r\n\r\n`), p, Buffer.from('\r\n'))
  if (close) chunks.push(Buffer.from(`--${boundary}--\r\nepilogue`))
  return Buffer.concat(chunks)
}

async function* chunked(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size)
}

let n = 0
const fresh = async () => {
  const d = path.join(dir, String(n++))
  await (await import('node:fs/promises')).mkdir(d)
  return d
}

describe('multipart/related streaming parser', () => {
  // Part bodies that contain the boundary's prefix, CRLFs and "--" so a naive split would cut them.
  const parts = [Buffer.from('\r\n--bound\r\nnot a delimiter: --boun'), Buffer.alloc(5000, 7), Buffer.from('')]
  for (const size of [1, 2, 7, 64, 100_000]) {
    it(`gives back every part byte for byte with ${size}-byte chunks`, async () => {
      const d = await fresh()
      const files = await writeMultipartParts(chunked(body(parts, 'bound-42'), size), 'bound-42', d, { maxBytes: 1e9, what: 't' })
      expect(files).toHaveLength(3)
      for (const [i, f] of files.entries()) expect((await readFile(f)).equals(parts[i])).toBe(true)
    })
  }

  it('a whole body parses; one cut before its closing delimiter is a typed error', async () => {
    const d = await fresh()
    const err = await writeMultipartParts(chunked(body(parts, 'b'), 100), 'b', d, { maxBytes: 1e9, what: 't' }).then(() => undefined, (e) => e)
    expect(err).toBeUndefined()
    const cut = body(parts, 'b', false)
    const e2 = await writeMultipartParts(chunked(cut.subarray(0, cut.length - 100), 64), 'b', await fresh(), { maxBytes: 1e9, what: 't' }).catch((e) => e)
    expect(e2).toBeInstanceOf(DicomwebError)
    expect(e2.code).toBe('DICOMWEB_BAD_RESPONSE')
  })

  it('a part that is not application/dicom, or more bytes than the limit, is refused', async () => {
    const other = Buffer.from('--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b--')
    expect((await writeMultipartParts(chunked(other, 10), 'b', await fresh(), { maxBytes: 1e9, what: 't' }).catch((e) => e)).code).toBe('DICOMWEB_BAD_RESPONSE')
    expect((await writeMultipartParts(chunked(body(parts, 'b'), 512), 'b', await fresh(), { maxBytes: 4096, what: 't' }).catch((e) => e)).code).toBe('DICOMWEB_TOO_LARGE')
  })

  it('the STOW body it builds parses back to the same files, and states its exact length', async () => {
    const d = await fresh()
    const srcs = [path.join(d, 'a.dcm'), path.join(d, 'b.dcm')]
    const fs = await import('node:fs/promises')
    await fs.writeFile(srcs[0], Buffer.alloc(3000, 1))
    await fs.writeFile(srcs[1], Buffer.from('x\r\n--'))
    const m = await multipartBody(srcs)
    const chunks: Buffer[] = []
    for await (const c of m.stream()) chunks.push(c as Buffer)
    const all = Buffer.concat(chunks)
    expect(all.length).toBe(m.length)
    const out = await fresh()
    const files = await writeMultipartParts(chunked(all, 33), boundaryOf(m.contentType)!, out, { maxBytes: 1e9, what: 't' })
    expect(await readdir(out)).toHaveLength(2)
    for (const [i, f] of files.entries()) expect((await readFile(f)).equals(await readFile(srcs[i]))).toBe(true)
  })

  it('boundaryOf reads quoted and bare boundaries of multipart/related only', () => {
    expect(boundaryOf('multipart/related; type="application/dicom"; boundary="abc def"')).toBe('abc def')
    expect(boundaryOf('multipart/related;boundary=xyz; type=application/dicom')).toBe('xyz')
    expect(boundaryOf('application/dicom+json')).toBeUndefined()
  })
})

describe('dicomweb+ URLs', () => {
  it('splits base, study and series; refuses credentials and malformed paths', () => {
    expect(parseDicomwebUrl('dicomweb+https://pacs.example/dicom-web/studies/1.2.3/series/4.5')).toEqual({ base: 'https://pacs.example/dicom-web', study: '1.2.3', series: '4.5' })
    expect(parseDicomwebUrl('dicomweb+http://127.0.0.1:8042/dicom-web')).toEqual({ base: 'http://127.0.0.1:8042/dicom-web' })
    for (const bad of ['https://x/studies/1', 'dicomweb+https://u:p@x/studies/1', 'dicomweb+https://x/studies/1.2/instances/3', 'dicomweb+https://x/studies/abc', 'dicomweb+https://x/studies/1?a=b']) {
      expect(() => parseDicomwebUrl(bad), bad).toThrow(DicomwebError)
    }
  })
})
