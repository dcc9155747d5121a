import { open } from 'node:fs/promises'
import type { Volume } from '../volume/volume.js'
import { IoError, asIoError } from './errors.js'
import { defaultLimits, type Limits } from './limits.js'
import type { SeriesSummary } from './summary.js'
import { expandInputs, type InputFile } from './sources.js'
import { isDicomBytes, loadDicomSeries, scanDicom, summarizeDicomSeries } from './dicom/index.js'
import { inspectImageFile, itkFormatOf, readImageFile } from './image/index.js'

/** One image series found in the inputs; pixels are read only when `load()` is called. */
export interface SeriesHandle {
  summary: SeriesSummary
  load(): Promise<Volume>
}

export interface InputProblem {
  name: string
  error: IoError
}

export interface OpenedInputs {
  series: SeriesHandle[]
  /** Inputs that held no usable image, each with its typed error. */
  problems: InputProblem[]
  /** Removes temporary folders (extracted archives). */
  cleanup(): Promise<void>
}

async function readHead(path: string, n = 512): Promise<Uint8Array> {
  const fh = await open(path, 'r')
  try {
    const buf = new Uint8Array(n)
    const { bytesRead } = await fh.read(buf, 0, n, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

/**
 * Files, folders and zips in; image series out. DICOM files are grouped into series across
 * all inputs (a series split over two folders is still one series); NIfTI and the other
 * ITK formats are one series per file. Headers only: nothing is decoded until `load()`.
 */
export async function openInputs(inputs: string[], opts: { limits?: Limits; tmpDir?: string } = {}): Promise<OpenedInputs> {
  const limits = opts.limits ?? defaultLimits()
  const expanded = await expandInputs(inputs, { limits, tmpDir: opts.tmpDir })
  const problems: InputProblem[] = [...expanded.problems]
  const series: SeriesHandle[] = []
  const dicomFiles: InputFile[] = []
  const itkFiles: InputFile[] = []

  for (const file of expanded.files) {
    if (itkFormatOf(file.path)) {
      itkFiles.push(file)
      continue
    }
    let head: Uint8Array
    try {
      head = file.head ?? (await readHead(file.path))
    } catch (e) {
      problems.push({ name: file.name, error: asIoError(e, 'INPUT_NOT_FOUND', 'cannot read the file', file.name) })
      continue
    }
    if (isDicomBytes(head)) dicomFiles.push(file)
    else problems.push({ name: file.name, error: new IoError('NOT_AN_IMAGE', 'not a DICOM, NIfTI, NRRD, MHA or MGZ file', { source: file.name }) })
  }

  for (const file of itkFiles) {
    try {
      const summary = await inspectImageFile(file.path, file.name, limits)
      series.push({ summary, load: () => readImageFile(file.path, file.name, limits) })
    } catch (e) {
      problems.push({ name: file.name, error: asIoError(e, 'DECODE_FAILED', 'the image header could not be read', file.name) })
    }
  }

  if (dicomFiles.length > 0) {
    const scanned = await scanDicom(dicomFiles, limits)
    problems.push(...scanned.rejected)
    for (const s of scanned.series) {
      series.push({ summary: summarizeDicomSeries(s), load: () => loadDicomSeries(s, limits) })
    }
  }

  return { series, problems, cleanup: expanded.cleanup }
}

/** Convenience for scripts and tests: every series, loaded. Throws NO_USABLE_INPUT when none. */
export async function loadVolumes(inputs: string[], opts: { limits?: Limits } = {}): Promise<{ summary: SeriesSummary; volume: Volume }[]> {
  const opened = await openInputs(inputs, opts)
  try {
    if (opened.series.length === 0) {
      throw opened.problems[0]?.error ?? new IoError('NO_USABLE_INPUT', 'no image series found in the inputs')
    }
    const out = []
    for (const s of opened.series) out.push({ summary: s.summary, volume: await s.load() })
    return out
  } finally {
    await opened.cleanup()
  }
}
