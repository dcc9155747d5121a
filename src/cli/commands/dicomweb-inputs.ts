import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { DicomwebClient, DicomwebError, isDicomwebUrl, parseDicomwebUrl, type ConnectionOptions, type DicomwebTarget } from '../../dicomweb/index.js'

export interface RemoteProblem {
  name: string
  error: { code: string; message: string }
}

/** URL inputs replaced by local folders holding what WADO-RS retrieved. */
export interface ResolvedInputs {
  inputs: string[]
  problems: RemoteProblem[]
  /** The URL a series came from, for a `summary.source` inside a retrieved folder. */
  urlOf(source: string): string | undefined
  /** The server (and study) of the first URL input, the default push target. */
  firstRemote?: DicomwebTarget
  cleanup(): Promise<void>
}

/**
 * Retrieves every `dicomweb+http(s)://…/studies/UID[/series/UID]` input into a temporary folder
 * (streamed, one file per instance) so the loaders treat it like any other folder. A URL that
 * fails becomes a problem with its typed code; the other inputs go on.
 */
export async function resolveRemoteInputs(inputs: string[], conn: ConnectionOptions): Promise<ResolvedInputs> {
  const remote = inputs.filter(isDicomwebUrl)
  if (remote.length === 0) return { inputs, problems: [], urlOf: () => undefined, cleanup: async () => undefined }
  const root = await mkdtemp(path.join(os.tmpdir(), 'raddiff-dicomweb-'))
  const out: string[] = []
  const problems: RemoteProblem[] = []
  const folders = new Map<string, string>()
  let firstRemote: DicomwebTarget | undefined
  for (const input of inputs) {
    if (!isDicomwebUrl(input)) {
      out.push(input)
      continue
    }
    const folder = path.join(root, `remote-${folders.size + problems.length + 1}`)
    try {
      const target = parseDicomwebUrl(input)
      if (!target.study) throw new DicomwebError('DICOMWEB_BAD_URL', 'an input URL names a study or a series: …/studies/UID[/series/UID]')
      await new DicomwebClient(target.base, conn).retrieve(folder, target.study, target.series)
      firstRemote ??= target
      folders.set(folder + path.sep, input)
      out.push(folder)
    } catch (e) {
      await rm(folder, { recursive: true, force: true })
      const err = e instanceof DicomwebError ? e : new DicomwebError('DICOMWEB_BAD_RESPONSE', 'the retrieval failed unexpectedly', { cause: e })
      problems.push({ name: input, error: { code: err.code, message: err.message } })
    }
  }
  return {
    inputs: out,
    problems,
    firstRemote,
    urlOf: (source) => {
      for (const [folder, url] of folders) if (source.startsWith(folder)) return url
      return undefined
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  }
}
