import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { averagePool, cubicUpsample, projectOntoMeasurement, type Axes } from '../../src/pipelines/volume-ops.js'
import type { Vec3 } from '../../src/volume/index.js'

// brain-t1-sr trains on cond volumes made in numpy (training/raddiff_train/superres_data.py); the
// engine makes them in TypeScript at inference. Both must be the same function of the input.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const PY = '/usr/bin/python3'
const hasPy = existsSync(PY) && spawnSync(PY, ['-c', 'import numpy, torch, nibabel'], { stdio: 'ignore' }).status === 0
const tmp = mkdtempSync(path.join(tmpdir(), 'raddiff-srpairs-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

function py(y: Float32Array, size: Vec3, f: number, axes: Axes, tag: string): { pool: Float32Array; cond: Float32Array } {
  const src = path.join(tmp, `${tag}.f32`)
  const out = path.join(tmp, tag)
  writeFileSync(src, Buffer.from(y.buffer, y.byteOffset, y.byteLength))
  const r = spawnSync(PY, ['-m', 'raddiff_train.superres_data', 'dump', src, ...size.map(String), String(f), axes.map((a) => (a ? '1' : '0')).join(''), out], {
    cwd: path.join(repoRoot, 'training'),
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (r.status !== 0) throw new Error(`superres_data dump failed:\n${(r.stderr ?? '').slice(-2000)}`)
  const read = (n: string): Float32Array => {
    const b = readFileSync(path.join(out, n))
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)
  }
  return { pool: read('pool.f32'), cond: read('cond.f32') }
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

describe.skipIf(!hasPy)('super-resolution training pairs = the engine’s input', () => {
  // a smooth field plus noise, in the normalised range; odd sizes along unpooled axes
  const size: Vec3 = [12, 10, 7]
  const y = new Float32Array(size[0] * size[1] * size[2])
  let s = 12345
  for (let i = 0; i < y.length; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31
    y[i] = Math.sin(i * 0.37) * 0.6 + (s / 2 ** 31 - 0.5) * 0.4
  }
  const cases: [number, Axes, string][] = [
    [2, [true, true, false], 'x2-xy'],
    [2, [false, false, true], 'x2-z'],
    [4, [false, true, false], 'x4-y'],
  ]
  it.each(cases)('×%i along %j: pooling and consistent cubic match to float rounding', (f, axes, tag) => {
    const low = averagePool(y, size, f, axes)
    const up = cubicUpsample(low.data, low.size, f, axes)
    projectOntoMeasurement(up.data, up.size, low.data, f, axes)
    const ref = py(y, size, f, axes, tag)
    expect(maxDiff(ref.pool, low.data)).toBeLessThan(1e-6)
    expect(maxDiff(ref.cond, up.data)).toBeLessThan(1e-5)
    // and the pair is consistent: pooling cond gives the measurement back
    expect(maxDiff(averagePool(ref.cond, up.size, f, axes).data, low.data)).toBeLessThan(1e-5)
  })
})

describe.skipIf(!hasPy)('brain-t1-sr recipe: thick-slice pairs are cut in the plane its card names for them', () => {
  it('the through-plane variant is sliced coronally, its thick axis (L-R) along the slices\' width, as the engine runs it', () => {
    const code = [
      'import json, numpy as np',
      'from raddiff_train.recipes import RECIPES',
      'from raddiff_train.run_edm import superres_variants',
      'from raddiff_train.data import slices',
      'r = RECIPES["brain-t1-sr"]',
      'rng = np.random.default_rng(0)',
      'real = rng.uniform(0, 100, (8, 10, 12)).astype(np.float32)',
      // cond keeps the measurement: averaged over pairs along the thick axis it equals the averaged
      // target (on pairs the percentile normalisation did not clip); along any other axis it does not
      'def kept(c, t, axis):',
      '    c, t = np.moveaxis(c, axis, -1), np.moveaxis(t, axis, -1)',
      '    pairs = lambda a: a.reshape(a.shape[:-1] + (-1, 2))',
      '    unclipped = (np.abs(pairs(t)) < 0.999).all(-1)',
      '    return float((np.abs(pairs(c).mean(-1) - pairs(t).mean(-1)) < 1e-5)[unclipped].mean())',
      'out = []',
      'for (f, w), (t, c, crop, plane) in zip(r["superres"]["train"], superres_variants(r, r["superres"]["train"])(real)):',
      '    s, tt = slices(c, plane), slices(t, plane)',
      '    out.append(dict(which=w, f=f, plane=plane, shape=list(s.shape), w_pooled_equal=kept(s, tt, 2), h_pooled_equal=kept(s, tt, 1)))',
      'print(json.dumps(out))',
    ].join('\n')
    const r = spawnSync(PY, ['-c', code], { cwd: path.join(repoRoot, 'training'), encoding: 'utf8', timeout: 60_000 })
    if (r.status !== 0) throw new Error(r.stderr.slice(-2000))
    const rows = JSON.parse(r.stdout.trim().split('\n').pop()!) as { which: string; f: number; plane: string; shape: number[]; w_pooled_equal: number; h_pooled_equal: number }[]
    const through = rows.find((x) => x.which === 'through')!
    const card = JSON.parse(readFileSync(path.join(repoRoot, 'models/brain-t1-sr.json'), 'utf8'))
    expect(through.plane).toBe('coronal')
    expect(card.superres.plane_through).toBe(through.plane) // the shipped card runs it where it was trained
    // coronal slices of the canonical [L, P, S] grid: 10 of them (P), S rows by L columns (engine sliceLayout)
    expect(through.shape).toEqual([10, 12, 8])
    // fraction of pooled pairs where cond keeps the measurement: along the width (L) only
    expect(through.w_pooled_equal).toBeGreaterThan(0.9)
    expect(through.h_pooled_equal).toBeLessThan(0.1)
    for (const x of rows.filter((x) => x.which !== 'through')) expect(x.plane).toBe(card.plane)
  })
})
