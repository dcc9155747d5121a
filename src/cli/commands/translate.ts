import type { Reporter } from '../report.js'
import { runTaskCommand, type TaskCliOptions } from './task-runner.js'

export function translateCommand(inputs: string[], o: TaskCliOptions, r: Reporter, argv: string[] = []): Promise<number> {
  return runTaskCommand('translate', inputs, o, r, argv)
}
