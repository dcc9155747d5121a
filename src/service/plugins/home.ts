import type { FastifyInstance } from 'fastify'

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raddiff</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>raddiff</h1>
<p>The web viewer is not built in this installation: run <code>npm run build:viewer</code> and
restart the server. The API works without it: <a href="/docs">/docs</a>.</p>
<p><strong>NOT FOR CLINICAL USE.</strong></p>
</body></html>
`

/** What / serves when viewer/dist is missing (a checkout that skipped the viewer build). */
export async function homePlugin(app: FastifyInstance): Promise<void> {
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE))
}
