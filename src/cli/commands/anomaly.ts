import type { Reporter } from '../report.js'
import { runTaskCommand, type TaskCliOptions } from './task-runner.js'

export function anomalyCommand(inputs: string[], o: TaskCliOptions, r: Reporter, argv: string[] = []): Promise<number> {
  return runTaskCommand('anomaly', inputs, o, r, argv)
}
