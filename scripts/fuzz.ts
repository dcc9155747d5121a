/**
 * Byte-mutation fuzzer for the public loader (openInputs + load()).
 *
 *   npx tsx scripts/fuzz.ts [--count N] [--seed S] [--seeds DIR_OR_FILE...] [--jobs J]
 *                           [--timeout MS] [--mem-cap MB] [--failures DIR] [--start I]
 *
 * Mutant i is a pure function of (seed, i): rerun one with `--start i --count 1`. Each mutant
 * runs in a reused child process (scripts/fuzz-worker.ts); a crash, a hang, an untyped error,
 * a peak RSS above the cap, a loaded volume that breaks the Volume contract, or an error
 * message leaking a tag value is a failure, saved with its recipe under --failures.
 */
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import zlib from 'node:zlib'
import { brokenCases } from './make-broken-corpus.js'
import { LoaderPool, repoRoot, type LoadReport } from './loader-pool.js'

export interface FuzzOptions {
  count: number
  seed: number
  /** Files or folders of valid inputs; folders are walked. */
  seeds: string[]
  /** Index of the first mutant (replays a single failure). */
  start?: number
  jobs?: number
  timeoutMs?: number
  memCapMB?: number
  /** Where failing mutants and their recipes go; none saved when absent. */
  failureDir?: string
  log?: (line: string) => void
}

export interface FuzzFailure {
  index: number
  seedFile: string
  mutations: string[]
  kind: string
  detail: string
  stack?: string[]
  saved?: string
}

export interface FuzzSummary {
  inputs: number
  loaded: number
  typed: Record<string, number>
  failures: FuzzFailure[]
  seconds: number
  perSecond: number
  seedFiles: number
}

// ---------------------------------------------------------------- deterministic randomness

/** splitmix32 over (seed, index): every mutant reproducible on its own. */
export function rngFor(seed: number, index: number): () => number {
  let s = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
    return ((z ^ (z >>> 15)) >>> 0) / 2 ** 32
  }
}

const INTERESTING_8 = [0, 0xff, 0x7f, 0x80]
const INTERESTING_16 = [0, 0xffff, 0x7fff, 0x8000, 1]
const INTERESTING_32 = [0, 0xffffffff, 0x7fffffff, 0x80000000, 1]
const INTERESTING_FLOAT = [NaN, Infinity, -Infinity, 3.4e38, -1, 0, 1e-40]
/** DICOM stores numbers as text (DS, IS): tokens that parse to awkward numbers. */
const TOKENS = ['NaN', 'Infinity', '1e400', '-1e308', '-0', '4294967296', '\\\\', '', '0', '1e-400']

/**
 * Applies 1–4 mutations. Offsets favour the first 2 KB, where headers live (pixel bytes are
 * most of a file and mostly just change the picture).
 */
export function mutate(input: Uint8Array, rand: () => number): { bytes: Uint8Array; mutations: string[] } {
  let b = Uint8Array.from(input)
  const mutations: string[] = []
  const int = (n: number) => Math.floor(rand() * n)
  const offset = () => (b.length === 0 ? 0 : rand() < 0.6 ? int(Math.min(b.length, 2048)) : int(b.length))
  const n = 1 + int(4)
  for (let k = 0; k < n && b.length > 0; k++) {
    const op = int(10)
    const at = offset()
    if (op === 0) {
      const bit = int(8)
      b[at] ^= 1 << bit
      mutations.push(`flip bit ${bit} at ${at}`)
    } else if (op === 1) {
      const v = INTERESTING_8[int(INTERESTING_8.length)]
      b[at] = v
      mutations.push(`byte ${at} = 0x${v.toString(16)}`)
    } else if (op === 2 || op === 3) {
      const wide = op === 3
      const v = wide ? INTERESTING_32[int(INTERESTING_32.length)] : INTERESTING_16[int(INTERESTING_16.length)]
      const le = rand() < 0.75
      const width = wide ? 4 : 2
      if (at + width > b.length) continue
      const dv = new DataView(b.buffer, b.byteOffset)
      if (wide) dv.setUint32(at, v, le)
      else dv.setUint16(at, v, le)
      mutations.push(`u${width * 8}${le ? 'le' : 'be'} at ${at} = 0x${v.toString(16)}`)
    } else if (op === 4) {
      const len = 1 + int(Math.min(256, b.length - at))
      const out = new Uint8Array(b.length - len)
      out.set(b.subarray(0, at))
      out.set(b.subarray(at + len), at)
      b = out
      mutations.push(`delete ${len} at ${at}`)
    } else if (op === 5) {
      const len = 1 + int(Math.min(256, b.length - at))
      const out = new Uint8Array(b.length + len)
      out.set(b.subarray(0, at + len))
      out.set(b.subarray(at, at + len), at + len)
      out.set(b.subarray(at + len), at + 2 * len)
      b = out
      mutations.push(`duplicate ${len} at ${at}`)
    } else if (op === 9) {
      // Explicit-VR DS/IS values (spacing, positions, frame counts) rewritten in place, same length.
      const spots: number[] = []
      for (let p = 132; p + 4 < Math.min(b.length, 65536); p++) {
        if ((b[p] === 0x44 || b[p] === 0x49) && b[p + 1] === 0x53 && b[p - 3] % 2 === 0) spots.push(p)
      }
      if (spots.length === 0) continue
      const p = spots[int(spots.length)]
      const len = b[p + 2] | (b[p + 3] << 8)
      const t = TOKENS[int(TOKENS.length)]
      const parts = int(3) + 1
      const text = Array.from({ length: parts }, () => t).join('\\').padEnd(len, ' ').slice(0, len)
      b.set(Uint8Array.from(text.slice(0, Math.max(0, b.length - p - 4)), (c) => c.charCodeAt(0)), p + 4)
      mutations.push(`numeric text ${JSON.stringify(text)} at ${p + 4}`)
    } else if (op === 7) {
      const t = TOKENS[int(TOKENS.length)]
      b.set(Uint8Array.from(t.slice(0, b.length - at), (c) => c.charCodeAt(0)), at)
      mutations.push(`text ${JSON.stringify(t)} at ${at}`)
    } else if (op === 8) {
      const v = INTERESTING_FLOAT[int(INTERESTING_FLOAT.length)]
      const wide = rand() < 0.3
      const aligned = at - (at % 4)
      if (aligned + (wide ? 8 : 4) > b.length) continue
      const dv = new DataView(b.buffer, b.byteOffset)
      if (wide) dv.setFloat64(aligned, v, true)
      else dv.setFloat32(aligned, v, true)
      mutations.push(`f${wide ? 64 : 32} at ${aligned} = ${v}`)
    } else {
      const keep = int(b.length)
      b = b.slice(0, keep)
      mutations.push(`truncate to ${keep}`)
    }
  }
  return { bytes: b, mutations }
}

// ---------------------------------------------------------------- seeds

const SKIP = /\.(json|txt|md|csv|py|sh|zip|png|jpg|bval|bvec|html|xml|img|gz\.tmp)$/i
const MAX_SEED_BYTES = 4 * 1024 * 1024

async function walk(p: string, out: string[]): Promise<void> {
  const st = await stat(p).catch(() => undefined)
  if (!st) return
  if (st.isFile()) {
    if (!SKIP.test(p) && st.size > 0 && st.size <= MAX_SEED_BYTES) out.push(p)
    return
  }
  if (!st.isDirectory()) return
  for (const name of (await readdir(p)).sort()) if (!name.startsWith('.')) await walk(path.join(p, name), out)
}

export async function collectSeeds(inputs: string[]): Promise<string[]> {
  const out: string[] = []
  for (const p of inputs) await walk(path.resolve(p), out)
  return out
}

/** fixtures/dicom, fixtures/nifti, ../shared/data/dicom when present, plus the corpus's valid seeds. */
export async function defaultSeeds(scratch: string): Promise<string[]> {
  const dirs = ['fixtures/dicom', 'fixtures/nifti', '../shared/data/dicom'].map((d) => path.resolve(repoRoot, d)).filter(existsSync)
  const generated = path.join(scratch, 'generated-seeds')
  await mkdir(generated, { recursive: true })
  for (const c of brokenCases().filter((c) => c.valid)) await c.write(generated)
  return collectSeeds([...dirs, generated])
}

const isGz = (p: string) => /\.gz$/i.test(p)
const extOf = (p: string) => (/\.nii\.gz$/i.test(p) ? '.nii.gz' : path.extname(p))

/** Writes mutant `index` of `seedFile` under `dir`; returns the paths to load and the recipe. */
async function writeMutant(seedFile: string, index: number, seed: number, dir: string, cache: Map<string, Uint8Array>): Promise<{ paths: string[]; mutations: string[] }> {
  const rand = rngFor(seed, index)
  let raw = cache.get(seedFile)
  if (!raw) {
    raw = new Uint8Array(await readFile(seedFile))
    cache.set(seedFile, raw)
  }
  const ext = extOf(seedFile)
  const file = path.join(dir, `m${index}${ext}`)
  // Mutating compressed bytes mostly trips the CRC; half the time mutate what is inside.
  if (isGz(seedFile) && rand() < 0.5) {
    const inner = zlib.gunzipSync(raw)
    const m = mutate(inner, rand)
    await writeFile(file, zlib.gzipSync(m.bytes, { level: 1 }))
    return { paths: [file], mutations: ['gunzip', ...m.mutations, 'gzip'] }
  }
  const m = mutate(raw, rand)
  await writeFile(file, m.bytes)
  if (/\.hdr$/i.test(seedFile)) {
    const img = seedFile.replace(/\.hdr$/i, '.img')
    if (existsSync(img)) await copyFile(img, file.replace(/\.hdr$/i, '.img'))
  }
  return { paths: [file], mutations: m.mutations }
}

// ---------------------------------------------------------------- the run

export async function runFuzz(o: FuzzOptions): Promise<FuzzSummary> {
  const log = o.log ?? (() => {})
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'raddiff-fuzz-'))
  const seedFiles = o.seeds.length > 0 ? await collectSeeds(o.seeds) : await defaultSeeds(scratch)
  if (seedFiles.length === 0) throw new Error('no seed files found')
  const pool = new LoaderPool({ size: o.jobs ?? 1, timeoutMs: o.timeoutMs ?? 10_000, memCapMB: o.memCapMB ?? 512, tmpDir: scratch })
  const summary: FuzzSummary = { inputs: 0, loaded: 0, typed: {}, failures: [], seconds: 0, perSecond: 0, seedFiles: seedFiles.length }
  // NIfTI seeds are few beside hundreds of DICOM files: pick the format first, then the file.
  const niftiLike = (f: string) => /\.(nii|nii\.gz|hdr)$/i.test(f)
  const groups = [seedFiles.filter(niftiLike), seedFiles.filter((f) => !niftiLike(f))].filter((g) => g.length > 0)
  const cache = new Map<string, Uint8Array>()
  const start = o.start ?? 0
  const t0 = performance.now()
  let next = start
  const one = async (index: number) => {
    const pick = rngFor(o.seed ^ 0x5eed, index)
    const group = groups[Math.floor(pick() * groups.length)]
    const seedFile = group[Math.floor(pick() * group.length)]
    const dir = path.join(scratch, `w${index}`)
    await mkdir(dir)
    const { paths, mutations } = await writeMutant(seedFile, index, o.seed, dir, cache)
    const r: LoadReport = await pool.load(paths)
    summary.inputs++
    if (r.outcome === 'loaded') summary.loaded++
    else if (r.outcome === 'typed') for (const c of new Set(r.codes)) summary.typed[c] = (summary.typed[c] ?? 0) + 1
    else {
      const f: FuzzFailure = { index, seedFile: path.relative(repoRoot, seedFile), mutations, kind: r.failure!.kind, detail: r.failure!.detail, stack: r.failure!.stack }
      if (o.failureDir) {
        const keep = path.join(o.failureDir, `seed${o.seed}-i${index}`)
        await mkdir(keep, { recursive: true })
        for (const p of paths) await copyFile(p, path.join(keep, path.basename(p)))
        await writeFile(path.join(keep, 'recipe.json'), `${JSON.stringify({ ...f, replay: `npx tsx scripts/fuzz.ts --seed ${o.seed} --start ${index} --count 1` }, null, 2)}\n`)
        f.saved = keep
      }
      summary.failures.push(f)
      log(`FAIL #${index} ${f.kind}: ${f.detail} [${f.seedFile}: ${mutations.join('; ')}]`)
    }
    await rm(dir, { recursive: true, force: true })
    if (summary.inputs % 500 === 0) log(`${summary.inputs} inputs, ${summary.failures.length} failures, ${(summary.inputs / ((performance.now() - t0) / 1000)).toFixed(1)}/s`)
  }
  const lane = async () => {
    while (next < start + o.count) await one(next++)
  }
  try {
    await Promise.all(Array.from({ length: o.jobs ?? 1 }, lane))
  } finally {
    pool.close()
    await rm(scratch, { recursive: true, force: true })
  }
  summary.seconds = (performance.now() - t0) / 1000
  summary.perSecond = summary.inputs / summary.seconds
  return summary
}

export function formatSummary(s: FuzzSummary): string {
  const codes = Object.entries(s.typed).sort((a, b) => b[1] - a[1]).map(([c, n]) => `  ${c.padEnd(28)} ${n}`)
  const kinds = new Map<string, number>()
  for (const f of s.failures) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1)
  return [
    `inputs ${s.inputs} from ${s.seedFiles} seed files in ${s.seconds.toFixed(1)} s (${s.perSecond.toFixed(1)} inputs/s)`,
    `loaded ${s.loaded}`,
    `typed errors (inputs per code):`,
    ...codes,
    `failures ${s.failures.length}${kinds.size ? ` (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`,
  ].join('\n')
}

function parseArgs(argv: string[]): FuzzOptions {
  const o: FuzzOptions = { count: 1000, seed: 1, seeds: [], failureDir: path.join(os.tmpdir(), 'raddiff-fuzz-failures') }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const num = () => {
      const v = Number(argv[++i])
      if (!Number.isFinite(v)) throw new Error(`${a} needs a number`)
      return v
    }
    if (a === '--count') o.count = num()
    else if (a === '--seed') o.seed = num()
    else if (a === '--start') o.start = num()
    else if (a === '--jobs') o.jobs = num()
    else if (a === '--timeout') o.timeoutMs = num()
    else if (a === '--mem-cap') o.memCapMB = num()
    else if (a === '--failures') o.failureDir = path.resolve(argv[++i])
    else if (a === '--seeds') while (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) o.seeds.push(argv[++i])
    else throw new Error(`unknown option ${a}`)
  }
  return o
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const opts = parseArgs(process.argv.slice(2))
  const s = await runFuzz({ ...opts, log: (l) => console.log(l) })
  console.log(formatSummary(s))
  if (s.failures.length > 0) console.log(`failing inputs saved under ${opts.failureDir}`)
  process.exit(s.failures.length > 0 ? 1 : 0)
}
