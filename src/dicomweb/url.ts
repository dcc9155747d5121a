import { DicomwebError } from './errors.js'

/** A study or series named by a `dicomweb+http(s)://` URL. */
export interface DicomwebTarget {
  /** Service root, e.g. https://pacs/dicom-web (no trailing slash). */
  base: string
  study?: string
  series?: string
}

const UID = /^[0-9]+(\.[0-9]+)*$/

export function isDicomwebUrl(s: string): boolean {
  return /^dicomweb\+https?:\/\//i.test(s)
}

/**
 * `dicomweb+https://host/dicom-web/studies/UID[/series/UID]` → base + UIDs. A plain service root
 * (`dicomweb+https://host/dicom-web`) is accepted as a push target. Credentials in the URL are
 * refused: they would end up in run.json and shell history; they come from the environment.
 */
export function parseDicomwebUrl(raw: string): DicomwebTarget {
  if (!isDicomwebUrl(raw)) throw new DicomwebError('DICOMWEB_BAD_URL', 'a DICOMweb URL starts with dicomweb+http:// or dicomweb+https://')
  let u: URL
  try {
    u = new URL(raw.replace(/^dicomweb\+/i, ''))
  } catch (cause) {
    throw new DicomwebError('DICOMWEB_BAD_URL', 'the DICOMweb URL cannot be parsed', { cause })
  }
  if (u.username || u.password) {
    throw new DicomwebError('DICOMWEB_BAD_URL', 'put DICOMweb credentials in RADDIFF_DICOMWEB_USER / _PASSWORD / _TOKEN, not in the URL')
  }
  if (u.search || u.hash) throw new DicomwebError('DICOMWEB_BAD_URL', 'a DICOMweb URL takes no query or fragment')
  const parts = u.pathname.split('/').filter(Boolean)
  const at = parts.lastIndexOf('studies')
  const rootParts = at >= 0 ? parts.slice(0, at) : parts
  const base = `${u.protocol}//${u.host}${rootParts.length ? '/' + rootParts.join('/') : ''}`
  if (at < 0) return { base }
  const rest = parts.slice(at + 1)
  const study = rest[0]
  const ok = (x: string | undefined) => x !== undefined && UID.test(x) && x.length <= 64
  if (!ok(study) || (rest.length !== 1 && !(rest.length === 3 && rest[1] === 'series' && ok(rest[2])))) {
    throw new DicomwebError('DICOMWEB_BAD_URL', 'expected …/studies/UID or …/studies/UID/series/UID')
  }
  return { base, study, series: rest[2] }
}
