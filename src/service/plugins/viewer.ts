import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import type { RouteTypes } from '../type-provider.js'
import { openInputs } from '../../io/load.js'
import { readImageFile } from '../../io/image/index.js'
import { toFloat32, type Volume } from '../../volume/volume.js'
import type { ServiceContext } from '../context.js'
import { notFound } from '../errors.js'
import { errors, idParams, roleParams } from '../schemas.js'
import { homePlugin } from './home.js'
import { finishedJob } from './results.js'
import { PromiseLru } from '../promise-lru.js'
import type { RawVolumeHeader } from '../raw-volume-format.js'
import type { ScanRecord } from '../store.js'
import type { JobUpdate } from '../worker-pool.js'

/** src/service/plugins and dist/service/plugins are both three levels below the repository root. */
export const defaultViewerDir = (): string => path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../viewer/dist')

/**
 * The viewer's volume format: u32 LE header length, the JSON header (space-padded to 4 bytes), then
 * float32 LE real values x-fastest. The browser builds a Cornerstone3D volume from it without a
 * NIfTI parser and with the service's own reading of the geometry.
 */
export function encodeRawVolume(role: string, v: Volume): Buffer {
  const data = toFloat32(v)
  let lo = Infinity
  let hi = -Infinity
  for (const x of data) {
    if (x < lo) lo = x
    if (x > hi) hi = x
  }
  const header: RawVolumeHeader = {
    role,
    size: v.size,
    spacing: v.spacing,
    origin: v.origin,
    direction: [...v.direction],
    modality: v.modality,
    units: v.meta?.units,
    window: v.meta?.windowWidth ? { center: v.meta.windowCenter ?? 0, width: v.meta.windowWidth } : undefined,
    range: data.length ? [lo, hi] : [0, 0],
  }
  let json = JSON.stringify(header)
  json += ' '.repeat((4 - ((4 + Buffer.byteLength(json)) % 4)) % 4)
  const head = Buffer.alloc(4)
  head.writeUInt32LE(Buffer.byteLength(json))
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  // float32 on the wire is little-endian; every platform Node ships on is too.
  return Buffer.concat([head, Buffer.from(json), body])
}

/**
 * The web viewer at / (the Vite build in viewer/dist; the placeholder page when it was not built)
 * and the routes it needs beyond the public API: a job's original scan and outputs, and an uploaded
 * scan (for the in-browser preview), as raw float32 volumes, under the same ownership checks as the
 * results routes.
 */
export function viewerPlugin(ctx: ServiceContext, viewerDir = defaultViewerDir()) {
  // A few encoded volumes: the viewer asks for the original of a job once per viewport reload.
  const cache = new PromiseLru<Buffer>(8)
  const original = (scan: ScanRecord): Promise<Buffer> =>
    cache.get(`scan:${scan.id}`, async () => {
      const opened = await openInputs([path.join(ctx.dataDir, 'uploads', scan.uploadId)], { tmpDir: ctx.scratchDir })
      try {
        const handle = opened.series[scan.seriesIndex]
        if (!handle) throw notFound('scan data')
        return encodeRawVolume('original', await handle.load())
      } finally {
        await opened.cleanup()
      }
    })
  const output = (role: string, file: string): Promise<Buffer> => {
    const abs = path.join(ctx.dataDir, file)
    return cache.get(`out:${abs}`, async () => encodeRawVolume(role, await readImageFile(abs, path.basename(abs))))
  }
  // A finished job's volumes are encoded as soon as it succeeds, so the viewer, which asks right
  // after the end event, finds them ready (≈ 1-1.5 s of its first-slice time was this encoding).
  // Failures here are not errors: the route encodes again on demand and reports problems there.
  const prefetch = (u: JobUpdate): void => {
    if (u.state !== 'succeeded') return
    void (async () => {
      const j = await ctx.store.jobById(u.id)
      const scan = j ? await ctx.store.scanById(j.scanId) : undefined
      if (!j || !scan) return
      void original(scan).catch(() => {})
      for (const o of await ctx.store.outputs(j.id)) void output(o.role, o.file).catch(() => {})
    })().catch(() => {})
  }
  return async (fastify: FastifyInstance): Promise<void> => {
    const app = fastify.withTypeProvider<RouteTypes>()
    ctx.pool.on('update', prefetch)
    app.addHook('onClose', async () => void ctx.pool.off('update', prefetch))
    if (existsSync(path.join(viewerDir, 'index.html'))) {
      // decorateReply: false because the docs UI registers @fastify/static too.
      await app.register(fastifyStatic, { root: viewerDir, prefix: '/', index: 'index.html', decorateReply: false, maxAge: 0 })
    } else {
      app.log.warn('viewer/dist is missing (run `npm run build:viewer`); serving the placeholder page at /')
      await app.register(homePlugin)
    }

    app.get(
      '/v1/jobs/:id/volumes/:role',
      {
        schema: {
          tags: ['results'],
          summary: "For the viewer: a finished job's original scan (role 'original') or one output as a raw float32 volume",
          params: roleParams,
          produces: ['application/octet-stream'],
          response: { 200: { description: 'u32 header length, JSON header, float32 voxels', type: 'string', format: 'binary' }, ...errors(401, 404, 409, 422, 429) },
        },
      },
      async (req, reply) => {
        const { id, role } = req.params
        const j = await finishedJob(ctx, req.user, id)
        let buf: Promise<Buffer>
        if (role === 'original') {
          const scan = await ctx.store.getScan(req.user, j.scanId)
          if (!scan) throw notFound('scan')
          buf = original(scan)
        } else {
          const out = (await ctx.store.outputs(j.id)).find((o) => o.role === role)
          if (!out) throw notFound('output')
          buf = output(role, out.file)
        }
        return reply.type('application/octet-stream').header('cache-control', 'private, no-store').send(await buf)
      },
    )

    app.get(
      '/v1/scans/:id/volume',
      {
        schema: {
          tags: ['scans'],
          summary: "For the viewer's in-browser preview: an uploaded scan as a raw float32 volume (same format as the job volumes)",
          params: idParams,
          produces: ['application/octet-stream'],
          response: { 200: { description: 'u32 header length, JSON header, float32 voxels', type: 'string', format: 'binary' }, ...errors(401, 404, 422, 429) },
        },
      },
      async (req, reply) => {
        const scan = await ctx.store.getScan(req.user, req.params.id)
        if (!scan) throw notFound('scan')
        return reply.type('application/octet-stream').header('cache-control', 'private, no-store').send(await original(scan))
      },
    )
  }
}
