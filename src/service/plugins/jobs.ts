import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import type { RouteTypes } from '../type-provider.js'
import type { FastifyInstance } from 'fastify'
import type { ServiceContext } from '../context.js'
import { HttpError, notFound } from '../errors.js'
import { errors, idParams, jobBodySchema, listQuery } from '../schemas.js'
import { TERMINAL, type JobRecord } from '../store.js'
import type { JobUpdate } from '../worker-pool.js'
import { checkQuota } from '../quota.js'

export function jobView(j: JobRecord) {
  return {
    id: j.id,
    scanId: j.scanId,
    task: j.task,
    params: j.params,
    state: j.state,
    progress: j.progress,
    stage: j.stage,
    error: j.errorCode ? { code: j.errorCode, message: j.errorMessage ?? '' } : null,
    attempts: j.attempts,
    created: j.created,
    started: j.started,
    finished: j.finished,
    provenance: j.provenance,
    report: j.report,
    links: { self: `/v1/jobs/${j.id}`, events: `/v1/jobs/${j.id}/events`, results: `/v1/jobs/${j.id}/results` },
  }
}

/** How often an open event stream re-reads its job's row (the backstop for a missed terminal update). */
const STREAM_POLL_MS = 3000

export function jobsPlugin(ctx: ServiceContext) {
  return async (fastify: FastifyInstance): Promise<void> => {
    const app = fastify.withTypeProvider<RouteTypes>()
    // Open event streams, so that a stopping server finishes them: an SSE response that never ends
    // keeps the HTTP server (and the process) from closing.
    const streams = new Set<() => Promise<void>>()
    let closing = false
    app.addHook('preClose', async () => {
      closing = true
      await Promise.all([...streams].map((finish) => finish()))
    })
    const getJob = async (user: string, id: string): Promise<JobRecord> => {
      const j = await ctx.store.getJob(user, id)
      if (!j) throw notFound('job')
      return j
    }

    app.post(
      '/v1/jobs',
      {
        schema: {
          tags: ['jobs'],
          summary: 'Queue a task on a scan; poll the Location or stream its events',
          body: jobBodySchema,
          response: { 202: { $ref: 'Job#' }, ...errors(400, 401, 404, 429, 503, 507) },
        },
      },
      async (req, reply) => {
        const body = req.body
        if (!(await ctx.store.getScan(req.user, body.scanId))) throw notFound('scan')
        if (ctx.pool.stats().draining) throw new HttpError('SHUTTING_DOWN', 'the service is shutting down; retry shortly', 503, { 'retry-after': '10' })
        const queueFull = async () => {
          if ((await ctx.store.activeJobs(req.user)) >= ctx.limits.maxActiveJobsPerUser) {
            throw new HttpError('QUEUE_FULL', `you already have ${ctx.limits.maxActiveJobsPerUser} queued or running jobs`, 429, { 'retry-after': '30' })
          }
        }
        await queueFull()
        await checkQuota(ctx, req.user, 0)
        // Checked again after the quota's awaits: concurrent submitters could otherwise all pass the first check.
        await queueFull()
        const job = await ctx.store.addJob({ id: randomUUID(), owner: req.user, scanId: body.scanId, task: body.task, params: body.params ?? {} })
        await ctx.pool.notify(job.id)
        return reply.code(202).header('location', `/v1/jobs/${job.id}`).send(jobView(job))
      },
    )

    app.get(
      '/v1/jobs',
      {
        schema: {
          tags: ['jobs'],
          summary: "The caller's jobs, newest first",
          querystring: { ...listQuery, properties: { ...listQuery.properties, state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] } } },
          response: { 200: { type: 'object', properties: { jobs: { type: 'array', items: { $ref: 'Job#' } } } }, ...errors(401, 429) },
        },
      },
      async (req) => {
        const q = req.query
        return { jobs: (await ctx.store.listJobs(req.user, q)).map(jobView) }
      },
    )

    app.get(
      '/v1/jobs/:id',
      { schema: { tags: ['jobs'], summary: 'State, progress, stage and error code of a job', params: idParams, response: { 200: { $ref: 'Job#' }, ...errors(401, 404, 429) } } },
      async (req) => jobView(await getJob(req.user, req.params.id)),
    )

    app.delete(
      '/v1/jobs/:id',
      {
        schema: {
          tags: ['jobs'],
          summary: 'Cancel a queued or running job (202); delete a finished one and its results (204)',
          params: idParams,
          response: { 202: { $ref: 'Job#' }, 204: { type: 'null' }, ...errors(401, 404, 429) },
        },
      },
      async (req, reply) => {
        const j = await getJob(req.user, req.params.id)
        if (!TERMINAL.includes(j.state)) {
          await ctx.pool.cancel(j.id)
          return reply.code(202).send(jobView(await getJob(req.user, j.id)))
        }
        await ctx.store.deleteJob(req.user, j.id)
        await rm(ctx.pool.outDir(j.id), { recursive: true, force: true })
        return reply.code(204).send()
      },
    )

    app.get(
      '/v1/jobs/:id/events',
      {
        schema: {
          tags: ['jobs'],
          summary: 'Server-sent events: `progress` on every change, `end` once the job is finished',
          params: idParams,
          produces: ['text/event-stream'],
          response: { 200: { description: 'text/event-stream of JSON job updates', type: 'string' }, ...errors(401, 404, 429) },
        },
      },
      async (req, reply) => {
        const j = await getJob(req.user, req.params.id)
        reply.hijack()
        const res = reply.raw
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
        const write = (event: string, data: object) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
        const snapshot = (r: JobRecord): JobUpdate => ({ id: r.id, state: r.state, progress: r.progress, stage: r.stage, errorCode: r.errorCode })
        write('progress', snapshot(j))
        if (TERMINAL.includes(j.state)) {
          write('end', snapshot(j))
          res.end()
          return
        }
        const ping = setInterval(() => res.write(': ping\n\n'), 15_000)
        // A terminal update can be missed (a pub/sub message from another process lost or late under
        // load): the store's row is re-read every few seconds so a stream never outlives its job.
        const poll = setInterval(() => void recheck(), STREAM_POLL_MS)
        const stop = () => {
          clearInterval(ping)
          clearInterval(poll)
          ctx.pool.off('update', onUpdate)
          streams.delete(finish)
        }
        // Updates reach this stream from the pool's events and, once, from a re-read of the store; a
        // networked store's row can lag the events, so the stream never goes backwards and ends once.
        let ended = false
        let last = j.progress
        function onUpdate(u: JobUpdate) {
          if (u.id !== j.id || ended) return
          if (u.progress < last) u = { ...u, progress: last }
          last = u.progress
          write('progress', u)
          if (TERMINAL.includes(u.state)) {
            ended = true
            write('end', u)
            stop()
            res.end()
          }
        }
        // The store's row, delivered if the job has finished (the one re-read every path uses)
        async function recheck(): Promise<JobRecord | undefined> {
          const now = await ctx.store.jobById(j.id).catch(() => undefined)
          if (now && TERMINAL.includes(now.state)) onUpdate(snapshot(now))
          return now
        }
        // The server is stopping: the store's row is the last word (a drained job is finished or back
        // in the queue); the stream ends either way, and a client reconnects for a queued job.
        async function finish(): Promise<void> {
          const now = await recheck()
          if (!ended) {
            ended = true
            if (now) write('progress', { ...snapshot(now), progress: Math.max(last, now.progress) })
            stop()
            res.end()
          }
        }
        streams.add(finish)
        ctx.pool.on('update', onUpdate)
        req.raw.on('close', stop)
        // The job may have finished between the read above and the subscription.
        await recheck()
        // A request that arrived while the server was stopping subscribed after preClose ran: no
        // update will come (the pool is closed), so it ends now.
        if (closing && !ended) await finish()
      },
    )
  }
}
