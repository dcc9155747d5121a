import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { releaseSessions } from '../../src/engine/index.js'
import { loadVolumes } from '../../src/io/load.js'
import { writeVolume } from '../../src/io/write.js'
import { toFloat32 } from '../../src/volume/index.js'
import { croppedFixture, makeModelsDir } from '../pipelines/helpers.js'
import { runCli } from './run-cli.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'raddiff-tasks-'))
let models: { dir: string; cleanup: () => Promise<void> }
let inA: string
let inB: string

beforeAll(async () => {
  models = await makeModelsDir()
  inA = path.join(tmp, 'in', 'sub-01 T1.nii.gz')
  inB = path.join(tmp, 'in', 'sub-02.nii.gz')
  await writeVolume(await croppedFixture([14, 14, 20], [24, 24, 3]), inA)
  await writeVolume(await croppedFixture([10, 20, 10], [24, 24, 3]), inB)
  writeFileSync(path.join(tmp, 'in', 'junk.txt'), 'not an image')
})
afterAll(async () => {
  if (!process.env.KEEP) rmSync(tmp, { recursive: true, force: true })
  await models.cleanup()
  await releaseSessions()
})

const common = () => ['--models-dir', models.dir, '--steps', '2', '--seed', '3']

describe('raddiff task commands', () => {
  it('denoise into a folder: {stem}_desc-{role}.nii.gz, sidecars with provenance, run.json, one JSON line per series', async () => {
    const out = path.join(tmp, 'den')
    const r = await runCli(['denoise', inA, inB, '-o', out, '--samples', '2', '--json', ...common()])
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(lines).toHaveLength(2)
    for (const stem of ['sub-01_T1', 'sub-02']) {
      for (const role of ['denoised', 'std']) {
        expect(existsSync(path.join(out, `${stem}_desc-${role}.nii.gz`))).toBe(true)
        const side = JSON.parse(readFileSync(path.join(out, `${stem}_desc-${role}.json`), 'utf8'))
        expect(side.provenance).toMatchObject({ task: 'denoise', model: { name: 'tiny-prior' }, steps: expect.any(Number), seed: 3, samples: 2, notice: 'NOT FOR CLINICAL USE' })
        expect(side.report.tStar).toBeGreaterThanOrEqual(0)
      }
    }
    const runJson = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'))
    expect(runJson.task).toBe('denoise')
    expect(runJson.models[0].sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(runJson.arguments).toContain('--samples')
    expect(Date.parse(runJson.finished)).toBeGreaterThanOrEqual(Date.parse(runJson.started))
    // the written NIfTI keeps the input grid (read back by the loader)
    const [{ volume: back }] = await loadVolumes([path.join(out, 'sub-02_desc-denoised.nii.gz')])
    const [{ volume: src }] = await loadVolumes([inB])
    expect(back.size).toEqual(src.size)
    back.origin.forEach((v, i) => expect(v).toBeCloseTo(src.origin[i], 3))
  })

  it('--resume skips series whose outputs exist', async () => {
    const out = path.join(tmp, 'den')
    const before = statSync(path.join(out, 'sub-01_T1_desc-denoised.nii.gz')).mtimeMs
    const r = await runCli(['denoise', inA, inB, '-o', out, '--samples', '2', '--json', '--resume', ...common()])
    expect(r.code).toBe(0)
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).skipped)).toEqual([true, true])
    expect(statSync(path.join(out, 'sub-01_T1_desc-denoised.nii.gz')).mtimeMs).toBe(before)
  })

  it('--shard i/n splits the series between runs', async () => {
    const outs = ['1/2', '2/2'].map((s) => path.join(tmp, `shard${s[0]}`))
    await runCli(['anomaly', inA, inB, '-o', outs[0], '--shard', '1/2', ...common()])
    await runCli(['anomaly', inA, inB, '-o', outs[1], '--shard', '2/2', ...common()])
    for (const role of ['healed', 'heatmap', 'mask']) {
      expect(existsSync(path.join(outs[0], `sub-01_T1_desc-${role}.nii.gz`))).toBe(true)
      expect(existsSync(path.join(outs[0], `sub-02_desc-${role}.nii.gz`))).toBe(false)
      expect(existsSync(path.join(outs[1], `sub-02_desc-${role}.nii.gz`))).toBe(true)
      expect(existsSync(path.join(outs[1], `sub-01_T1_desc-${role}.nii.gz`))).toBe(false)
    }
    expect(JSON.parse(readFileSync(path.join(outs[1], 'run-shard2of2.json'), 'utf8')).shard).toBe('2/2')
  })

  it('one series to a named file: extra outputs get _desc-{role}', async () => {
    const out = path.join(tmp, 'single', 'sr.nii.gz')
    const r = await runCli(['superres', inA, '-o', out, '--scale', '2', '--samples', '2', ...common()])
    expect(r.code).toBe(0)
    expect(existsSync(out)).toBe(true)
    expect(existsSync(path.join(tmp, 'single', 'sr_desc-std.nii.gz'))).toBe(true)
    expect(existsSync(path.join(tmp, 'single', 'sr.json'))).toBe(true)
    const [{ volume }] = await loadVolumes([out])
    expect(volume.size).toEqual([48, 24, 6]) // canonical axial in-plane = voxel axes i and k of this P-S-R scan
  })

  it('translate writes an int16 HU CT', async () => {
    const out = path.join(tmp, 'ct')
    expect((await runCli(['translate', inA, '-o', out, ...common()])).code).toBe(0)
    const side = JSON.parse(readFileSync(path.join(out, 'sub-01_T1_desc-synthct.json'), 'utf8'))
    expect(side.provenance.limitations.length).toBeGreaterThan(0)
    const [{ volume }] = await loadVolumes([path.join(out, 'sub-01_T1_desc-synthct.nii.gz')])
    expect(volume.data).toBeInstanceOf(Int16Array)
  })

  it('--format dicom writes a CT series per output that reads back as the NIfTI output; NIfTI descrip carries the notice', async () => {
    const out = path.join(tmp, 'ctdicom')
    expect((await runCli(['translate', inA, '-o', out, '--format', 'dicom', ...common()])).code).toBe(0)
    const [{ volume: dcm }] = await loadVolumes([path.join(out, 'sub-01_T1_desc-synthct')])
    expect(dcm.modality).toBe('CT')
    const [{ volume: nii }] = await loadVolumes([path.join(tmp, 'ct', 'sub-01_T1_desc-synthct.nii.gz')])
    // the DICOM loader orders slices along the normal (k may come back flipped): compare the HU values as multisets
    const sorted = (v: typeof dcm): number[] => Array.from(toFloat32(v)).sort((p, q) => p - q)
    expect(sorted(dcm)).toEqual(sorted(nii))
    expect(dcm.size).toEqual(nii.size)
    expect(nii.meta.description).toMatch(/^NOT FOR CLINICAL USE raddiff \S+ translate tiny-cond/)
  })

  it('exit codes: 2 usage, 3 no usable input, 4 partial failure, 2 for a missing model', async () => {
    expect((await runCli(['denoise', inA, '-o', path.join(tmp, 'x'), '--steps', 'many'])).code).toBe(2)
    expect((await runCli(['denoise', inA, '-o', path.join(tmp, 'x'), '--shard', '3/2'])).code).toBe(2)
    expect((await runCli(['denoise', inA, '-o', path.join(tmp, 'x.png')])).code).toBe(2)
    expect((await runCli(['denoise', path.join(tmp, 'in', 'junk.txt'), '-o', path.join(tmp, 'x')])).code).toBe(3)
    expect((await runCli(['denoise', inA, path.join(tmp, 'in', 'junk.txt'), '-o', path.join(tmp, 'partial'), ...common()])).code).toBe(4)
    const r = await runCli(['denoise', inA, '-o', path.join(tmp, 'x'), '--model', 'absent', '--models-dir', models.dir])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('MODEL_NOT_FOUND')
  })
})
