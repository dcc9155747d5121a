import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { IoError } from '../io/errors.js'
import { openInputs, type InputProblem } from '../io/load.js'
import type { SeriesSummary } from '../io/summary.js'
import type { ServiceContext } from './context.js'
import { checkQuota } from './quota.js'
import { createPartialUpload, publishUpload, uploadDir } from './storage.js'
import type { ScanRecord } from './store.js'

export interface UploadSource {
  /** Writes the files into `dir`, refusing what would pass `quotaLeft` bytes; returns their total size. */
  receive(dir: string, quotaLeft: number): Promise<number>
  /** What a scan's summary names as its source: shown to the user, so never one of our paths. */
  source(summary: SeriesSummary, dir: string): string
  /** The message when no series in the files can be read. */
  noSeries: string
}

export interface StoredUpload {
  uploadId: string
  /** Where the files were written (before the move into place); the problems' names start with it. */
  dir: string
  scans: ScanRecord[]
  problems: InputProblem[]
}

/**
 * One upload (multipart or DICOMweb import) as scans: the files are written aside, read, moved
 * into place (storage.ts) and recorded as one scan per series. Whatever fails on the way, the
 * files are removed and the error is passed on.
 */
export async function storeUploadAsScans(ctx: ServiceContext, owner: string, src: UploadSource): Promise<StoredUpload> {
  await checkQuota(ctx, owner, 0)
  const uploadId = randomUUID()
  const dir = await createPartialUpload(ctx.dataDir, uploadId)
  let published = false
  try {
    const quotaLeft = ctx.limits.userQuotaBytes - (await ctx.store.usage(owner))
    const bytes = await src.receive(dir, quotaLeft)
    const opened = await openInputs([dir], { tmpDir: ctx.scratchDir })
    await opened.cleanup()
    if (opened.series.length === 0) throw opened.problems[0]?.error ?? new IoError('NO_USABLE_INPUT', src.noSeries)
    const created = new Date().toISOString()
    const scans: ScanRecord[] = opened.series.map((s, i) => ({
      id: randomUUID(),
      owner,
      uploadId,
      seriesIndex: i,
      summary: { ...s.summary, source: src.source(s.summary, dir) } as SeriesSummary,
      bytes,
      created,
    }))
    await publishUpload(ctx.dataDir, uploadId)
    published = true
    await ctx.store.addScans(scans)
    return { uploadId, dir, scans, problems: opened.problems }
  } catch (e) {
    // A refused, aborted or unreadable upload leaves nothing behind.
    await rm(published ? uploadDir(ctx.dataDir, uploadId) : dir, { recursive: true, force: true })
    throw e
  }
}
