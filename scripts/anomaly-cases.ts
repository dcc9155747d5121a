/**
 * The BraTS cases under ../shared/data/lesion for the anomaly calibration and evaluation: FLAIR,
 * brain mask (BraTS 2013: its brainmask; BraTS 2018 is skull-stripped: FLAIR > 0) and tumour label
 * (any class > 0), with the split each case belongs to.
 */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { loadVolumes } from '../src/io/load.js'
import { toFloat32, type Volume } from '../src/volume/index.js'

export interface LesionCase {
  id: string
  set: 'brats2013' | 'brats2018'
  split: 'train' | 'val'
  files: { flair: string; label: string; brain?: string }
}

export interface LoadedCase {
  c: LesionCase
  flair: Volume
  real: Float32Array
  brain: Uint8Array
  truth: Uint8Array
}

function splitOf(file: string): [string, string][] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').trim().split(/\r?\n/).map((l) => l.trim().split(/\s+/) as [string, string])
}

/**
 * BraTS 2018's "Brats18_2013_*" cases are BraTS 2013 patients re-released; which 2013 patient each
 * one is cannot be told here, so they are left out of calibration: they may be the 2013 validation
 * patients (0003 / 0004) under another name.
 */
export const MAYBE_BRATS2013 = /^Brats18_2013_/

export function lesionCases(data: string): LesionCase[] {
  const out: LesionCase[] = []
  const d13 = path.join(data, 'lesion/brats2013')
  for (const [id, s] of splitOf(path.join(d13, 'splits.txt')))
    out.push({ id, set: 'brats2013', split: s === 'train' ? 'train' : 'val', files: { flair: path.join(d13, id, 'Flair_subtrMeanDivStd.nii.gz'), label: path.join(d13, id, 'OTMultiClass.nii.gz'), brain: path.join(d13, id, 'brainmask.nii.gz') } })
  const d18 = path.join(data, 'lesion/brats2018')
  for (const [id, s] of splitOf(path.join(d18, 'splits.txt')))
    out.push({ id, set: 'brats2018', split: s === 'train' ? 'train' : 'val', files: { flair: path.join(d18, id, `${id}_flair.nii.gz`), label: path.join(d18, id, `${id}_seg.nii.gz`) } })
  return out
}

export async function loadCase(c: LesionCase): Promise<LoadedCase> {
  const one = async (f: string): Promise<Volume> => (await loadVolumes([f]))[0].volume
  const flair = await one(c.files.flair)
  const real = toFloat32(flair)
  const lab = toFloat32(await one(c.files.label))
  const brain = c.files.brain ? Uint8Array.from(toFloat32(await one(c.files.brain)), (v) => (v > 0 ? 1 : 0)) : Uint8Array.from(real, (v) => (v > 0 ? 1 : 0))
  return { c, flair, real, brain, truth: Uint8Array.from(lab, (v) => (v > 0 ? 1 : 0)) }
}
