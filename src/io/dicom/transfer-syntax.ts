/** How the pixel data of a transfer syntax is decoded. */
export type PixelCodec =
  | 'native'
  | 'native-be'
  | 'deflate'
  | 'rle'
  | 'jpeg-baseline'
  | 'jpeg-extended'
  | 'jpeg-lossless'
  | 'jpeg-ls'
  | 'j2k'
  | 'htj2k'
  | 'unsupported'

interface SyntaxInfo {
  name: string
  codec: PixelCodec
}

const SYNTAXES: Record<string, SyntaxInfo> = {
  '1.2.840.10008.1.2': { name: 'Implicit VR Little Endian', codec: 'native' },
  '1.2.840.10008.1.2.1': { name: 'Explicit VR Little Endian', codec: 'native' },
  '1.2.840.10008.1.2.1.99': { name: 'Deflated Explicit VR Little Endian', codec: 'deflate' },
  '1.2.840.10008.1.2.2': { name: 'Explicit VR Big Endian', codec: 'native-be' },
  '1.2.840.10008.1.2.5': { name: 'RLE Lossless', codec: 'rle' },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG Baseline (Process 1)', codec: 'jpeg-baseline' },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG Extended (Process 2 & 4)', codec: 'jpeg-extended' },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG Lossless, Non-Hierarchical (Process 14)', codec: 'jpeg-lossless' },
  '1.2.840.10008.1.2.4.70': { name: 'JPEG Lossless, First-Order Prediction (Process 14, SV1)', codec: 'jpeg-lossless' },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS Lossless', codec: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS Near-Lossless', codec: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 Lossless', codec: 'j2k' },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000', codec: 'j2k' },
  '1.2.840.10008.1.2.4.201': { name: 'HTJ2K Lossless', codec: 'htj2k' },
  '1.2.840.10008.1.2.4.202': { name: 'HTJ2K Lossless RPCL', codec: 'htj2k' },
  '1.2.840.10008.1.2.4.203': { name: 'HTJ2K', codec: 'htj2k' },
  // Known but not decodable here: named so the error tells the researcher what they have.
  '1.2.840.10008.1.2.4.100': { name: 'MPEG2 Main Profile', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.101': { name: 'MPEG2 High Profile', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.102': { name: 'MPEG-4 AVC/H.264', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.103': { name: 'MPEG-4 AVC/H.264 BD', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.107': { name: 'HEVC/H.265 Main', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.108': { name: 'HEVC/H.265 Main 10', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.110': { name: 'JPEG XL Lossless', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.111': { name: 'JPEG XL JPEG Recompression', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.112': { name: 'JPEG XL', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.92': { name: 'JPEG 2000 Part 2 Multi-component Lossless', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.93': { name: 'JPEG 2000 Part 2 Multi-component', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.94': { name: 'JPIP Referenced', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.95': { name: 'JPIP Referenced Deflate', codec: 'unsupported' },
  '1.2.840.10008.1.2.8.1': { name: 'Deflated Image Frame Compression', codec: 'unsupported' },
  '1.2.840.10008.1.2.6.1': { name: 'RFC 2557 MIME encapsulation', codec: 'unsupported' },
}

export const IMPLICIT_LE = '1.2.840.10008.1.2'

export function transferSyntaxInfo(uid: string): SyntaxInfo {
  return SYNTAXES[uid] ?? { name: 'unknown transfer syntax', codec: 'unsupported' }
}

/** Syntaxes whose pixel data lie uncompressed in the element (size checkable against bytes present). */
export function isNativeCodec(codec: PixelCodec): boolean {
  return codec === 'native' || codec === 'native-be' || codec === 'deflate'
}
