import { TASKS } from '../pipelines/task.js'

/** JSON schemas shared by the routes; @fastify/swagger turns them into the OpenAPI document. */

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const

const vec3 = { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 } as const

export const summarySchema = {
  type: 'object',
  properties: {
    format: { type: 'string' },
    source: { type: 'string', description: 'the uploaded file name (archive!entry for zips)' },
    files: { type: 'integer' },
    size: vec3,
    spacing: vec3,
    origin: vec3,
    direction: { type: 'array', items: { type: 'number' }, minItems: 9, maxItems: 9 },
    modality: { type: 'string' },
    components: { type: 'integer' },
    voxelType: { type: 'string' },
    transferSyntax: { type: 'object', properties: { uid: { type: 'string' }, name: { type: 'string' } } },
    seriesInstanceUID: { type: 'string' },
    seriesNumber: { type: 'number' },
    seriesDescription: { type: 'string' },
    warnings: { type: 'array', items: { type: 'string' } },
  },
} as const

export const scanSchema = {
  $id: 'Scan',
  type: 'object',
  properties: {
    id: { type: 'string' },
    created: { type: 'string', format: 'date-time' },
    bytes: { type: 'integer', description: 'bytes of the upload this series came in' },
    summary: summarySchema,
  },
  required: ['id', 'created', 'summary'],
} as const

export const paramsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    model: { type: 'string', maxLength: 200 },
    steps: { type: 'integer', minimum: 1, maximum: 1000 },
    seed: { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 },
    samples: { type: 'integer', minimum: 1, maximum: 32 },
    device: { type: 'string', enum: ['auto', 'cpu', 'cuda', 'webgpu'] },
    scale: { type: 'integer', minimum: 2, maximum: 8 },
    axes: { type: 'string', enum: ['inplane', 'through', 'all'] },
    mode: { type: 'string', enum: ['sample', 'mean'] },
    depth: { type: 'integer', minimum: 1, maximum: 1000 },
    noise: { type: 'string', enum: ['gaussian', 'simplex'] },
    polarity: { type: 'string', enum: ['bright', 'dark', 'both'] },
    method: { type: 'string', enum: ['diffusion', 'intensity', 'combined'] },
  },
} as const

export const jobSchema = {
  $id: 'Job',
  type: 'object',
  properties: {
    id: { type: 'string' },
    scanId: { type: 'string' },
    task: { type: 'string', enum: [...TASKS] },
    params: { type: 'object', additionalProperties: true },
    state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
    progress: { type: 'number', minimum: 0, maximum: 1 },
    stage: { type: ['string', 'null'] },
    error: {
      type: ['object', 'null'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
    attempts: { type: 'integer' },
    created: { type: 'string' },
    started: { type: ['string', 'null'] },
    finished: { type: ['string', 'null'] },
    provenance: { type: ['object', 'null'], additionalProperties: true },
    report: { type: ['object', 'null'], additionalProperties: true },
    links: {
      type: 'object',
      properties: { self: { type: 'string' }, events: { type: 'string' }, results: { type: 'string' } },
    },
  },
  required: ['id', 'state'],
} as const

export const outputSchema = {
  $id: 'Output',
  type: 'object',
  properties: {
    role: { type: 'string' },
    label: { type: 'string' },
    bytes: { type: 'integer', description: 'size of the NIfTI file' },
    formats: { type: 'array', items: { type: 'string', enum: ['nifti', 'dicom', 'png'] } },
    href: { type: 'string' },
  },
} as const

export const idParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
  required: ['id'],
} as const

/** A job id and one of its output roles (or 'original'). */
export const roleParams = {
  type: 'object',
  properties: { ...idParams.properties, role: { type: 'string', pattern: '^[a-z]{1,32}$' } },
  required: ['id', 'role'],
} as const

export const listQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    offset: { type: 'integer', minimum: 0, default: 0 },
  },
} as const

/** Standard error responses, referenced by every route. */
export function errors(...statuses: number[]): Record<number, { $ref: string }> {
  return Object.fromEntries(statuses.map((s) => [s, { $ref: 'Error#' }]))
}
