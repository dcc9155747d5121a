import { randomUUID } from 'node:crypto'
import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { readSegMask, type SegTargetGrid } from '../../io/dicom/read-dicom-seg.js'
import { readImageFile } from '../../io/image/index.js'
import { openInputs } from '../../io/load.js'
import { createVolume, type Mat3 } from '../../volume/volume.js'
import type { ServiceContext } from '../context.js'
import { writeJobOutputDicom } from '../dicom-outputs.js'
import { HttpError, notFound } from '../errors.js'
import { PromiseLru } from '../promise-lru.js'
import { errors, idParams } from '../schemas.js'
import { readSourceHeader } from '../source-header.js'
import type { JobRecord } from '../store.js'
import type { RouteTypes } from '../type-provider.js'
import { finishedJob } from './results.js'
import { encodeRawVolume } from './viewer.js'

const SEG_TYPES = ['application/dicom', 'application/octet-stream']

/**
 * A DICOM SEG read back as a job's mask, on its scan's grid, in the viewer's raw volume format:
 * POST one the user has (body: the .dcm file), or GET the one the service writes for the job's
 * own mask output (the SEG a download or a PACS push carries), decoded back — the round trip.
 * The scan's grid and Frame of Reference decide where frames go (io/dicom/read-dicom-seg.ts);
 * a SEG that does not fit answers 422 SEG_MISMATCH, one that is no SEG 422 NOT_A_SEGMENTATION.
 * Decoding runs here, not in the browser: the scan's Frame of Reference stays on the server,
 * and the viewer bundle does not carry a DICOM parser.
 */
export function segMaskPlugin(ctx: ServiceContext) {
  // Grids only (the voxels are dropped): a user may try several SEG files against one scan.
  const grids = new PromiseLru<SegTargetGrid>(4)
  const scanGrid = (uploadId: string, seriesIndex: number) =>
    grids.get(`${uploadId}:${seriesIndex}`, async () => {
      const opened = await openInputs([path.join(ctx.dataDir, 'uploads', uploadId)], { tmpDir: ctx.scratchDir })
      try {
        const handle = opened.series[seriesIndex]
        if (!handle) throw notFound('scan data')
        const v = await handle.load()
        return { size: v.size, spacing: v.spacing, origin: v.origin, direction: [...v.direction], frameOfReferenceUID: v.meta.dicom?.frameOfReferenceUID }
      } finally {
        await opened.cleanup()
      }
    })

  async function decodeFor(user: string, j: JobRecord, bytes: Uint8Array): Promise<Buffer> {
    const scan = await ctx.store.getScan(user, j.scanId)
    if (!scan) throw notFound('scan')
    const grid = await scanGrid(scan.uploadId, scan.seriesIndex)
    const { mask } = readSegMask(bytes, grid)
    return encodeRawVolume('mask', createVolume({ data: mask, size: [...grid.size], spacing: [...grid.spacing], origin: [...grid.origin], direction: [...(grid.direction as number[])] as Mat3, modality: 'SEG' }))
  }

  return async (fastify: FastifyInstance): Promise<void> => {
    const app = fastify.withTypeProvider<RouteTypes>()
    // Scoped to this plugin: elsewhere these bodies stay unsupported media types.
    app.addContentTypeParser(SEG_TYPES, { parseAs: 'buffer', bodyLimit: ctx.limits.maxFileBytes }, (_req, body, done) => done(null, body))
    const schema = (summary: string) => ({
      tags: ['results'],
      summary,
      params: idParams,
      produces: ['application/octet-stream'],
      response: { 200: { description: 'u32 header length, JSON header, float32 voxels (0 / 1)', type: 'string', format: 'binary' }, ...errors(400, 401, 404, 409, 413, 415, 422, 429) },
    })

    app.post('/v1/jobs/:id/seg-mask', { schema: { ...schema("For the viewer: a DICOM SEG (body, application/dicom) read as a mask on the job's scan grid"), consumes: SEG_TYPES } }, async (req, reply) => {
      // Ownership first: another user's job id answers 404 whatever the body is.
      const j = await finishedJob(ctx, req.user, req.params.id)
      const body = req.body
      // Other media types reach here parsed by Fastify's own parsers (text, JSON): not a file.
      if (!Buffer.isBuffer(body)) throw new HttpError('UNSUPPORTED_MEDIA_TYPE', 'send the DICOM SEG file as the body with content-type application/dicom')
      if (body.length === 0) throw new HttpError('INVALID_REQUEST', 'the body is empty: send the DICOM SEG file')
      const buf = await decodeFor(req.user, j, new Uint8Array(body.buffer, body.byteOffset, body.byteLength))
      return reply.type('application/octet-stream').header('cache-control', 'private, no-store').send(buf)
    })

    app.get('/v1/jobs/:id/seg-mask', { schema: schema("For the viewer: the job's mask written as a DICOM SEG and read back onto the scan grid") }, async (req, reply) => {
      const j = await finishedJob(ctx, req.user, req.params.id)
      const out = (await ctx.store.outputs(j.id)).find((o) => o.role === 'mask')
      if (!out) throw notFound('mask output')
      const tmp = path.join(ctx.scratchDir, randomUUID())
      await mkdir(tmp, { recursive: true })
      try {
        const folder = path.join(tmp, 'seg')
        // The same writer and source header as the DICOM download and the PACS push.
        const header = await readSourceHeader(ctx.pool.outDir(j.id))
        await writeJobOutputDicom(await readImageFile(path.join(ctx.dataDir, out.file), 'mask'), header, { task: j.task, role: 'mask', label: out.label }, folder, undefined)
        const [file] = await readdir(folder)
        const buf = await decodeFor(req.user, j, new Uint8Array(await readFile(path.join(folder, file))))
        return reply.type('application/octet-stream').header('cache-control', 'private, no-store').send(buf)
      } finally {
        await rm(tmp, { recursive: true, force: true })
      }
    })
  }
}
