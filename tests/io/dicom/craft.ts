/** Builds small explicit-VR little-endian Part 10 files by hand, for hostile-header tests. */
const LONG_VRS = new Set(['OB', 'OW', 'SQ', 'UN', 'UT'])

export type Element = [group: number, element: number, vr: string, value: string | Uint8Array | number]

function encode(vr: string, value: string | Uint8Array | number): Uint8Array {
  if (value instanceof Uint8Array) return value
  if (typeof value === 'number') {
    const b = new Uint8Array(vr === 'UL' ? 4 : 2)
    if (vr === 'UL') new DataView(b.buffer).setUint32(0, value, true)
    else new DataView(b.buffer).setUint16(0, value, true)
    return b
  }
  let s = value
  if (s.length % 2) s += vr === 'UI' ? '\0' : ' '
  return new TextEncoder().encode(s)
}

export function craftDicom(elements: Element[], opts: { pixelLength?: number } = {}): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array(128), new TextEncoder().encode('DICM')]
  const sorted = [...elements].sort((a, b) => a[0] - b[0] || a[1] - b[1])
  for (const [g, e, vr, v] of sorted) {
    const data = encode(vr, v)
    const long = LONG_VRS.has(vr)
    const head = new Uint8Array(long ? 12 : 8)
    const dv = new DataView(head.buffer)
    dv.setUint16(0, g, true)
    dv.setUint16(2, e, true)
    head[4] = vr.charCodeAt(0)
    head[5] = vr.charCodeAt(1)
    const len = g === 0x7fe0 && opts.pixelLength !== undefined ? opts.pixelLength : data.length
    if (long) dv.setUint32(8, len, true)
    else dv.setUint16(6, len, true)
    parts.push(head, data)
  }
  const total = parts.reduce((s, p) => s + p.length, 0)
  const out = new Uint8Array(total)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** A minimal 16-bit MR image header; override any element by (group, element). */
export function imageElements(over: Element[] = [], ts = '1.2.840.10008.1.2.1'): Element[] {
  const base: Element[] = [
    [0x0002, 0x0010, 'UI', ts],
    [0x0008, 0x0016, 'UI', '1.2.840.10008.5.1.4.1.1.4'],
    [0x0008, 0x0060, 'CS', 'MR'],
    [0x0010, 0x0010, 'PN', 'Secret^Patient'],
    [0x0020, 0x000e, 'UI', '1.2.3.4'],
    [0x0028, 0x0002, 'US', 1],
    [0x0028, 0x0004, 'CS', 'MONOCHROME2'],
    [0x0028, 0x0010, 'US', 4],
    [0x0028, 0x0011, 'US', 4],
    [0x0028, 0x0100, 'US', 16],
    [0x0028, 0x0101, 'US', 16],
    [0x0028, 0x0103, 'US', 0],
    [0x7fe0, 0x0010, 'OW', new Uint8Array(32)],
  ]
  const key = (e: Element) => `${e[0]},${e[1]}`
  const overKeys = new Set(over.map(key))
  return [...base.filter((e) => !overKeys.has(key(e))), ...over]
}
