import { vi } from 'vitest'
import { main } from '../../src/cli/main.js'

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

/**
 * The CLI run in this process (so vi.mock applies and no tsx start-up is paid), with what it
 * writes to stdout and stderr captured instead of printed.
 */
export async function runCli(args: string[]): Promise<CliRun> {
  let stdout = ''
  let stderr = ''
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true))
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true))
  try {
    const code = await main(args)
    return { code, stdout, stderr }
  } finally {
    o.mockRestore()
    e.mockRestore()
  }
}
