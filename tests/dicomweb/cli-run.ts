import { vi } from 'vitest'
import { main } from '../../src/cli/main.js'

/**
 * The CLI in-process with `env` set for the call (undefined unsets a variable): its exit code,
 * its output, and stdout's JSON lines (--json).
 */
export async function run(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string; lines: Record<string, any>[] }> {
  let stdout = ''
  let stderr = ''
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]))
  Object.assign(process.env, env)
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true))
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true))
  try {
    const code = await main(args)
    const lines = stdout.trim() ? stdout.trim().split('\n').map((l) => JSON.parse(l)) : []
    return { code, stdout, stderr, lines }
  } finally {
    o.mockRestore()
    e.mockRestore()
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
}
