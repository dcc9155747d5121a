import type { FastifyInstance } from 'fastify'

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raddiff</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>raddiff</h1>
<p>The viewer is coming. Until then, use the API: <a href="/docs">/docs</a>.</p>
<p><strong>NOT FOR CLINICAL USE.</strong></p>
</body></html>
`

/** Placeholder for the viewer (a later issue replaces this route). */
export async function homePlugin(app: FastifyInstance): Promise<void> {
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE))
}
