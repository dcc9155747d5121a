import { openInputs } from '../../io/load.js'
import { outputKindOf, withSuffix, writeVolume } from '../../io/write.js'
import { describeUnexpected } from '../report.js'
import { EXIT } from '../exit-codes.js'
import { formatProblem, isFailure, type Reporter } from '../report.js'
import { NOT_FOR_CLINICAL_USE, RADDIFF_VERSION } from '../../version.js'
import { createDeidentifier } from '../../io/writers/deidentify.js'

export async function convertCommand(inputs: string[], out: string, r: Reporter, opts: { deidentify?: boolean } = {}): Promise<number> {
  outputKindOf(out) // a bad extension is a usage error before any reading
  const opened = await openInputs(inputs)
  // One de-identifier per run: series converted together keep consistent replacement UIDs.
  const deidentify = opts.deidentify ? createDeidentifier() : undefined
  let failures = 0
  try {
    for (const p of opened.problems) {
      if (r.json) r.out(JSON.stringify({ ok: false, source: p.name, error: p.error.toJSON() }))
      else r.err(formatProblem(p.name, p.error))
    }
    const total = opened.series.length
    if (total === 0) return EXIT.NO_USABLE_INPUT
    for (const [i, s] of opened.series.entries()) {
      // Several series into one named output: number them, in the order inspect lists them.
      const target = total > 1 ? withSuffix(out, `_s${i + 1}`) : out
      try {
        const volume = await s.load()
        const written = await writeVolume(volume, target, {
          description: `raddiff ${RADDIFF_VERSION} convert; ${NOT_FOR_CLINICAL_USE}`,
          seriesDescription: `raddiff convert - ${NOT_FOR_CLINICAL_USE}`,
          deidentify,
        })
        if (r.json) r.out(JSON.stringify({ ok: true, source: s.summary.source, output: written, size: volume.size }))
        else r.err(`wrote ${written}  (${s.summary.source}, ${volume.size.join('×')})`)
      } catch (e) {
        failures++
        const { code, message } = describeUnexpected(e)
        if (r.json) r.out(JSON.stringify({ ok: false, source: s.summary.source, error: { code, message } }))
        else r.err(`raddiff: ${s.summary.source}: ${message} [${code}]`)
      }
    }
    if (failures === total) return EXIT.NO_USABLE_INPUT
    return failures > 0 || opened.problems.some(isFailure) ? EXIT.PARTIAL_FAILURE : EXIT.OK
  } finally {
    await opened.cleanup()
  }
}
