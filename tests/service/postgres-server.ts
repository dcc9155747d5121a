import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'

/** Debian's server binaries (package postgresql): the newest major version installed. */
function pgBin(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const v = readdirSync(root).filter((d) => existsSync(path.join(root, d, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a))[0]
  return v ? path.join(root, v, 'bin') : undefined
}

const bin = pgBin()
export const hasPostgres = bin !== undefined

/**
 * PostgreSQL refuses to run as root: when the tests do (CI), the server runs as the `postgres`
 * user Debian's package creates (or `nobody`), which then owns its data folder.
 */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  for (const user of ['postgres', 'nobody']) {
    const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout)
    const gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout)
    if (Number.isInteger(uid) && uid > 0 && Number.isInteger(gid)) return { uid, gid }
  }
  throw new Error('running as root and no postgres or nobody user to run PostgreSQL as')
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

export interface TestPostgres {
  port: number
  /** A new, empty database on this server: its URL. */
  createDatabase(name?: string): Promise<string>
  /** Stops the server (SIGINT: fast shutdown, or SIGKILL: a crash) and waits for it to exit. */
  stop(signal?: 'SIGINT' | 'SIGKILL'): Promise<void>
  /** Starts it again on the same port and data folder. */
  start(): Promise<void>
  /** Stops it and removes its data folder. */
  destroy(): Promise<void>
}

/**
 * A throwaway PostgreSQL server for one test file: its own data folder (initdb), a free loopback
 * port, no Unix socket, trust authentication for the `raddiff` superuser, durability settings off
 * (tests need speed, not crash safety of the test database itself).
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  if (!bin) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql')
  const as = runAs()
  const root = await mkdtemp(path.join(os.tmpdir(), 'raddiff-pg-'))
  const dataDir = path.join(root, 'data')
  if (as) chownSync(root, as.uid, as.gid)
  const init = spawnSync(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'raddiff', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    encoding: 'utf8',
    ...(as ?? {}),
  })
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`)
  const port = await freePort()
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  let n = 0

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const args = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200', '-c', 'shared_buffers=16MB']
      const c = spawn(path.join(bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], ...(as ?? {}) })
      child = c
      exited = new Promise((r) => c.on('exit', () => r()))
      let log = ''
      c.stderr!.on('data', (d) => {
        log += d
        if (/database system is ready to accept connections/.test(log)) resolve()
      })
      c.on('exit', (code) => reject(new Error(`postgres exited (${code}): ${log.slice(-800)}`)))
    })

  const stop = async (signal: 'SIGINT' | 'SIGKILL' = 'SIGINT') => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill(signal)
      await exited
    }
  }

  await start()
  return {
    port,
    async createDatabase(name = `t${Date.now().toString(36)}_${n++}`) {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'raddiff', database: 'postgres' })
      await c.connect()
      try {
        await c.query(`CREATE DATABASE "${name}"`)
      } finally {
        await c.end()
      }
      return `postgres://raddiff@127.0.0.1:${port}/${name}`
    },
    stop,
    start,
    async destroy() {
      await stop('SIGINT')
      await rm(root, { recursive: true, force: true })
    },
  }
}
