import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import type { ModelCard } from '../../engine/model-card.js'
import { listModels } from '../../engine/model-registry.js'
import type { ServiceContext } from '../context.js'
import { HttpError, notFound } from '../errors.js'
import { errors } from '../schemas.js'
import type { RouteTypes } from '../type-provider.js'

const modelSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    tasks: { type: 'array', items: { type: 'string' } },
    modality: { type: 'string' },
    sha256: { type: 'string', description: "the ONNX file's sha256 (its card's), hex" },
    bytes: { type: 'integer' },
    verified: { type: 'boolean', description: 'the file on disk matches its sha256 (only verified files are served)' },
    href: { type: 'string' },
    card: { type: 'object', additionalProperties: true, description: 'the model card, as the server reads it' },
  },
} as const

const nameParams = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1, maxLength: 200 } },
  required: ['name'],
} as const

/**
 * The installed models with their cards, and each ONNX file with its sha256: what the viewer's
 * in-browser preview runs, so it uses the very file and card the server does. Behind the same auth
 * as every /v1 route (models can be licensed data); the browser checks the sha256 itself.
 */
export function modelsPlugin(ctx: ServiceContext) {
  const usable = async () => (await listModels(ctx.modelsDir)).filter((e): e is typeof e & { card: ModelCard; onnxPath: string } => !!e.card && !!e.onnxPath)
  const verifiedNames = async () => new Set((await ctx.readiness.models()).filter((m) => m.verified).map((m) => m.name))
  return async (fastify: FastifyInstance): Promise<void> => {
    const app = fastify.withTypeProvider<RouteTypes>()
    app.get(
      '/v1/models',
      {
        schema: {
          tags: ['models'],
          summary: 'Installed models: card, sha256 and size of each ONNX file (for the in-browser preview)',
          response: { 200: { type: 'object', properties: { models: { type: 'array', items: modelSchema } } }, ...errors(401, 429) },
        },
      },
      async () => {
        const [entries, verified] = await Promise.all([usable(), verifiedNames()])
        const models = await Promise.all(
          entries.map(async (e) => ({
            name: e.card.name,
            version: e.card.version,
            tasks: e.card.tasks,
            modality: e.card.modality,
            sha256: e.card.sha256,
            bytes: (await stat(e.onnxPath)).size,
            verified: verified.has(e.card.name),
            href: `/v1/models/${encodeURIComponent(e.card.name)}/file`,
            card: e.card,
          })),
        )
        return { models }
      },
    )

    app.get(
      '/v1/models/:name/file',
      {
        schema: {
          tags: ['models'],
          summary: "One model's ONNX file (only when it matches its card's sha256, which the Repr-Digest and ETag headers carry too)",
          params: nameParams,
          produces: ['application/octet-stream'],
          response: { 200: { description: 'the ONNX file', type: 'string', format: 'binary' }, ...errors(401, 404, 409, 429) },
        },
      },
      async (req, reply) => {
        const e = (await usable()).find((m) => m.card.name === req.params.name)
        if (!e) throw notFound('model')
        if (!(await verifiedNames()).has(e.card.name)) throw new HttpError('MODEL_HASH_MISMATCH', "the model file does not match its card's sha256; reinstall it", 409)
        const { size } = await stat(e.onnxPath)
        return reply
          .type('application/octet-stream')
          .header('content-length', size)
          .header('etag', `"${e.card.sha256}"`)
          .header('repr-digest', `sha-256=:${Buffer.from(e.card.sha256, 'hex').toString('base64')}:`)
          .header('cache-control', 'private, no-cache')
          .send(createReadStream(e.onnxPath))
      },
    )
  }
}
