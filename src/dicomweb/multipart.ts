import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, stat, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { DicomwebError } from './errors.js'

/** The boundary parameter of a multipart/related content type, or undefined. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/related\b/i.test(contentType.trim())) return undefined
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType)
  return m?.[1] ?? m?.[2]
}

const CRLF = Buffer.from('\r\n')
const HEADER_END = Buffer.from('\r\n\r\n')

/**
 * Streams a multipart/related body into one file per part in `folder` (`part-00001.dcm`, …),
 * holding at most one chunk plus a delimiter's length in memory. A body that ends before its
 * closing delimiter, a part that is not application/dicom, or more than `maxBytes` in all fail
 * with a typed error; the caller removes the folder.
 */
export async function writeMultipartParts(
  body: AsyncIterable<Buffer>,
  boundary: string,
  folder: string,
  opts: { maxBytes: number; what: string },
): Promise<string[]> {
  const delimiter = Buffer.from(`\r\n--${boundary}`)
  const files: string[] = []
  // A leading CRLF lets the first delimiter (which may start the body) match like the others.
  let buf: Buffer = Buffer.from(CRLF)
  let state: 'preamble' | 'afterDelimiter' | 'headers' | 'body' | 'done' = 'preamble'
  let out: FileHandle | undefined
  let total = 0
  const bad = (msg: string) => new DicomwebError('DICOMWEB_BAD_RESPONSE', `${opts.what}: ${msg}`)
  try {
    const step = async (final: boolean): Promise<boolean> => {
      switch (state) {
        case 'preamble': {
          const at = buf.indexOf(delimiter)
          if (at < 0) {
            buf = buf.subarray(Math.max(0, buf.length - delimiter.length))
            return false
          }
          buf = buf.subarray(at + delimiter.length)
          state = 'afterDelimiter'
          return true
        }
        case 'afterDelimiter': {
          if (buf.length < 2) return false
          if (buf[0] === 0x2d && buf[1] === 0x2d) {
            state = 'done'
            return false
          }
          // Transport padding (spaces / tabs) may follow a delimiter before its CRLF.
          const eol = buf.indexOf(CRLF)
          if (eol < 0) return false
          buf = buf.subarray(eol + 2)
          state = 'headers'
          return true
        }
        case 'headers': {
          const end = buf.indexOf(HEADER_END)
          // A part without headers starts its body right away (CRLF directly after the delimiter line).
          if (buf.subarray(0, 2).equals(CRLF)) {
            buf = buf.subarray(2)
          } else {
            if (end < 0) {
              if (buf.length > 16 << 10) throw bad('a part header is too long')
              return false
            }
            const headers = buf.subarray(0, end).toString('latin1')
            const type = /^content-type:\s*([^;\r\n]+)/im.exec(headers)?.[1]?.trim().toLowerCase()
            if (type && type !== 'application/dicom') throw bad('a part is not application/dicom')
            buf = buf.subarray(end + 4)
          }
          const file = path.join(folder, `part-${String(files.length + 1).padStart(5, '0')}.dcm`)
          out = await open(file, 'wx')
          files.push(file)
          state = 'body'
          return true
        }
        case 'body': {
          const at = buf.indexOf(delimiter)
          if (at >= 0) {
            await out!.write(buf.subarray(0, at))
            await out!.close()
            out = undefined
            buf = buf.subarray(at + delimiter.length)
            state = 'afterDelimiter'
            return true
          }
          // Keep a delimiter's length back: it may be split across chunks.
          const keep = final ? 0 : delimiter.length - 1
          if (buf.length > keep) {
            await out!.write(buf.subarray(0, buf.length - keep))
            buf = buf.subarray(buf.length - keep)
          }
          return false
        }
        case 'done':
          return false
      }
    }
    try {
      for await (const chunk of body) {
        total += chunk.length
        if (total > opts.maxBytes) {
          throw new DicomwebError('DICOMWEB_TOO_LARGE', `${opts.what}: the transfer exceeds the limit of ${opts.maxBytes} bytes`)
        }
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
        while (await step(false));
      }
    } catch (e) {
      if (e instanceof DicomwebError) throw e
      throw new DicomwebError('DICOMWEB_UNREACHABLE', `${opts.what}: the connection was lost during the transfer`, { cause: e })
    }
    while (await step(true));
    // (cast: the closure above changes `state`, which TypeScript's narrowing does not see)
    if ((state as string) !== 'done') throw bad('the multipart body ends before its closing delimiter (truncated)')
    return files
  } finally {
    await out?.close().catch(() => undefined)
  }
}

/**
 * A multipart/related body of DICOM files for STOW-RS, read from disk as it is sent, with its
 * exact length (some servers refuse chunked uploads).
 */
export async function multipartBody(files: string[]): Promise<{ contentType: string; length: number; stream: () => Readable }> {
  const boundary = `raddiff-${randomBytes(12).toString('hex')}`
  const head = Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`)
  const sep = Buffer.from(`\r\n`)
  const tail = Buffer.from(`--${boundary}--\r\n`)
  let length = tail.length
  for (const f of files) length += head.length + (await stat(f)).size + sep.length
  async function* parts(): AsyncGenerator<Buffer> {
    for (const f of files) {
      yield head
      for await (const c of createReadStream(f)) yield c as Buffer
      yield sep
    }
    yield tail
  }
  return {
    contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`,
    length,
    stream: () => Readable.from(parts()),
  }
}
