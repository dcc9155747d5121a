import { connectionFromEnv, DicomwebClient, DicomwebError, parseDicomwebUrl } from '../../dicomweb/index.js'
import type { Reporter } from '../report.js'

/**
 * `raddiff inspect dicomweb+https://…/studies/UID[/series/UID]`: the study's series over QIDO-RS
 * (number, modality, instances; the description only on a terminal, never in --json, since
 * free text can name a patient). Resolves to the number of inputs that failed.
 */
export async function inspectRemote(urls: string[], r: Reporter): Promise<{ series: number; failed: number }> {
  const conn = connectionFromEnv()
  let series = 0
  let failed = 0
  for (const url of urls) {
    try {
      const t = parseDicomwebUrl(url)
      if (!t.study) throw new DicomwebError('DICOMWEB_BAD_URL', 'inspect needs a study URL: …/studies/UID')
      const list = (await new DicomwebClient(t.base, conn).searchSeries(t.study)).filter((s) => !t.series || s.seriesInstanceUID === t.series)
      list.sort((a, b) => (a.seriesNumber ?? 0) - (b.seriesNumber ?? 0))
      series += list.length
      for (const s of list) {
        const href = `${url.replace(/\/series\/[^/]+\/?$/, '')}/series/${s.seriesInstanceUID}`
        if (r.json) r.out(JSON.stringify({ ok: true, format: 'dicomweb', source: href, seriesInstanceUID: s.seriesInstanceUID, modality: s.modality, seriesNumber: s.seriesNumber, instances: s.instances }))
        else r.out(`series ${s.seriesNumber ?? '?'}  ${s.modality ?? '?'}  ${s.instances ?? '?'} instances  ${s.seriesDescription ?? ''}\n  ${href}`)
      }
    } catch (e) {
      failed++
      const err = e instanceof DicomwebError ? e : new DicomwebError('DICOMWEB_BAD_RESPONSE', 'the search failed unexpectedly', { cause: e })
      if (r.json) r.out(JSON.stringify({ ok: false, source: url, error: err.toJSON() }))
      else r.err(`raddiff: ${url}: ${err.message} [${err.code}]`)
    }
  }
  return { series, failed }
}
