import { mkdir, open, rm, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { FastifyInstance } from 'fastify'
import type { RouteTypes } from '../type-provider.js'
import type { ServiceContext } from '../context.js'
import { HttpError, notFound } from '../errors.js'
import { errors, idParams, listQuery, scanSchema } from '../schemas.js'
import type { ScanRecord } from '../store.js'
import { storeUploadAsScans } from '../upload-scans.js'

/** A file name safe to create inside the upload folder, keeping its extensions (.nii.gz). */
export function safeFileName(raw: string | undefined, index: number): string {
  const base = (raw ?? '').split(/[/\\]/).pop() ?? ''
  const clean = base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.]+/, '').slice(-120)
  return `${String(index).padStart(5, '0')}-${clean || 'file'}`
}

/** Names relative to the upload folder: the user sees their own file names, never our paths. */
function relativeName(name: string, dir: string): string {
  const i = name.indexOf(dir)
  return i < 0 ? name : name.slice(i + dir.length).replace(/^[/\\]/, '').replace(/(^|[/\\!])\d{5}-/g, '$1')
}

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT'])

/**
 * A file sink that turns a full disk into `onFull` (507) and keeps swallowing the part, so the
 * multipart stream is read to its end and the client gets our answer rather than a reset.
 */
function uploadSink(file: string, onFull: () => void): Writable {
  let fh: FileHandle | undefined
  let full = false
  return new Writable({
    async write(chunk: Buffer, _enc, cb) {
      if (full) return cb()
      try {
        fh ??= await open(file, 'w')
        await fh.write(chunk)
        cb()
      } catch (e) {
        if (!DISK_FULL.has((e as NodeJS.ErrnoException).code ?? '')) return cb(e as Error)
        full = true
        onFull()
        cb()
      }
    },
    final(cb) {
      // An empty part still leaves its (empty) file, as createWriteStream did.
      const h = fh
      fh = undefined
      void (h ? h.close() : open(file, 'w').then((e) => e.close())).then(() => cb(), (e) => (DISK_FULL.has(e.code) ? cb() : cb(e)))
    },
    destroy(err, cb) {
      const h = fh
      fh = undefined
      void (h?.close() ?? Promise.resolve()).then(() => cb(err), () => cb(err))
    },
  })
}

export const scanView = (s: ScanRecord) => ({ id: s.id, created: s.created, bytes: s.bytes, summary: s.summary })

export function scansPlugin(ctx: ServiceContext) {
  return async (fastify: FastifyInstance): Promise<void> => {
    const app = fastify.withTypeProvider<RouteTypes>()
    app.post(
      '/v1/scans',
      {
        schema: {
          tags: ['scans'],
          summary: 'Upload DICOM files, a zip of a series, or NIfTI (multipart/form-data, any field names)',
          consumes: ['multipart/form-data'],
          response: {
            201: {
              type: 'object',
              properties: {
                scans: { type: 'array', items: { $ref: 'Scan#' } },
                problems: {
                  type: 'array',
                  items: { type: 'object', properties: { name: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } } },
                },
              },
            },
            ...errors(400, 401, 413, 415, 422, 429, 507),
          },
        },
      },
      async (req, reply) => {
        let files = 0
        let total = 0
        const stored = await storeUploadAsScans(ctx, req.user, {
          async receive(dir, quotaLeft) {
            // Past a limit the rest of the body is read and dropped: a client still sending cannot
            // read our answer, so answering before the body ends would look like a reset.
            let refused: HttpError | undefined
            for await (const part of req.parts()) {
              if (part.type !== 'file') continue
              const counter = new Transform({
                transform(chunk: Buffer, _enc, cb) {
                  total += chunk.length
                  if (total > ctx.limits.maxUploadBytes) refused ??= new HttpError('PAYLOAD_TOO_LARGE', 'the upload exceeds the configured total size')
                  else if (total > quotaLeft) refused ??= new HttpError('QUOTA_EXCEEDED', 'your storage quota is used up; delete scans or jobs first')
                  cb(null, refused ? undefined : chunk)
                },
              })
              const full = () => (refused ??= new HttpError('QUOTA_EXCEEDED', 'the server is out of disk space; try again later'))
              await pipeline(part.file, counter, uploadSink(path.join(dir, safeFileName(part.filename, files++)), full))
            }
            if (refused) throw refused
            if (files === 0) throw new HttpError('INVALID_REQUEST', 'the upload holds no files')
            return total
          },
          source: (summary, dir) => relativeName(summary.source, dir),
          noSeries: 'no image series found in the upload',
        })
        const { uploadId, dir, scans } = stored
        req.log.info({ upload: uploadId, series: scans.length, bytes: total }, 'upload stored')
        return reply.code(201).send({
          scans: scans.map(scanView),
          problems: stored.problems.map((p) => ({ name: relativeName(p.name, dir), code: p.error.code, message: p.error.message.split(dir).join('') })),
        })
      },
    )

    app.get(
      '/v1/scans',
      { schema: { tags: ['scans'], summary: "The caller's scans, newest first", querystring: listQuery, response: { 200: { type: 'object', properties: { scans: { type: 'array', items: { $ref: 'Scan#' } } } }, ...errors(401, 429) } } },
      async (req) => {
        const q = req.query
        return { scans: (await ctx.store.listScans(req.user, q.limit, q.offset)).map(scanView) }
      },
    )

    app.get(
      '/v1/scans/:id',
      { schema: { tags: ['scans'], summary: 'One scan with its header summary', params: idParams, response: { 200: { $ref: 'Scan#' }, ...errors(401, 404, 429) } } },
      async (req) => {
        const s = await ctx.store.getScan(req.user, req.params.id)
        if (!s) throw notFound('scan')
        return scanView(s)
      },
    )

    app.delete(
      '/v1/scans/:id',
      { schema: { tags: ['scans'], summary: 'Delete a scan (its files go when no other scan of the same upload remains)', params: idParams, response: { 204: { type: 'null' }, ...errors(401, 404, 429) } } },
      async (req, reply) => {
        const r = await ctx.store.deleteScan(req.user, req.params.id)
        if (!r) throw notFound('scan')
        if (!r.uploadInUse) await rm(path.join(ctx.dataDir, 'uploads', r.uploadId), { recursive: true, force: true })
        return reply.code(204).send()
      },
    )
  }
}
