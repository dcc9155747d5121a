import type { FileHeader } from './types.js'

/**
 * A minimal explicit-VR Part 10 file holding only the Image Pixel attributes we validated and
 * the checked compressed frames. GDCM parses the file itself, with its own parser: handing it
 * the original lets a corrupt element elsewhere in the data set (fuzz #4647: a mangled VR in
 * the patient module) send it allocating hundreds of MB. No rescale is written, so GDCM
 * returns stored values. MONOCHROME1 goes in as MONOCHROME2: ITK's GDCM reader inverts
 * MONOCHROME1 itself, and the loader inverts once, after any decoder (issue #16: RLE
 * radiographs came back inverted twice, i.e. not at all).
 */
export function gdcmInputFile(h: FileHeader, frames: Uint8Array[]): Uint8Array {
  const f = h.format
  const sopClass = h.sopClassUID || '1.2.840.10008.5.1.4.1.1.7'
  const dataSet: Uint8Array[] = [
    el(0x0008, 0x0016, 'UI', uid(sopClass)),
    el(0x0008, 0x0018, 'UI', uid('2.25.1')),
    el(0x0028, 0x0002, 'US', us(f.samplesPerPixel)),
    el(0x0028, 0x0004, 'CS', text(f.photometric === 'MONOCHROME1' ? 'MONOCHROME2' : f.photometric)),
    ...(f.samplesPerPixel > 1 ? [el(0x0028, 0x0006, 'US', us(f.planarConfiguration))] : []),
    el(0x0028, 0x0008, 'IS', text(String(frames.length))),
    el(0x0028, 0x0010, 'US', us(f.rows)),
    el(0x0028, 0x0011, 'US', us(f.columns)),
    el(0x0028, 0x0100, 'US', us(f.bitsAllocated)),
    el(0x0028, 0x0101, 'US', us(f.bitsStored)),
    el(0x0028, 0x0102, 'US', us(f.bitsStored - 1)),
    el(0x0028, 0x0103, 'US', us(f.pixelRepresentation)),
    pixelData(frames),
  ]
  const metaBody = concat([
    el(0x0002, 0x0001, 'OB', new Uint8Array([0, 1])),
    el(0x0002, 0x0002, 'UI', uid(sopClass)),
    el(0x0002, 0x0003, 'UI', uid('2.25.1')),
    el(0x0002, 0x0010, 'UI', uid(h.transferSyntaxUID)),
  ])
  const groupLength = new Uint8Array(4)
  new DataView(groupLength.buffer).setUint32(0, metaBody.length, true)
  return concat([new Uint8Array(128), text('DICM'), el(0x0002, 0x0000, 'UL', groupLength), metaBody, ...dataSet])
}

function pixelData(frames: Uint8Array[]): Uint8Array {
  const parts = [tag(0x7fe0, 0x0010, 'OB', 0xffffffff), item(new Uint8Array(0))]
  for (const fr of frames) parts.push(item(fr.length % 2 ? concat([fr, new Uint8Array(1)]) : fr))
  parts.push(tag(0xfffe, 0xe0dd, '', 0))
  return concat(parts)
}

function item(value: Uint8Array): Uint8Array {
  return concat([tag(0xfffe, 0xe000, '', value.length), value])
}

function el(group: number, element: number, vr: string, value: Uint8Array): Uint8Array {
  return concat([tag(group, element, vr, value.length), value])
}

/** Tag + VR + length; an empty VR writes an item / delimiter header. */
function tag(group: number, element: number, vr: string, length: number): Uint8Array {
  const b = new Uint8Array(vr === 'OB' ? 12 : 8)
  const dv = new DataView(b.buffer)
  dv.setUint16(0, group, true)
  dv.setUint16(2, element, true)
  if (vr === '') dv.setUint32(4, length, true)
  else {
    b[4] = vr.charCodeAt(0)
    b[5] = vr.charCodeAt(1)
    if (vr === 'OB') dv.setUint32(8, length, true)
    else dv.setUint16(6, length, true)
  }
  return b
}

const us = (v: number) => {
  const b = new Uint8Array(2)
  new DataView(b.buffer).setUint16(0, v, true)
  return b
}
const uid = (s: string) => pad(s.replace(/[^0-9.]/g, ''), '\0')
const text = (s: string) => pad(s.replace(/[^ -~]/g, ''), ' ')
const pad = (s: string, c: string) => new TextEncoder().encode(s.length % 2 ? s + c : s)

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}
