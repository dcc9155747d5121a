import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { RADDIFF_VERSION } from '../../version.js'

/** OpenAPI generated from the route schemas: JSON at /docs/json, the UI at /docs. Register before the routes. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'raddiff API',
        version: RADDIFF_VERSION,
        description: 'Upload scans, run diffusion-model tasks, download results. NOT FOR CLINICAL USE. Errors are {error: {code, message}}.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}
