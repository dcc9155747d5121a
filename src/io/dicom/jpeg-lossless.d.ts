// jpeg-lossless-decoder-js names a types file it does not ship.
declare module 'jpeg-lossless-decoder-js' {
  export class Decoder {
    constructor(buffer?: ArrayBuffer, numBytes?: number)
    decode(buffer: ArrayBuffer, offset: number, length: number, numBytes: number): Uint8Array | Uint16Array
    /** position of the next pixel to write, and the frame's size (from SOF3) */
    xLoc: number
    yLoc: number
    xDim: number
    yDim: number
    getPreviousX(compOffset?: number): number
    getPreviousY(compOffset?: number): number
    select7(compOffset?: number): number
  }
}
