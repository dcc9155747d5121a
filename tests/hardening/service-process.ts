import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { until } from '../service/cli-process.js'
import { repoRoot, stubModule } from '../service/helpers.js'

export { repoRoot, stubModule }
export const fixture = (p: string) => path.join(repoRoot, 'fixtures', p)

export interface ServerProcess {
  child: ChildProcess
  url: string
  /** Every stdout / stderr chunk the process wrote (its pino log lines included). */
  output: string[]
  exited: Promise<number | null>
  /** The server's resident set size in bytes, from /proc (its workers excluded). */
  rss(): Promise<number>
  stop(): Promise<void>
}

/** tests/service/server-main.ts as its own process, so it can be killed, starved of disk, or read from outside. */
export function startServerProcess(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'tests/service/server-main.ts')], {
    cwd: repoRoot,
    env: { ...process.env, RADDIFF_DATA_DIR: dataDir, RADDIFF_TASK_MODULE: stubModule, RADDIFF_TOKENS: '', RADDIFF_TOKENS_FILE: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  child.stderr!.on('data', (d) => output.push(String(d)))
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      output.push(String(d))
      const m = /LISTENING (\S+)/.exec(output.join(''))
      if (m)
        resolve({
          child,
          url: m[1],
          output,
          exited,
          async rss() {
            const status = await readFile(`/proc/${child.pid}/status`, 'utf8')
            return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024
          },
          async stop() {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill('SIGKILL')
              await exited
            }
          },
        })
    })
    child.on('exit', (code) => reject(new Error(`server exited early (${code}): ${output.join('').slice(-2000)}`)))
  })
}

export const bearer = (token?: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {})

/** `until` with the 20 s default the hardening tests were tuned to. */
export const waitFor = <T>(fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> => until(fn, ms)

/** Polls a job until it reaches one of `states`. */
export async function jobIn(url: string, id: string, states: string[], token?: string, ms = 20_000): Promise<any> {
  return waitFor(async () => {
    const j = (await (await fetch(`${url}/v1/jobs/${id}`, { headers: bearer(token) })).json()) as any
    return states.includes(j.state) ? j : undefined
  }, ms)
}
