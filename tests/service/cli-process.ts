import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { repoRoot } from './helpers.js'

export interface Proc {
  child: ChildProcess
  exited: Promise<number | null>
  /** First match of `ready` in its output. */
  match: RegExpExecArray
  alive(): boolean
}

export function startProc(cmd: string, args: string[], env: Record<string, string>, ready: RegExp, stream: 'stdout' | 'stderr'): Promise<Proc> {
  const child = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  return new Promise((resolve, reject) => {
    let buf = ''
    child[stream]!.on('data', (d) => {
      buf += d
      const m = ready.exec(buf)
      if (m) resolve({ child, exited, match: m, alive: () => child.exitCode === null && child.signalCode === null })
    })
    // Drain the other stream so a chatty logger never blocks the child.
    child[stream === 'stdout' ? 'stderr' : 'stdout']!.resume()
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited early (${code}): ${buf.slice(-500)}`)))
  })
}

/** The real CLI (`raddiff serve …`) under tsx. */
export const serve = (args: string[], env: Record<string, string>, ready: RegExp) =>
  startProc(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', `const { main } = await import(${JSON.stringify(path.join(repoRoot, 'src/cli/main.ts'))}); process.exitCode = await main(process.argv.slice(1))`, 'serve', ...args],
    env,
    ready,
    'stderr',
  )

export async function until<T>(f: () => T | undefined | Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error('condition not reached')
    await new Promise((r) => setTimeout(r, 50))
  }
}
