import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadVolumes } from '../../src/io/load.js'
import { runTask } from '../../src/pipelines/index.js'
import ref from '../reference/service-fixtures.json' with { type: 'json' }
import { fixture, postJob, repoRoot, startTestServer, upload, waitForState, type TestServer } from './helpers.js'

const dicomDir = path.resolve(repoRoot, '../shared/data/dicom/mr_series_vs_seg')

/** Fixture cards re-pointed at the service's tasks; the ONNX bytes (and so each sha256) are unchanged. */
async function modelsFolder(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raddiff-svc-models-'))
  const cards: [string, Record<string, unknown>][] = [
    // OT matches any input modality (a NIfTI has none).
    ['tiny-eps', { tasks: ['denoise', 'superres', 'anomaly'], modality: 'OT' }],
    ['tiny-cond', { tasks: ['mri2ct'] }],
  ]
  for (const [name, patch] of cards) {
    const card = JSON.parse(await readFile(fixture(`models/${name}.json`), 'utf8'))
    await writeFile(path.join(dir, `${name}.json`), JSON.stringify({ ...card, ...patch }))
    await copyFile(fixture(`models/${name}.onnx`), path.join(dir, `${name}.onnx`))
  }
  return dir
}

describe('service with the real pipelines (in-process runTask, tiny models)', () => {
  let srv: TestServer
  let modelsDir: string
  let tmp: string

  beforeAll(async () => {
    modelsDir = await modelsFolder()
    tmp = await mkdtemp(path.join(os.tmpdir(), 'raddiff-svc-real-dl-'))
    srv = await startTestServer({ runTask, modelsDir })
  })
  afterAll(async () => {
    await srv?.close()
    await rm(modelsDir, { recursive: true, force: true })
    await rm(tmp, { recursive: true, force: true })
  })

  describe.skipIf(!existsSync(dicomDir))('DICOM series upload (shared data)', () => {
    it('30 MR slices in one multipart request make one 512×512×30 MR scan', async () => {
      const files = (await readdir(dicomDir)).filter((f) => f.endsWith('.dcm')).sort().map((f) => path.join(dicomDir, f))
      expect(files).toHaveLength(30)
      const res = await upload(srv.url, files)
      expect(res.status).toBe(201)
      const { scans } = await res.json() as any
      expect(scans).toHaveLength(1)
      expect(scans[0].summary).toMatchObject({ format: 'dicom', size: [512, 512, 30], modality: 'MR' })
    })
  })

  describe('every task on an uploaded NIfTI', () => {
    let scanId: string
    beforeAll(async () => {
      const res = await upload(srv.url, [fixture('nifti/ixi-t1-small.nii.gz')])
      expect(res.status).toBe(201)
      scanId = (await res.json() as any).scans[0].id
    })

    // nibabel: the fixture's voxel axes run P, S and R→L, so the axial (in-plane) axes are 0 and 2.
    const [nx, ny, nz] = ref.nifti.shape
    const cases: { task: string; params: Record<string, unknown>; roles: string[]; size: number[] }[] = [
      { task: 'denoise', params: { steps: 2, seed: 1 }, roles: ['denoised'], size: ref.nifti.shape },
      { task: 'superres', params: { scale: 2, steps: 2, seed: 1 }, roles: ['superres'], size: [nx * 2, ny, nz * 2] },
      { task: 'translate', params: { steps: 2, seed: 1 }, roles: ['synthct'], size: ref.nifti.shape },
      { task: 'anomaly', params: { steps: 2, seed: 1 }, roles: ['healed', 'heatmap', 'mask'], size: ref.nifti.shape },
    ]

    it.each(cases)('$task: succeeds and serves $roles as NIfTI', async ({ task, params, roles, size }) => {
      const res = await postJob(srv.url, { scanId, task, params })
      expect(res.status).toBe(202)
      const { id } = await res.json() as any
      const job = await waitForState(srv.url, id, ['succeeded', 'failed', 'cancelled'], undefined, 60_000)
      expect(job.state, JSON.stringify(job.error)).toBe('succeeded')

      const { outputs } = await (await fetch(`${srv.url}/v1/jobs/${id}/results`)).json() as any
      expect(outputs.map((o: any) => o.role).sort()).toEqual([...roles].sort())
      for (const role of roles) {
        const nii = await fetch(`${srv.url}/v1/jobs/${id}/results/${role}`)
        expect(nii.status).toBe(200)
        const file = path.join(tmp, `${task}-${role}.nii.gz`)
        await writeFile(file, Buffer.from(await nii.arrayBuffer()))
        const [back] = await loadVolumes([file])
        expect(back.summary.format).toBe('nifti')
        expect(back.volume.size).toEqual(size)
        if (task === 'superres') {
          // half the spacing along each upsampled axis, the field of view unchanged
          expect(back.volume.spacing.map((s) => +s.toFixed(4))).toEqual(size.map((n, d) => +((ref.nifti.zooms[d] * ref.nifti.shape[d]) / n).toFixed(4)))
        }
      }
    }, 60_000)
  })
})
