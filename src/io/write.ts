import path from 'node:path'
import type { Volume } from '../volume/volume.js'
import { IoError } from './errors.js'
import { writeNifti } from './writers/write-nifti.js'
import { writeItkImage } from './writers/write-itk-image.js'
import { writePng } from './writers/write-png.js'
import { writeDicomSeries } from './writers/write-dicom.js'
import { writeDicomSeg } from './writers/write-dicom-seg.js'
import { writeParametricMap } from './writers/write-dicom-pmap.js'
import { createDeidentifier, type Deidentifier } from './writers/deidentify.js'

export type OutputKind = 'nifti' | 'nrrd' | 'mha' | 'png' | 'dicom'

/** What an output path means: a known image extension, or otherwise a folder for a DICOM series. */
export function outputKindOf(out: string): OutputKind {
  const lower = out.toLowerCase()
  if (lower.endsWith('.nii.gz') || lower.endsWith('.nii')) return 'nifti'
  if (lower.endsWith('.nrrd')) return 'nrrd'
  if (lower.endsWith('.mha')) return 'mha'
  if (lower.endsWith('.png')) return 'png'
  if (path.extname(lower) === '' || out.endsWith('/') || out.endsWith(path.sep)) return 'dicom'
  throw new IoError('UNSUPPORTED_OUTPUT', `unsupported output "${path.basename(out)}": use .nii.gz, .nii, .nrrd, .mha, .png, or a folder name for a DICOM series`)
}

/** Inserts a suffix before the output's extension: out.nii.gz + _s2 → out_s2.nii.gz. */
export function withSuffix(out: string, suffix: string): string {
  const m = /(\.nii\.gz|\.[a-z0-9]+)$/i.exec(out)
  if (!m || outputKindOf(out) === 'dicom') return out.replace(/[/\\]+$/, '') + suffix
  return out.slice(0, m.index) + suffix + m[1]
}

export interface WriteOptions {
  /** Free text for NIfTI descrip / DICOM DerivationDescription (provenance). */
  description?: string
  seriesDescription?: string
  /** DICOM outputs only: PS3.15 basic profile; share one Deidentifier so related outputs keep consistent UIDs. */
  deidentify?: boolean | Deidentifier
  /**
   * DICOM outputs only: a derived image series (default), a one-segment DICOM SEG (masks), or a
   * float Parametric Map with a Real World Value Mapping (heatmaps, std maps).
   */
  dicomObject?: 'series' | 'seg' | 'pmap'
  /** Parametric Map: short label and meaning of the values. */
  mapLabel?: string
  mapExplanation?: string
}

export async function writeVolume(v: Volume, out: string, opts: WriteOptions = {}): Promise<string> {
  const kind = outputKindOf(out)
  switch (kind) {
    case 'nifti':
      await writeNifti(v, out, { dtype: 'auto', description: opts.description })
      return out
    case 'nrrd':
    case 'mha':
      await writeItkImage(v, out)
      return out
    case 'png':
      await writePng(v, out)
      return out
    case 'dicom': {
      const folder = out.replace(/[/\\]+$/, '')
      const deid = opts.deidentify === true ? createDeidentifier() : opts.deidentify || undefined
      const common = { derivationDescription: opts.description, seriesDescription: opts.seriesDescription, deidentify: deid }
      if (opts.dicomObject === 'seg') {
        await writeDicomSeg(v, folder, common)
        return folder
      }
      if (opts.dicomObject === 'pmap') {
        await writeParametricMap(v, folder, { ...common, label: opts.mapLabel, explanation: opts.mapExplanation })
        return folder
      }
      await writeDicomSeries(v, folder, { derivationDescription: opts.description, seriesDescription: opts.seriesDescription, deidentify: opts.deidentify })
      return folder
    }
  }
}
