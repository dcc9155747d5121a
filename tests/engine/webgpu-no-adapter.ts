/**
 * Child process of webgpu.test.ts: opens the tiny model with `--device webgpu` when the Vulkan
 * loader can find no driver, and prints the error's code. A separate process because Dawn reads
 * the driver list once per process.
 */
import path from 'node:path'
import { loadModel, releaseSessions } from '../../src/engine/index.js'
import { repoRoot } from './helpers.js'

try {
  const m = await loadModel(path.join(repoRoot, 'fixtures/models/tiny-eps.json'), { device: 'webgpu' })
  console.log(JSON.stringify({ ok: true, device: m.device }))
} catch (e) {
  const err = e as { code?: string; message?: string }
  console.log(JSON.stringify({ ok: false, code: err.code, message: err.message }))
} finally {
  await releaseSessions()
}
