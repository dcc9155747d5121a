import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { RouteTypes } from '../type-provider.js'
import yazl from 'yazl'
import { readImageFile } from '../../io/image/index.js'
import { createDeidentifier } from '../../io/writers/deidentify.js'
import { writePng, type Plane } from '../../io/writers/write-png.js'
import type { Volume } from '../../volume/volume.js'
import type { ServiceContext } from '../context.js'
import { HttpError, notFound } from '../errors.js'
import { errors, idParams, roleParams } from '../schemas.js'
import type { JobRecord, OutputRecord } from '../store.js'
import { PromiseLru } from '../promise-lru.js'
import { writeJobOutputDicom } from '../dicom-outputs.js'
import { readSourceHeader } from '../source-header.js'

async function zipFolder(folder: string, out: string): Promise<void> {
  const zip = new yazl.ZipFile()
  for (const name of (await readdir(folder)).sort()) zip.addFile(path.join(folder, name), name, { compress: true })
  zip.end()
  await new Promise<void>((resolve, reject) => {
    const ws = createWriteStream(out)
    ws.on('close', () => resolve())
    ws.on('error', reject)
    zip.outputStream.on('error', reject).pipe(ws)
  })
}

export function parseWindow(raw: string | undefined): { center: number; width: number } | undefined {
  if (raw === undefined) return undefined
  const m = /^\s*(-?[\d.]+(?:e[-+]?\d+)?)\s*,\s*([\d.]+(?:e[-+]?\d+)?)\s*$/i.exec(raw)
  const center = Number(m?.[1])
  const width = Number(m?.[2])
  if (!m || !Number.isFinite(center) || !Number.isFinite(width) || width <= 0) {
    throw new HttpError('INVALID_REQUEST', 'window must be "center,width" with a positive width')
  }
  return { center, width }
}

/** The caller's job, which must have succeeded: only then are there results to read. */
export async function finishedJob(ctx: ServiceContext, user: string, id: string): Promise<JobRecord> {
  const j = await ctx.store.getJob(user, id)
  if (!j) throw notFound('job')
  if (j.state !== 'succeeded') throw new HttpError('CONFLICT', `the job has no results (state: ${j.state})`)
  return j
}

export function resultsPlugin(ctx: ServiceContext) {
  // The last few result volumes, so paging through PNG slices does not re-read the NIfTI each time.
  const cache = new PromiseLru<Volume>(2)
  const readVolume = (file: string) => cache.get(file, () => readImageFile(file, path.basename(file)))
  // One UID mapping per job (all its roles share the new Study UID) that nobody can reverse.
  const deidSecret = randomBytes(32)
  const deidentifierFor = (jobId: string) => createDeidentifier(createHmac('sha256', deidSecret).update(jobId).digest())
  return async (fastify: FastifyInstance): Promise<void> => {
    const app = fastify.withTypeProvider<RouteTypes>()
    const outputView = (o: OutputRecord) => ({ role: o.role, label: o.label, bytes: o.bytes, formats: ['nifti', 'dicom', 'png'], href: `/v1/jobs/${o.jobId}/results/${o.role}` })

    app.get(
      '/v1/jobs/:id/results',
      {
        schema: {
          tags: ['results'],
          summary: "A finished job's outputs, each downloadable as NIfTI, zipped DICOM or PNG slices",
          params: idParams,
          response: { 200: { type: 'object', properties: { outputs: { type: 'array', items: { $ref: 'Output#' } } } }, ...errors(401, 404, 409, 429) },
        },
      },
      async (req) => {
        const j = await finishedJob(ctx, req.user, req.params.id)
        return { outputs: (await ctx.store.outputs(j.id)).map(outputView) }
      },
    )

    app.get(
      '/v1/jobs/:id/results/:role',
      {
        schema: {
          tags: ['results'],
          summary: 'Download one output: NIfTI (.nii.gz; heatmaps as float32), a zipped derived DICOM series, or one PNG slice',
          params: roleParams,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              format: { type: 'string', enum: ['nifti', 'dicom', 'png'], default: 'nifti' },
              slice: { type: 'integer', minimum: 0 },
              plane: { type: 'string', enum: ['axial', 'coronal', 'sagittal'] },
              window: { type: 'string', description: 'center,width (PNG only)', maxLength: 64 },
              deidentify: { type: 'string', enum: ['0', '1', 'true', 'false'], description: 'DICOM only: apply the PS3.15 Annex E Basic Profile (patient, dates, UIDs)' },
            },
          },
          produces: ['application/gzip', 'application/zip', 'image/png'],
          response: { 200: { description: 'the file', type: 'string', format: 'binary' }, ...errors(400, 401, 404, 409, 422, 429) },
        },
      },
      async (req, reply) => {
        const { id, role } = req.params
        const q = req.query
        const deidentify = q.deidentify === '1' || q.deidentify === 'true'
        const j = await finishedJob(ctx, req.user, id)
        const out = (await ctx.store.outputs(j.id)).find((o) => o.role === role)
        if (!out) throw notFound('output')
        const nifti = path.join(ctx.dataDir, out.file)
        const stem = `${j.id}_desc-${role}`
        if (q.format === 'nifti') {
          const st = await stat(nifti).catch(() => undefined)
          if (!st) throw notFound('output file')
          return reply
            .type('application/gzip')
            .header('content-length', st.size)
            .header('content-disposition', `attachment; filename="${stem}.nii.gz"`)
            .send(createReadStream(nifti))
        }
        const tmp = path.join(ctx.scratchDir, randomUUID())
        await mkdir(tmp, { recursive: true })
        try {
          if (q.format === 'png') {
            const file = path.join(tmp, 'slice.png')
            await writePng(await readVolume(nifti), file, { slice: q.slice, plane: q.plane, window: parseWindow(q.window) })
            return reply.type('image/png').header('content-disposition', `inline; filename="${stem}.png"`).send(await readFile(file))
          }
          // The derived series is built once, then served from the results folder.
          const zipPath = path.join(ctx.pool.outDir(j.id), `${role}${deidentify ? '.deid' : ''}.dicom.zip`)
          if (!(await stat(zipPath).catch(() => undefined))) {
            const folder = path.join(tmp, 'series')
            // Filed in the scan's study with its patient module and slice references (source-header.ts).
            const header = await readSourceHeader(ctx.pool.outDir(j.id))
            await writeJobOutputDicom(await readVolume(nifti), header, { task: j.task, role, label: out.label }, folder, deidentify ? deidentifierFor(j.id) : undefined)
            const part = path.join(tmp, 'series.zip')
            await zipFolder(folder, part)
            await rename(part, zipPath)
          }
          const st = await stat(zipPath)
          return reply
            .type('application/zip')
            .header('content-length', st.size)
            .header('content-disposition', `attachment; filename="${stem}${deidentify ? '_deid' : ''}_dicom.zip"`)
            .send(createReadStream(zipPath))
        } finally {
          await rm(tmp, { recursive: true, force: true })
        }
      },
    )
  }
}
