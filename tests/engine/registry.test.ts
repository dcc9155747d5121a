import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { getSession, listModels, loadModel, releaseSessions, validateModelCard } from '../../src/engine/index.js'
import { repoRoot } from './helpers.js'

const fixtures = path.join(repoRoot, 'fixtures/models')
const card = JSON.parse(readFileSync(path.join(fixtures, 'tiny-eps.json'), 'utf8'))

const dirs: string[] = []

function tmpModels(mutateCard: (c: any) => void, mutateOnnx?: (b: Buffer) => void): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'raddiff-models-'))
  dirs.push(dir)
  const onnx = readFileSync(path.join(fixtures, 'tiny-eps.onnx'))
  mutateOnnx?.(onnx)
  writeFileSync(path.join(dir, 'tiny-eps.onnx'), onnx)
  const c = structuredClone(card)
  mutateCard(c)
  writeFileSync(path.join(dir, 'tiny-eps.json'), JSON.stringify(c))
  return path.join(dir, 'tiny-eps.json')
}

afterAll(async () => {
  await releaseSessions()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('model registry and cards', () => {
  it('lists the fixture model with its card', async () => {
    const list = await listModels(fixtures)
    expect(list.map((e) => e.card?.name)).toContain('tiny-eps')
    expect(list.every((e) => !e.error)).toBe(true)
  })

  it('loads on cpu and reports the device; auto falls back to cpu here', async () => {
    const m = await loadModel(path.join(fixtures, 'tiny-eps.json'), { device: 'cpu' })
    expect(m.device).toBe('cpu')
    expect(m.session.inputNames).toEqual(['x', 't'])
    const auto = await loadModel(path.join(fixtures, 'tiny-eps.json'), { device: 'auto' })
    expect(['cpu', 'cuda']).toContain(auto.device)
  })

  it('a corrupted ONNX file is MODEL_HASH_MISMATCH', async () => {
    const p = tmpModels(() => {}, (b) => (b[b.length - 10] ^= 0xff))
    await expect(loadModel(p, { device: 'cpu' })).rejects.toMatchObject({ code: 'MODEL_HASH_MISMATCH' })
  })

  it('a card naming a cond input the graph lacks is MODEL_CONTRACT_MISMATCH', async () => {
    const p = tmpModels((c) => (c.cond_channels = 1))
    await expect(loadModel(p, { device: 'cpu' })).rejects.toMatchObject({ code: 'MODEL_CONTRACT_MISMATCH', message: expect.stringMatching(/inputs are \[t, x\]/) })
  })

  it('a card with the wrong channel count or t type is MODEL_CONTRACT_MISMATCH', async () => {
    await expect(loadModel(tmpModels((c) => (c.channels = 3)), { device: 'cpu' })).rejects.toMatchObject({ code: 'MODEL_CONTRACT_MISMATCH', message: expect.stringMatching(/channels/) })
    await expect(loadModel(tmpModels((c) => (c.timestep_input = 'int64')), { device: 'cpu' })).rejects.toMatchObject({ code: 'MODEL_CONTRACT_MISMATCH', message: expect.stringMatching(/int64/) })
  })

  it('a missing ONNX file is MODEL_NOT_FOUND and invalid cards name the field', async () => {
    const dir = path.dirname(tmpModels(() => {}))
    copyFileSync(path.join(fixtures, 'tiny-eps.json'), path.join(dir, 'other.json'))
    const c = JSON.parse(readFileSync(path.join(dir, 'other.json'), 'utf8'))
    c.file = 'nope.onnx'
    writeFileSync(path.join(dir, 'other.json'), JSON.stringify(c))
    const list = await listModels(dir)
    expect(list.find((e) => e.cardPath.endsWith('other.json'))?.error?.code).toBe('MODEL_NOT_FOUND')
    await expect(loadModel(path.join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' })
    expect(() => validateModelCard({ ...card, prediction: 'score' })).toThrow(/prediction/)
    expect(() => validateModelCard({ ...card, schedule: { ...card.schedule, T: 0 } })).toThrow(/schedule.T/)
  })

  it('asking for cuda or webgpu where there is none is DEVICE_UNAVAILABLE', async () => {
    const onnx = path.join(fixtures, 'tiny-eps.onnx')
    let cudaWorks = false
    try {
      await getSession(onnx, 'cuda')
      cudaWorks = true
    } catch (e) {
      expect(e).toMatchObject({ code: 'DEVICE_UNAVAILABLE', message: expect.stringMatching(/cuda/) })
    }
    if (cudaWorks) expect((await getSession(onnx, 'auto')).device).toBe('cuda')
    else expect((await getSession(onnx, 'auto')).device).toBe('cpu')
  })
})
