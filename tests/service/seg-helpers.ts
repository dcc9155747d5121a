import yauzl from 'yauzl'
import type { Vec3 } from '../../src/volume/index.js'

/** The viewer's wire format: u32 header length, JSON header, float32 voxels. */
export function decodeRaw(buf: ArrayBuffer): { header: { size: Vec3; spacing: Vec3; origin: Vec3; direction: number[]; role: string; range: number[] }; data: Float32Array } {
  const n = new DataView(buf).getUint32(0, true)
  return { header: JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n))), data: new Float32Array(buf, 4 + n) }
}

/** The first file of a zip (a downloaded one-file SEG series). */
export function unzipOne(buf: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    yauzl.fromBuffer(buf, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err)
      zip.on('entry', (e) =>
        zip.openReadStream(e, (e2, s) => {
          if (e2) return reject(e2)
          const chunks: Buffer[] = []
          s.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks)))
        }),
      )
      zip.readEntry()
    }),
  )
}

/** Indices of the voxels equal to 1. */
export const ones = (m: ArrayLike<number>): number[] => Array.from(m, (x, n) => (x === 1 ? n : -1)).filter((n) => n >= 0)
