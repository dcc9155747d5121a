import type { Reporter } from '../report.js'
import { runTaskCommand, type TaskCliOptions } from './task-runner.js'

export function denoiseCommand(inputs: string[], o: TaskCliOptions, r: Reporter, argv: string[] = []): Promise<number> {
  return runTaskCommand('denoise', inputs, o, r, argv)
}
