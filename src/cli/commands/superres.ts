import type { Reporter } from '../report.js'
import { runTaskCommand, type TaskCliOptions } from './task-runner.js'

export function superresCommand(inputs: string[], o: TaskCliOptions, r: Reporter, argv: string[] = []): Promise<number> {
  return runTaskCommand('superres', inputs, o, r, argv)
}
