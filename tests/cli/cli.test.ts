import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { loadVolumes } from '../../src/io/load.js'
import { toFloat32 } from '../../src/volume/index.js'
import { runCli } from './run-cli.js'

const repo = path.resolve(import.meta.dirname, '../..')
const dicomFixture = path.join(repo, 'fixtures/demo')
const tmp = mkdtempSync(path.join(os.tmpdir(), 'raddiff-cli-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('raddiff CLI', () => {
  it('inspect --json prints one parseable object per series and nothing else on stdout', async () => {
    const r = await runCli(['inspect', dicomFixture, '--json'])
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    const series = lines.filter((l) => l.ok)
    expect(series.length).toBeGreaterThan(0)
    for (const s of series) {
      expect(s.size).toHaveLength(3)
      expect(s.direction).toHaveLength(9)
      expect(s.format).toBe('dicom')
      expect(s.transferSyntax.uid).toMatch(/^1\.2\.840\.10008\./)
    }
  })

  it('convert writes a NIfTI that loads back with the same voxels and geometry', async () => {
    const out = path.join(tmp, 'scan.nii.gz')
    const r = await runCli(['convert', dicomFixture, '-o', out, '--json'])
    expect(r.code).toBe(0)
    const results = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(results.every((x) => x.ok)).toBe(true)
    const written = results.map((x) => x.output as string)
    for (const w of written) expect(existsSync(w)).toBe(true)
    const source = await loadVolumes([dicomFixture])
    const back = await loadVolumes([written[0]])
    const a = source[0].volume
    const b = back[0].volume
    expect(b.size).toEqual(a.size)
    for (let i = 0; i < 3; i++) {
      expect(b.spacing[i]).toBeCloseTo(a.spacing[i], 4)
      expect(b.origin[i]).toBeCloseTo(a.origin[i], 3)
    }
    for (let i = 0; i < 9; i++) expect(b.direction[i]).toBeCloseTo(a.direction[i], 5)
    const fa = toFloat32(a)
    const fb = toFloat32(b)
    let maxDiff = 0
    for (let i = 0; i < fa.length; i++) maxDiff = Math.max(maxDiff, Math.abs(fa[i] - fb[i]))
    expect(maxDiff).toBe(0)
  })

  it('exits 2 on usage errors and 3 when no input is usable, with a coded message', async () => {
    expect((await runCli(['convert', dicomFixture, '-o', path.join(tmp, 'x.jpeg')])).code).toBe(2)
    expect((await runCli(['frobnicate'])).code).toBe(2)
    const missing = await runCli(['inspect', path.join(tmp, 'does-not-exist.dcm')])
    expect(missing.code).toBe(3)
    expect(missing.stderr).toContain('[INPUT_NOT_FOUND]')
    expect(missing.stderr).not.toMatch(/\n\s+at /) // no stack trace
  })

  it('exits 4 when some inputs fail and others succeed', async () => {
    const r = await runCli(['inspect', dicomFixture, path.join(tmp, 'missing.nii.gz'), '--json'])
    expect(r.code).toBe(4)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.some((l) => l.ok)).toBe(true)
    expect(lines.find((l) => !l.ok)?.error.code).toBe('INPUT_NOT_FOUND')
  })

  it('the built bin runs from a checkout', async () => {
    const bin = path.join(repo, 'bin/raddiff.js')
    if (!existsSync(path.join(repo, 'dist/cli/main.js'))) return // built by `npm ci` (prepare)
    const { stdout } = await promisify(execFile)(process.execPath, [bin, '--version'])
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
  })
})

describe('raddiff models', () => {
  it('lists a model with a recomputed sha256 equal to the card, and flags a corrupt copy', async () => {
    const ok = await runCli(['models', '--models-dir', path.join(repo, 'fixtures/models'), '--json'])
    expect(ok.code).toBe(0)
    const m = ok.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((x) => x.name === 'tiny-eps')
    expect(m.verified).toBe(true)
    expect(m.sha256).toBe(m.card.sha256)
    expect(m.file).toMatch(/tiny-eps\.onnx$/)

    const { copyFileSync, appendFileSync, mkdirSync } = await import('node:fs')
    const dir = path.join(tmp, 'models-corrupt')
    mkdirSync(dir, { recursive: true })
    copyFileSync(path.join(repo, 'fixtures/models/tiny-eps.json'), path.join(dir, 'tiny-eps.json'))
    copyFileSync(path.join(repo, 'fixtures/models/tiny-eps.onnx'), path.join(dir, 'tiny-eps.onnx'))
    appendFileSync(path.join(dir, 'tiny-eps.onnx'), 'x')
    const bad = await runCli(['models', '--models-dir', dir, '--json'])
    expect(bad.code).toBe(4)
    expect(JSON.parse(bad.stdout.trim()).verified).toBe(false)
  })
})

describe('convert --deidentify', () => {
  it('writes a DICOM series with none of the canary identifiers (which the plain conversion keeps)', async () => {
    const { readFileSync, readdirSync } = await import('node:fs')
    const canary = JSON.parse(readFileSync(path.join(repo, 'tests/reference/canary.json'), 'utf8')) as { strings: Record<string, string> }
    const src = path.join(repo, 'fixtures/hardening/canary-mosaic.dcm')
    const bytesOf = (dir: string) => readdirSync(dir).map((f) => readFileSync(path.join(dir, f)).toString('latin1')).join('')
    const plain = path.join(tmp, 'plain-dcm')
    expect((await runCli(['convert', src, '-o', plain])).code).toBe(0)
    expect(bytesOf(plain)).toContain(canary.strings.PatientName)
    const deid = path.join(tmp, 'deid-dcm')
    expect((await runCli(['convert', src, '-o', deid, '--deidentify'])).code).toBe(0)
    const text = bytesOf(deid)
    for (const [k, v] of Object.entries(canary.strings)) expect(text.includes(v), k).toBe(false)
    expect(text).toContain('113100') // DeidentificationMethodCodeSequence: Basic Application Confidentiality Profile
  })
})
