/**
 * Cheap sniffing of the first bytes: a Part 10 file has 'DICM' at 128; a raw data set (no
 * preamble, no meta, as old scanners and pydicom's no_meta samples write) starts with an
 * element of group 0002 or 0008 in either byte order.
 */
export function isDicomBytes(head: Uint8Array): boolean {
  if (head.length >= 132 && head[128] === 0x44 && head[129] === 0x49 && head[130] === 0x43 && head[131] === 0x4d) {
    return true
  }
  return rawDataSetLayout(head) !== undefined
}

export interface RawLayout {
  littleEndian: boolean
  explicitVR: boolean
}

const VRS = new Set(
  'AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '),
)

/** Byte order and VR style of a data set that starts at offset 0, or undefined when it does not look like one. */
export function rawDataSetLayout(head: Uint8Array): RawLayout | undefined {
  if (head.length < 8) return undefined
  const le = head[0] | (head[1] << 8)
  const be = (head[0] << 8) | head[1]
  const vr = String.fromCharCode(head[4], head[5])
  const explicitVR = VRS.has(vr)
  if (le === 0x0008 || le === 0x0002) {
    const elementLE = head[2] | (head[3] << 8)
    if (!explicitVR) {
      // implicit: a 32-bit length must be sane for the first (small) element
      const len = (head[4] | (head[5] << 8) | (head[6] << 16)) + head[7] * 0x1000000
      if (len > 0x10000 || elementLE > 0x1000) return undefined
    }
    return { littleEndian: true, explicitVR }
  }
  if ((be === 0x0008 || be === 0x0002) && explicitVR) return { littleEndian: false, explicitVR: true }
  return undefined
}
