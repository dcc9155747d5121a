import { openInputs } from '../../io/load.js'
import { EXIT } from '../exit-codes.js'
import { formatSummary } from '../format.js'
import { formatProblem, isFailure, type Reporter } from '../report.js'

export async function inspectCommand(inputs: string[], r: Reporter): Promise<number> {
  const opened = await openInputs(inputs)
  try {
    const total = opened.series.length
    opened.series.forEach((s, i) => {
      if (r.json) r.out(JSON.stringify({ ok: true, ...s.summary }))
      else r.out(formatSummary(s.summary, i, total))
    })
    for (const p of opened.problems) {
      if (r.json) r.out(JSON.stringify({ ok: false, source: p.name, error: p.error.toJSON() }))
      else r.err(formatProblem(p.name, p.error))
    }
    if (total === 0) return EXIT.NO_USABLE_INPUT
    return opened.problems.some(isFailure) ? EXIT.PARTIAL_FAILURE : EXIT.OK
  } finally {
    await opened.cleanup()
  }
}
