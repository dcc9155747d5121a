/**
 * Caps that keep a hostile or broken input from taking the process down. Defaults suit a
 * 24 GiB machine; each can be lowered or raised through the environment.
 */
export interface Limits {
  /** Voxels in one volume (all components); 512 Mi voxels is 2 GiB as float32. */
  maxVoxels: number
  /** Bytes an archive may expand to. */
  maxArchiveBytes: number
  /** Entries in one archive. */
  maxArchiveEntries: number
  /** Bytes of one decompressed file (.nii.gz, deflated DICOM). */
  maxInflatedBytes: number
  /** Files taken from one input folder. */
  maxFiles: number
}

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  return Number.isFinite(n) && n > 0 ? n : fallback
}

export function defaultLimits(): Limits {
  return {
    maxVoxels: envNumber('RADDIFF_MAX_VOXELS', 512 * 1024 * 1024),
    maxArchiveBytes: envNumber('RADDIFF_MAX_ARCHIVE_BYTES', 8 * 1024 ** 3),
    maxArchiveEntries: envNumber('RADDIFF_MAX_ARCHIVE_ENTRIES', 100_000),
    maxInflatedBytes: envNumber('RADDIFF_MAX_INFLATED_BYTES', 4 * 1024 ** 3),
    maxFiles: envNumber('RADDIFF_MAX_FILES', 100_000),
  }
}
