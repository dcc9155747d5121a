import { writeDicomSeries } from '../io/writers/write-dicom.js'
import { writeParametricMap } from '../io/writers/write-dicom-pmap.js'
import { writeDicomSeg } from '../io/writers/write-dicom-seg.js'
import type { Deidentifier } from '../io/writers/deidentify.js'
import { NOT_FOR_CLINICAL_USE } from '../version.js'
import type { Volume } from '../volume/volume.js'
import type { SourceHeader } from './source-header.js'

/** Masks become a DICOM SEG, float maps a Parametric Map; every other output a derived series. */
const OBJECT: Record<string, 'seg' | 'pmap' | undefined> = { mask: 'seg', heatmap: 'pmap', std: 'pmap' }

/**
 * Writes one job output as DICOM into `folder`, with the source scan's header put back on the
 * volume read from the result NIfTI: same study, patient and frame of reference as the scan,
 * per-slice references to it, new series and instance UIDs.
 */
export async function writeJobOutputDicom(
  nifti: Volume,
  header: SourceHeader | undefined,
  job: { task: string; role: string; label?: string },
  folder: string,
  deidentify: Deidentifier | undefined,
): Promise<void> {
  const modality = (header?.modality[job.role] ?? nifti.modality) as Volume['modality']
  const v: Volume = { ...nifti, modality, meta: nifti.meta.clone({ dicom: header?.dicom }) }
  const common = {
    seriesDescription: `raddiff ${job.task} ${job.role}`,
    derivationDescription: `raddiff ${job.task} ${job.role}; ${NOT_FOR_CLINICAL_USE}`,
    deidentify,
  }
  const kind = OBJECT[job.role]
  if (kind === 'seg') await writeDicomSeg(v, folder, common)
  else if (kind === 'pmap') await writeParametricMap(v, folder, { ...common, label: job.role, explanation: job.label })
  else await writeDicomSeries(v, folder, { ...common, modality })
}
