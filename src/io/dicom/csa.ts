/**
 * Siemens CSA image header (0029,1010), "SV10" layout, as read by nibabel and dcm2niix. Only
 * the two fields a mosaic needs are looked up; anything malformed yields undefined (a CSA
 * header is a hint, never required).
 */
export interface CsaMosaicInfo {
  numberOfImagesInMosaic?: number
  sliceNormalVector?: [number, number, number]
}

export function readCsaMosaicInfo(bytes: Uint8Array | undefined): CsaMosaicInfo {
  const out: CsaMosaicInfo = {}
  if (!bytes || bytes.length < 16) return out
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]) !== 'SV10') return out
  const nTags = dv.getUint32(8, true)
  if (nTags < 1 || nTags > 128) return out
  let p = 16
  for (let t = 0; t < nTags; t++) {
    if (p + 84 > bytes.length) return out
    const name = latin1(bytes.subarray(p, p + 64))
    const nItems = dv.getInt32(p + 76, true)
    p += 84
    if (nItems < 0 || nItems > 1024) return out
    const values: string[] = []
    for (let i = 0; i < nItems; i++) {
      if (p + 16 > bytes.length) return out
      const len = dv.getInt32(p + 4, true)
      p += 16
      if (len < 0 || p + len > bytes.length) return out
      values.push(latin1(bytes.subarray(p, p + len)).trim())
      p += Math.ceil(len / 4) * 4
    }
    if (name === 'NumberOfImagesInMosaic' && values[0]) {
      const n = Number(values[0])
      if (Number.isInteger(n) && n > 0) out.numberOfImagesInMosaic = n
    } else if (name === 'SliceNormalVector' && values.length >= 3) {
      const v = values.slice(0, 3).map(Number)
      if (v.every(Number.isFinite)) out.sliceNormalVector = v as [number, number, number]
    }
  }
  return out
}

function latin1(b: Uint8Array): string {
  let s = ''
  for (const c of b) {
    if (c === 0) break
    s += String.fromCharCode(c)
  }
  return s
}
