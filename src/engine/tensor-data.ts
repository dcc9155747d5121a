// No imports: browser code (the viewer's preview) shares this type.

/** A tensor as plain data: what crosses between threads (an ort.Tensor fits this shape too). */
export interface TensorData {
  type: 'float32' | 'int64'
  data: Float32Array | BigInt64Array
  dims: readonly number[]
}
