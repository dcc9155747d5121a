import { isDicomwebUrl } from '../../dicomweb/index.js'
import { openInputs } from '../../io/load.js'
import { EXIT } from '../exit-codes.js'
import { formatSummary } from '../format.js'
import { formatProblem, isFailure, type Reporter } from '../report.js'
import { inspectRemote } from './inspect-dicomweb.js'

export async function inspectCommand(all: string[], r: Reporter): Promise<number> {
  const remote = await inspectRemote(all.filter(isDicomwebUrl), r)
  const inputs = all.filter((i) => !isDicomwebUrl(i))
  if (inputs.length === 0) return remote.series === 0 ? EXIT.NO_USABLE_INPUT : remote.failed > 0 ? EXIT.PARTIAL_FAILURE : EXIT.OK
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
    if (total + remote.series === 0) return EXIT.NO_USABLE_INPUT
    return opened.problems.some(isFailure) || remote.failed > 0 ? EXIT.PARTIAL_FAILURE : EXIT.OK
  } finally {
    await opened.cleanup()
  }
}
