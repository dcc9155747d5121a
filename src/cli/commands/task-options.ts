import { Ajv, type ErrorObject } from 'ajv'
import type { Command } from 'commander'
import { TASK_PARAMS_SCHEMAS } from '../../pipelines/task-params.js'
import type { TaskName, TaskParams } from '../../pipelines/task.js'

/** A bad option: exit 2 with this message. */
export class UsageError extends Error {}

interface PropertySchema {
  type: 'integer' | 'string'
  minimum?: number
  maximum?: number
  enum?: readonly string[]
  description?: string
}

const properties = (task: TaskName): Record<string, PropertySchema> => TASK_PARAMS_SCHEMAS[task].properties as Record<string, PropertySchema>

/**
 * The task's options, made from its parameter schema (src/pipelines/task-params.ts), so the CLI
 * offers and checks exactly what the service does. Commander hands every value over as a string.
 */
export function addTaskOptions(cmd: Command, task: TaskName): Command {
  for (const [name, p] of Object.entries(properties(task))) {
    const arg = name === 'model' ? '<name>' : p.type === 'integer' ? '<n>' : `<${name}>`
    cmd.option(`--${name} ${arg}`, p.description ?? name)
  }
  return cmd
}

// One compiled validator per task; no coercion: the CLI turns digit strings into numbers itself.
const ajv = new Ajv({ allErrors: false, strict: false })
const validators = Object.fromEntries(Object.entries(TASK_PARAMS_SCHEMAS).map(([t, s]) => [t, ajv.compile(s)])) as Record<TaskName, ReturnType<typeof ajv.compile>>

function describe(name: string, p: PropertySchema | undefined): string {
  if (p?.enum) return `--${name} must be one of ${p.enum.join(', ')}`
  if (p?.type === 'integer') return `--${name} must be an integer from ${p.minimum} to ${p.maximum}`
  return `--${name} is not valid`
}

/** Commander's strings for this task's options → checked TaskParams, or a UsageError naming the option. */
export function taskParams(task: TaskName, o: Record<string, unknown>): TaskParams {
  const props = properties(task)
  const p: Record<string, unknown> = {}
  for (const [name, schema] of Object.entries(props)) {
    const v = o[name]
    if (v === undefined) continue
    if (schema.type === 'integer') {
      // Only plain digits: Number() would also take '1e3', '0x10' and ' 5'.
      if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new UsageError(describe(name, schema))
      p[name] = Number(v)
    } else p[name] = v
  }
  const validate = validators[task]
  if (!validate(p)) {
    const e = validate.errors?.[0] as ErrorObject | undefined
    const name = e?.instancePath.replace(/^\//, '') || String(e?.params?.additionalProperty ?? '')
    throw new UsageError(describe(name, props[name]))
  }
  return p as TaskParams
}
