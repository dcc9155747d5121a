/**
 * ORT (onnxruntime-node) vs PyTorch parity for a freshly exported model, when Debian's python lacks
 * onnxruntime: training writes WORK/parity/{sample.json,x.f32,[cond.f32],out.f32} (PyTorch's
 * output); this runs the ONNX file on the same input and records the result in the card.
 *
 *   npx tsx scripts/model-parity.ts WORK/parity OUT/MODEL.json
 */
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { loadModel, onnxModelFn, releaseSessions } from '../src/engine/index.js'

const [dir, cardPath] = process.argv.slice(2)
if (!dir || !cardPath) throw new Error('usage: model-parity.ts WORK/parity CARD.json')
const f32 = (f: string): Float32Array => {
  const b = readFileSync(path.join(dir, f))
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
}
const sample = JSON.parse(readFileSync(path.join(dir, 'sample.json'), 'utf8'))
// through the engine as raddiff runs it: sha256 and contract checks, its session options and threads
const m = await loadModel(cardPath, { device: 'cpu' })
const out = await onnxModelFn(m)(f32('x.f32'), sample.shape, sample.t, sample.cond_shape ? f32('cond.f32') : undefined)
await releaseSessions()
const card = JSON.parse(readFileSync(cardPath, 'utf8'))
const ref = f32('out.f32')
let max = 0
for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(out[i] - ref[i]))
card.metrics = { ...card.metrics, onnx_parity: { checked: true, runtime: `onnxruntime-node ${ort.env.versions?.common ?? ''}`.trim(), shape: sample.shape, t: sample.t, max_abs_diff: Number(max.toPrecision(3)) } }
writeFileSync(cardPath, JSON.stringify(card, null, 2) + '\n')
console.log(JSON.stringify(card.metrics.onnx_parity))
if (!(max < 1e-3)) process.exitCode = 1
