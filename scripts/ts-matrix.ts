/**
 * The transfer-syntax matrix: every uncompressed seed in fixtures/dicom/ts-matrix/seeds
 * compressed by independent encoders (Debian's dcmtk and GDCM command-line tools), so that
 * tests/io/dicom/ts-matrix.test.ts can check each file loads to exactly the voxels of its seed
 * (lossless) or within the codec's error (lossy). The set is built, never committed: it lives
 * in a temporary folder keyed by the seeds, this recipe and the tools' versions, and is reused
 * while those stay the same.
 *
 *   npx tsx scripts/ts-matrix.ts [--out DIR]      builds the set and prints what was made
 *   npx tsx scripts/ts-matrix.ts --doc            also writes docs/dicom-ts-matrix.md (which cells exist)
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const SEEDS_DIR = path.join(import.meta.dirname, '../fixtures/dicom/ts-matrix/seeds')

export interface Encoding {
  /** file-name part: encoder-syntax */
  id: string
  tool: 'dcmtk' | 'gdcm'
  argv: string[]
  transferSyntax: string
  /** largest |ours − reference| allowed: 0 for lossless */
  maxError: number
  /**
   * Lossy JPEG and JPEG 2000 state no error bound: their reference is an independent decoder's
   * output, which ours must match within maxError: dcmdjpeg's for JPEG ('decoded'), pydicom's
   * (Pillow's OpenJPEG) for JPEG 2000 ('pydicom'; gdcmconv --raw returns MONOCHROME1 lossy J2K
   * as a constant 4096, so it cannot be the reference).
   */
  reference: 'seed' | 'decoded' | 'pydicom'
  /** which seeds the encoder takes (bits stored, samples) */
  accepts: (s: SeedInfo) => boolean
}

export interface SeedInfo {
  name: string
  bitsStored: number
  signed: boolean
  samples: number
}

const any = () => true
const grey = (s: SeedInfo) => s.samples === 1
const upTo = (bits: number) => (s: SeedInfo) => s.bitsStored <= bits

/** The matrix's columns. Which tool makes which syntax is chosen so both toolkits' encoders are covered. */
export const ENCODINGS: Encoding[] = [
  { id: 'dcmtk-implicit', tool: 'dcmtk', argv: ['dcmconv', '+ti'], transferSyntax: '1.2.840.10008.1.2', maxError: 0, reference: 'seed', accepts: any },
  { id: 'dcmtk-big-endian', tool: 'dcmtk', argv: ['dcmconv', '+tb'], transferSyntax: '1.2.840.10008.1.2.2', maxError: 0, reference: 'seed', accepts: any },
  { id: 'dcmtk-deflate', tool: 'dcmtk', argv: ['dcmconv', '+td'], transferSyntax: '1.2.840.10008.1.2.1.99', maxError: 0, reference: 'seed', accepts: any },
  { id: 'dcmtk-rle', tool: 'dcmtk', argv: ['dcmcrle'], transferSyntax: '1.2.840.10008.1.2.5', maxError: 0, reference: 'seed', accepts: any },
  { id: 'dcmtk-jpeg-sv1', tool: 'dcmtk', argv: ['dcmcjpeg', '+e1'], transferSyntax: '1.2.840.10008.1.2.4.70', maxError: 0, reference: 'seed', accepts: any },
  { id: 'dcmtk-jpeg-p14-sv4', tool: 'dcmtk', argv: ['dcmcjpeg', '+el', '+sv', '4'], transferSyntax: '1.2.840.10008.1.2.4.57', maxError: 0, reference: 'seed', accepts: any },
  { id: 'dcmtk-jpeg-p14-sv7', tool: 'dcmtk', argv: ['dcmcjpeg', '+el', '+sv', '7'], transferSyntax: '1.2.840.10008.1.2.4.57', maxError: 0, reference: 'seed', accepts: any },
  { id: 'dcmtk-jpegls', tool: 'dcmtk', argv: ['dcmcjpls', '+el'], transferSyntax: '1.2.840.10008.1.2.4.80', maxError: 0, reference: 'seed', accepts: any },
  // JPEG-LS near-lossless states its bound: no sample further than NEAR from the original
  // dcmcjpls 3.6.7 refuses signed data for near-lossless ("unsupported pixel representation")
  { id: 'dcmtk-jpegls-near2', tool: 'dcmtk', argv: ['dcmcjpls', '+en', '+md', '2'], transferSyntax: '1.2.840.10008.1.2.4.81', maxError: 2, reference: 'seed', accepts: (s) => grey(s) && !s.signed },
  { id: 'dcmtk-jpeg-baseline', tool: 'dcmtk', argv: ['dcmcjpeg', '+eb', '+q', '90'], transferSyntax: '1.2.840.10008.1.2.4.50', maxError: 1, reference: 'decoded', accepts: upTo(8) },
  { id: 'dcmtk-jpeg-extended', tool: 'dcmtk', argv: ['dcmcjpeg', '+ee', '+q', '90'], transferSyntax: '1.2.840.10008.1.2.4.51', maxError: 1, reference: 'decoded', accepts: (s) => s.bitsStored > 8 && s.bitsStored <= 12 && grey(s) },
  // gdcmconv 3.0.21's RLE encoder asserts on 8-bit images of odd width (partition % dims[1]); dcmcrle covers those
  { id: 'gdcm-rle', tool: 'gdcm', argv: ['gdcmconv', '--rle'], transferSyntax: '1.2.840.10008.1.2.5', maxError: 0, reference: 'seed', accepts: (s) => s.bitsStored > 8 },
  { id: 'gdcm-jpeg-lossless', tool: 'gdcm', argv: ['gdcmconv', '--jpeg'], transferSyntax: '1.2.840.10008.1.2.4.70', maxError: 0, reference: 'seed', accepts: any },
  { id: 'gdcm-jpegls', tool: 'gdcm', argv: ['gdcmconv', '--jpegls'], transferSyntax: '1.2.840.10008.1.2.4.80', maxError: 0, reference: 'seed', accepts: any },
  // unsigned only: on signed data the error wraps between 32767 and −32768 (the codec works on
  // unsigned samples), which is the file's content, not a decoder fault
  { id: 'gdcm-jpegls-near3', tool: 'gdcm', argv: ['gdcmconv', '--jpegls', '--lossy', '-e', '3'], transferSyntax: '1.2.840.10008.1.2.4.81', maxError: 3, reference: 'seed', accepts: (s) => grey(s) && !s.signed },
  { id: 'gdcm-j2k', tool: 'gdcm', argv: ['gdcmconv', '--j2k'], transferSyntax: '1.2.840.10008.1.2.4.90', maxError: 0, reference: 'seed', accepts: any },
  { id: 'gdcm-j2k-lossy', tool: 'gdcm', argv: ['gdcmconv', '--j2k', '--lossy', '-q', '40'], transferSyntax: '1.2.840.10008.1.2.4.91', maxError: 1, reference: 'pydicom', accepts: any },
]

export interface MatrixFile {
  seed: string
  encoding: string
  file: string
  /** independent decoder's output (Explicit VR LE) for 'decoded' references */
  decoded?: string
}

export interface Matrix {
  dir: string
  seeds: SeedInfo[]
  files: MatrixFile[]
  /** seed × encoding pairs the encoder refused (with its first line of stderr) */
  refused: { seed: string; encoding: string; reason: string }[]
}

/** Reads the few header fields the matrix needs from a seed (explicit VR LE, written by pydicom). */
export function seedInfo(file: string): SeedInfo {
  const b = readFileSync(file)
  const us = (g: number, e: number) => {
    const needle = Buffer.from([g & 0xff, g >> 8, e & 0xff, e >> 8, 0x55, 0x53])
    const i = b.indexOf(needle)
    if (i < 0) throw new Error(`seed ${path.basename(file)} lacks (${g.toString(16)},${e.toString(16)})`)
    return b.readUInt16LE(i + 8)
  }
  return { name: path.basename(file, '.dcm'), bitsStored: us(0x28, 0x101), signed: us(0x28, 0x103) === 1, samples: us(0x28, 0x2) }
}

export async function toolsPresent(): Promise<boolean> {
  for (const t of ['dcmconv', 'dcmcrle', 'dcmcjpeg', 'dcmcjpls', 'dcmdjpeg', 'gdcmconv']) {
    try {
      await run(t, ['--version'])
    } catch {
      return false
    }
  }
  return true
}

async function toolVersions(): Promise<string> {
  const a = await run('dcmconv', ['--version'])
  const b = await run('gdcmconv', ['--version'])
  return a.stdout.split('\n')[0] + b.stdout.split('\n')[0]
}

/** Builds (or reuses) the matrix under `out` or a cache folder in the system temp dir. */
export async function buildMatrix(out?: string): Promise<Matrix> {
  const seedFiles = readdirSync(SEEDS_DIR).filter((f) => f.endsWith('.dcm')).sort()
  const h = createHash('sha256')
  for (const f of seedFiles) h.update(f).update(readFileSync(path.join(SEEDS_DIR, f)))
  h.update(readFileSync(import.meta.filename)).update(await toolVersions())
  const dir = out ?? path.join(tmpdir(), `raddiff-ts-matrix-${h.digest('hex').slice(0, 16)}`)
  const index = path.join(dir, 'matrix.json')
  if (existsSync(index)) return JSON.parse(readFileSync(index, 'utf8')) as Matrix

  const work = `${dir}.part-${process.pid}`
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { recursive: true })
  const seeds = seedFiles.map((f) => seedInfo(path.join(SEEDS_DIR, f)))
  const jobs: (() => Promise<void>)[] = []
  const files: MatrixFile[] = []
  const refused: Matrix['refused'] = []
  for (const s of seeds) {
    const input = path.join(SEEDS_DIR, `${s.name}.dcm`)
    for (const enc of ENCODINGS.filter((e) => e.accepts(s))) {
      const file = `${s.name}__${enc.id}.dcm`
      jobs.push(async () => {
        const [cmd, ...args] = enc.argv
        const dst = path.join(work, file)
        try {
          await run(cmd, [...args, input, dst])
        } catch (e) {
          const err = e as { stderr?: string; message: string }
          refused.push({ seed: s.name, encoding: enc.id, reason: (err.stderr || err.message).trim().split('\n')[0] })
          return
        }
        const entry: MatrixFile = { seed: s.name, encoding: enc.id, file }
        if (enc.reference === 'decoded') {
          entry.decoded = `${s.name}__${enc.id}__decoded.dcm`
          const [dcmd, ...dargs] = enc.tool === 'dcmtk' ? ['dcmdjpeg', '+te'] : ['gdcmconv', '--raw']
          await run(dcmd, [...dargs, dst, path.join(work, entry.decoded)])
        }
        files.push(entry)
      })
    }
  }
  // two at a time: the encoders are single-threaded and the machines small
  const queue = [...jobs]
  await Promise.all([0, 1].map(async () => {
    for (let j = queue.shift(); j; j = queue.shift()) await j()
  }))
  files.sort((a, b) => a.file.localeCompare(b.file))
  const matrix: Matrix = { dir, seeds, files, refused }
  await writeFile(path.join(work, 'matrix.json'), JSON.stringify(matrix, null, 1))
  await rm(dir, { recursive: true, force: true })
  await rename(work, dir)
  return matrix
}

/** The grid of seeds × encodings: which files the matrix holds, and why a cell is empty. */
export function toMarkdown(m: Matrix): string {
  const made = new Set(m.files.map((f) => `${f.seed}|${f.encoding}`))
  const syntaxes = new Set(ENCODINGS.map((e) => e.transferSyntax))
  const rows = m.seeds.map((s) => `| ${s.name} | ${ENCODINGS.map((e) => (made.has(`${s.name}|${e.id}`) ? '✓' : '–')).join(' | ')} |`)
  return [
    '# Transfer-syntax matrix: which seed is compressed by which encoder',
    '',
    'Generated by `npx tsx scripts/ts-matrix.ts --doc`; checked by `tests/io/dicom/ts-matrix.test.ts`, where every',
    "✓ file must load to pydicom's decode of its uncompressed seed (lossless), within NEAR (JPEG-LS",
    "near-lossless), or within 1 of an independent decode (dcmdjpeg for lossy JPEG, pydicom + Pillow for",
    'lossy JPEG 2000). Seeds: `fixtures/dicom/ts-matrix/seeds` (`scripts/reference/dicom_ts_seeds.py`).',
    '',
    `${m.seeds.length} seeds × ${ENCODINGS.length} encodings (${syntaxes.size} transfer syntaxes) = ${m.files.length} files; ` +
      `${m.refused.length} refused by their encoder.`,
    '',
    `| seed | ${ENCODINGS.map((e) => e.id).join(' | ')} |`,
    `|---|${ENCODINGS.map(() => '---').join('|')}|`,
    ...rows,
    '',
    '– : not asked of that encoder: lossy JPEG baseline takes 8 bits, extended 9–12 bits grey; near-lossless',
    'JPEG-LS takes unsigned grey only (dcmcjpls refuses signed; on signed data the error wraps at 32767 / −32768);',
    "gdcmconv's RLE encoder asserts on 8-bit images of odd width (dcmcrle covers them).",
    '',
    '| encoding | command | transfer syntax |',
    '|---|---|---|',
    ...ENCODINGS.map((e) => `| ${e.id} | \`${e.argv.join(' ')}\` | ${e.transferSyntax} |`),
    '',
  ].join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2)
  const oi = args.indexOf('--out')
  const m = await buildMatrix(oi >= 0 ? path.resolve(args[oi + 1]) : undefined)
  process.stdout.write(`${m.seeds.length} seeds, ${m.files.length} files in ${m.dir}\n`)
  for (const r of m.refused) process.stdout.write(`refused: ${r.seed} × ${r.encoding}: ${r.reason}\n`)
  if (args.includes('--doc')) await writeFile(path.join(import.meta.dirname, '../docs/dicom-ts-matrix.md'), toMarkdown(m))
}
