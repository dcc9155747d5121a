import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ThreadedSession } from '../../src/engine/threaded-session.js'
import { cpuThreadSplit, Rng } from '../../src/engine/index.js'
import { repoRoot } from './helpers.js'

const onnx = path.join(repoRoot, 'fixtures/models/tiny-eps.onnx')
const S = 32

function batch(B: number, seed: number): { x: Float32Array; t: Float32Array } {
  const x = new Float32Array(B * S * S)
  new Rng(seed, 0).fillNormal(x)
  return { x, t: Float32Array.from({ length: B }, (_, i) => 100 * i + 7) }
}

describe('ThreadedSession: one ORT session per inference thread behind one run()', () => {
  let direct: ort.InferenceSession
  let pool: ThreadedSession
  const tmp = mkdtempSync(path.join(tmpdir(), 'raddiff-threads-'))

  beforeAll(async () => {
    direct = await ort.InferenceSession.create(onnx, { executionProviders: ['cpu'], intraOpNumThreads: 1 })
    pool = await ThreadedSession.open(onnx, 2, 1)
  })
  afterAll(async () => {
    await pool.release()
    await direct.release()
    rmSync(tmp, { recursive: true, force: true })
  })

  it('reports the graph and equals an ORT session on this thread for odd, single and split batches', async () => {
    expect(pool.inputNames).toEqual(['x', 't'])
    expect(pool.outputNames).toEqual(['out'])
    expect(pool.inputMetadata.find((m) => m.name === 'x')).toMatchObject({ isTensor: true, type: 'float32' })
    for (const B of [1, 2, 3, 5]) {
      const { x, t } = batch(B, B)
      const xCopy = x.slice()
      const got = await pool.run({ x: { type: 'float32', data: x, dims: [B, 1, S, S] }, t: { type: 'float32', data: t, dims: [B] } })
      const want = await direct.run({ x: new ort.Tensor('float32', x, [B, 1, S, S]), t: new ort.Tensor('float32', t, [B]) })
      expect(got.out.dims).toEqual([B, 1, S, S])
      // slice k of the output belongs to slice k of the input (parts joined in order, t split with x)
      const g = got.out.data as Float32Array
      const w = want.out.data as Float32Array
      let maxDiff = 0
      for (let i = 0; i < w.length; i++) maxDiff = Math.max(maxDiff, Math.abs(g[i] - w[i]))
      expect(maxDiff).toBeLessThan(1e-5)
      expect(x).toEqual(xCopy) // the caller's input is not detached or changed
    }
  })

  it('keeps the event loop free while the model runs', async () => {
    const B = 64
    const { x, t } = batch(B, 1)
    let ticks = 0
    let running = true
    const spin = (): void => {
      ticks++
      if (running) setImmediate(spin)
    }
    setImmediate(spin)
    await pool.run({ x: { type: 'float32', data: x, dims: [B, 1, S, S] }, t: { type: 'float32', data: t, dims: [B] } })
    running = false
    expect(ticks).toBeGreaterThan(10)
  })

  it('inputs the graph rejects are INFERENCE_FAILED and the session keeps working', async () => {
    const bad = new Float32Array(2 * 3 * S * S)
    await expect(pool.run({ x: { type: 'float32', data: bad, dims: [2, 3, S, S] }, t: { type: 'float32', data: new Float32Array(2), dims: [2] } })).rejects.toMatchObject({ name: 'EngineError', code: 'INFERENCE_FAILED' })
    const { x, t } = batch(2, 2)
    await expect(pool.run({ x: { type: 'float32', data: x, dims: [2, 1, S, S] }, t: { type: 'float32', data: t, dims: [2] } })).resolves.toHaveProperty('out')
  })

  it('a thread that dies with a batch in hand fails that run with INFERENCE_FAILED; a new thread takes its place', async () => {
    const B = 8
    const { x, t } = batch(B, 3)
    const victim = pool.threads[0]
    // the thread ends itself (as after a native crash) before it reads the batch queued behind
    victim.postMessage({ type: 'exit', code: 7 })
    await expect(pool.run({ x: { type: 'float32', data: x, dims: [B, 1, S, S] }, t: { type: 'float32', data: t, dims: [B] } })).rejects.toMatchObject({ code: 'INFERENCE_FAILED' })
    expect(pool.threads).not.toContain(victim)
    expect(pool.threads).toHaveLength(2)
    const small = batch(4, 4)
    const r = await pool.run({ x: { type: 'float32', data: small.x, dims: [4, 1, S, S] }, t: { type: 'float32', data: small.t, dims: [4] } })
    expect(r.out.dims).toEqual([4, 1, S, S])
  })

  it('a file onnxruntime cannot load is MODEL_CONTRACT_MISMATCH and leaves no thread behind', async () => {
    const junk = path.join(tmp, 'junk.onnx')
    writeFileSync(junk, 'not a model')
    await expect(ThreadedSession.open(junk, 2, 1)).rejects.toMatchObject({ code: 'MODEL_CONTRACT_MISMATCH' })
  })

  it('when a dead thread cannot be replaced (the model file is gone), runs fail with INFERENCE_FAILED instead of waiting', async () => {
    const file = path.join(tmp, 'gone.onnx')
    copyFileSync(onnx, file)
    const own = await ThreadedSession.open(file, 1, 1)
    rmSync(file)
    const victim = own.threads[0]
    const exited = new Promise((r) => victim.once('exit', r))
    victim.postMessage({ type: 'exit', code: 7 })
    await exited
    const { x, t } = batch(2, 6)
    const feeds = { x: { type: 'float32' as const, data: x, dims: [2, 1, S, S] }, t: { type: 'float32' as const, data: t, dims: [2] } }
    // the replacement fails to load: whatever was queued or comes later is refused, not left hanging
    await expect(own.run(feeds)).rejects.toMatchObject({ code: expect.stringMatching(/INFERENCE_FAILED|MODEL_CONTRACT_MISMATCH/) })
    await expect(own.run(feeds)).rejects.toMatchObject({ code: 'INFERENCE_FAILED' })
    await own.release()
  })

  it('release() fails a run in progress and later runs with a typed error', async () => {
    const own = await ThreadedSession.open(onnx, 1, 1)
    const { x, t } = batch(64, 5)
    const running = expect(own.run({ x: { type: 'float32', data: x, dims: [64, 1, S, S] }, t: { type: 'float32', data: t, dims: [64] } })).rejects.toMatchObject({ code: 'INFERENCE_FAILED' })
    await own.release()
    await running
    await expect(own.run({ x: { type: 'float32', data: x, dims: [64, 1, S, S] }, t: { type: 'float32', data: t, dims: [64] } })).rejects.toMatchObject({ code: 'INFERENCE_FAILED' })
    expect(own.threads).toHaveLength(0)
  })
})

describe('ThreadedSession in a plain process', () => {
  it('release() ends the threads and the process goes on to exit normally (idle threads are unref\'d)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'raddiff-release-'))
    try {
      const script = path.join(dir, 'release.mts')
      const mod = pathToFileURL(path.join(repoRoot, 'src/engine/threaded-session.ts')).href
      writeFileSync(script, `import { ThreadedSession } from ${JSON.stringify(mod)}
const s = await ThreadedSession.open(${JSON.stringify(onnx)}, 2, 1)
const r = await s.run({ x: { type: 'float32', data: new Float32Array(2 * ${S} * ${S}), dims: [2, 1, ${S}, ${S}] }, t: { type: 'float32', data: new Float32Array(2), dims: [2] } })
await s.release()
console.log('released', r.out.dims.join('x'), s.threads.length)
`)
      const loader = pathToFileURL(path.join(path.dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href
      const r = spawnSync(process.execPath, ['--import', loader, script], { encoding: 'utf8', timeout: 60_000 })
      // exit code 13 would mean the top-level await never settled (release waiting on unref'd threads)
      expect(r.status).toBe(0)
      expect(r.stdout.trim()).toBe(`released 2x1x${S}x${S} 0`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('cpuThreadSplit', () => {
  it('one inference thread per core, at most 8, fewer when the weights would not fit 1 GiB of copies', () => {
    expect(cpuThreadSplit(1)).toEqual({ count: 1, each: 1 })
    expect(cpuThreadSplit(2, 17e6)).toEqual({ count: 2, each: 1 })
    expect(cpuThreadSplit(16)).toEqual({ count: 8, each: 2 })
    expect(cpuThreadSplit(8, 300 * 2 ** 20)).toEqual({ count: 3, each: 2 })
    expect(cpuThreadSplit(8, 2 ** 31)).toEqual({ count: 1, each: 8 })
  })
})
