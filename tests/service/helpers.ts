import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { afterAll } from 'vitest'
import { buildApp } from '../../src/service/app.js'
import type { ServiceOptions } from '../../src/service/config.js'
import { hasPostgres, startTestPostgres, type TestPostgres } from './postgres-server.js'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const fixture = (p: string) => path.join(repoRoot, 'fixtures', p)
export const stubModule = path.join(repoRoot, 'tests/service/stub-task.ts')

export type StoreKind = 'sqlite' | 'postgres'

/** The record stores a suite runs against: SQLite always, PostgreSQL where its server is installed. */
export const storeKinds: StoreKind[] = ['sqlite', ...(hasPostgres ? (['postgres'] as const) : [])]

/**
 * Per test file: `url(kind)` gives a fresh database for the PostgreSQL runs (undefined for SQLite,
 * which lives in the server's data folder). The PostgreSQL server starts on first use and stops
 * after the file's last test. Call at the top level of the file.
 */
export function testDatabases(): { url(kind: StoreKind): Promise<string | undefined> } {
  let server: Promise<TestPostgres> | undefined
  afterAll(async () => {
    if (server) await (await server).destroy()
  })
  return {
    async url(kind) {
      if (kind === 'sqlite') return undefined
      server ??= startTestPostgres()
      return (await server).createDatabase()
    },
  }
}

export interface TestServer {
  app: FastifyInstance
  url: string
  dataDir: string
  close(): Promise<void>
}

/** A real server on 127.0.0.1 with an ephemeral port and its own data folder. */
export async function startTestServer(opts: Partial<ServiceOptions> = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'raddiff-svc-')))
  const app = await buildApp({ logger: false, ...opts, dataDir })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const addr = app.server.address() as { port: number }
  return {
    app,
    url: `http://127.0.0.1:${addr.port}`,
    dataDir,
    async close() {
      await app.close()
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true })
    },
  }
}

export const auth = (token?: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {})

export async function upload(url: string, files: string[], token?: string): Promise<Response> {
  const form = new FormData()
  for (const f of files) form.append('files', new Blob([await readFile(f)]), path.basename(f))
  return fetch(`${url}/v1/scans`, { method: 'POST', body: form, headers: auth(token) })
}

export async function postJob(url: string, body: unknown, token?: string): Promise<Response> {
  return fetch(`${url}/v1/jobs`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...auth(token) } })
}

export async function waitForState(url: string, id: string, states: string[], token?: string, timeoutMs = 30_000): Promise<any> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const j = await (await fetch(`${url}/v1/jobs/${id}`, { headers: auth(token) })).json() as any
    if (states.includes(j.state)) return j
    if (Date.now() > end) throw new Error(`job ${id} stuck in ${j.state}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Reads a server-sent event stream to its end: [{event, data}]. */
export async function readEvents(res: Response): Promise<{ event: string; data: any }[]> {
  const text = await res.text()
  return text
    .split('\n\n')
    .filter((b) => b.includes('data:'))
    .map((b) => {
      const event = /^event: (.*)$/m.exec(b)?.[1] ?? 'message'
      const data = JSON.parse(/^data: (.*)$/m.exec(b)![1])
      return { event, data }
    })
}

