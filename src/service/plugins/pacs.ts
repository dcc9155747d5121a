import { randomUUID } from 'node:crypto'
import { mkdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { DicomwebClient, DicomwebError, isDicomwebError, pushFolders } from '../../dicomweb/index.js'
import { readImageFile } from '../../io/image/index.js'
import type { ServiceContext } from '../context.js'
import { writeJobOutputDicom } from '../dicom-outputs.js'
import type { DicomwebServers } from '../dicomweb-servers.js'
import { HttpError } from '../errors.js'
import { errors, idParams } from '../schemas.js'
import { readSourceHeader } from '../source-header.js'
import { finishedJob } from './results.js'
import { scanView } from './scans.js'
import { storeUploadAsScans } from '../upload-scans.js'

const UID = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)*$', maxLength: 64 }
const SERVER = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'the name of a configured DICOMweb server' }

/** The upstream server's failure, as this service answers it: 502 / 504, or the client's own 404 / 413. */
function asHttp(e: unknown): unknown {
  if (!isDicomwebError(e)) return e
  const status = e.code === 'DICOMWEB_NOT_FOUND' ? 404 : e.code === 'DICOMWEB_TOO_LARGE' ? 413 : e.code === 'DICOMWEB_TIMEOUT' ? 504 : 502
  return new HttpError(e.code, e.message, status)
}

/**
 * PACS round trip: import a series from a configured DICOMweb server as a scan, and push a
 * finished job's outputs back (derived series, SEG for masks, Parametric Maps for float maps),
 * filed in the scan's study. Requests name a configured server, never a URL.
 */
export function pacsPlugin(ctx: ServiceContext, servers: DicomwebServers) {
  const serverFor = (name: string | undefined): { name: string; client: DicomwebClient } => {
    const chosen = name ?? (servers.size === 1 ? [...servers.keys()][0] : undefined)
    const s = chosen !== undefined ? servers.get(chosen) : undefined
    if (!s || chosen === undefined) {
      throw new HttpError('DICOMWEB_UNKNOWN_SERVER', servers.size === 0 ? 'no DICOMweb server is configured (RADDIFF_DICOMWEB_SERVERS_FILE)' : 'name one of the configured DICOMweb servers', 400)
    }
    return { name: chosen, client: new DicomwebClient(s.base, { ...s.conn }) }
  }

  return async (app: FastifyInstance): Promise<void> => {
    app.get(
      '/v1/dicomweb/servers',
      { schema: { tags: ['pacs'], summary: 'Names of the configured DICOMweb servers', response: { 200: { type: 'object', properties: { servers: { type: 'array', items: { type: 'string' } } } }, ...errors(401, 429) } } },
      async () => ({ servers: [...servers.keys()] }),
    )

    app.post(
      '/v1/scans/import',
      {
        schema: {
          tags: ['pacs', 'scans'],
          summary: 'Import a series from a configured DICOMweb server (WADO-RS) as a scan',
          body: { type: 'object', additionalProperties: false, required: ['study', 'series'], properties: { server: SERVER, study: UID, series: UID } },
          response: { 201: { type: 'object', properties: { scans: { type: 'array', items: { $ref: 'Scan#' } } } }, ...errors(400, 401, 404, 413, 422, 429, 502, 504, 507) },
        },
      },
      async (req, reply) => {
        const body = req.body as { server?: string; study: string; series: string }
        const { name, client } = serverFor(body.server)
        let instances = 0
        try {
          const { uploadId, scans } = await storeUploadAsScans(ctx, req.user, {
            async receive(dir, quotaLeft) {
              const limited = new DicomwebClient(client.base, { ...servers.get(name)!.conn, maxBytes: Math.max(0, Math.min(ctx.limits.maxUploadBytes, quotaLeft)) })
              const files = await limited.retrieve(dir, body.study, body.series)
              instances = files.length
              let bytes = 0
              for (const f of files) bytes += (await stat(f)).size
              return bytes
            },
            // The server's name, not its URL or the UIDs: summaries are listed to the user and logged nowhere else.
            source: () => `dicomweb:${name}`,
            noSeries: 'the series holds no image the loaders read',
          })
          req.log.info({ upload: uploadId, series: scans.length, instances }, 'DICOMweb import stored')
          return reply.code(201).send({ scans: scans.map(scanView) })
        } catch (e) {
          throw asHttp(e)
        }
      },
    )

    app.post(
      '/v1/jobs/:id/push',
      {
        schema: {
          tags: ['pacs', 'results'],
          summary: "Store a finished job's outputs on a configured DICOMweb server (STOW-RS), in the scan's study",
          params: idParams,
          body: { type: 'object', additionalProperties: false, properties: { server: SERVER } },
          response: {
            200: {
              type: 'object',
              properties: {
                server: { type: 'string' },
                outputs: { type: 'array', items: { type: 'object', properties: { role: { type: 'string' }, stored: { type: 'integer' } } } },
              },
            },
            ...errors(400, 401, 404, 409, 413, 429, 502, 504),
          },
        },
      },
      async (req) => {
        const j = await finishedJob(ctx, req.user, (req.params as { id: string }).id)
        const { name, client } = serverFor((req.body as { server?: string } | undefined)?.server)
        const header = await readSourceHeader(ctx.pool.outDir(j.id))
        const tmp = path.join(ctx.scratchDir, randomUUID())
        await mkdir(tmp, { recursive: true })
        try {
          const outputs = await ctx.store.outputs(j.id)
          const folders: string[] = []
          for (const o of outputs) {
            const folder = path.join(tmp, o.role)
            const v = await readImageFile(path.join(ctx.dataDir, o.file), `${o.role}.nii.gz`)
            await writeJobOutputDicom(v, header, { task: j.task, role: o.role, label: o.label }, folder, undefined)
            folders.push(folder)
          }
          // The job's results stay as they are whatever happens here: a failed push can be repeated.
          const rep = await pushFolders(client, folders)
          req.log.info({ job: j.id, outputs: rep.outputs.length, ok: rep.ok }, 'DICOMweb push')
          const failed = rep.outputs.find((o) => o.error)
          if (failed?.error) {
            const stored = rep.outputs.filter((o) => !o.error).length
            const e = new DicomwebError(failed.error.code as DicomwebError['code'], `${stored} of ${rep.outputs.length} outputs stored; ${failed.error.message}; the results are kept, push again`)
            throw e
          }
          return { server: name, outputs: rep.outputs.map((o, i) => ({ role: outputs[i].role, stored: o.stored })) }
        } catch (e) {
          throw asHttp(e)
        } finally {
          await rm(tmp, { recursive: true, force: true })
        }
      },
    )
  }
}
