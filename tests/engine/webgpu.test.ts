import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { diffuseVolume, loadModel, onnxModelFn, releaseSessions } from '../../src/engine/index.js'
import { createVolume } from '../../src/volume/index.js'
import { maxAbsDiff, readReference, repoRoot } from './helpers.js'

/**
 * The WebGPU provider bundled in onnxruntime-node, on the SwiftShader Vulkan device that Debian's
 * Chromium ships (software: slow, but the same WGSL kernels and the same Dawn as on a GPU). One
 * tensor shape throughout ([2,1,16,16]), so the shaders compile once (16 s of CPU time; 35-130 s
 * wall on the shared, loaded 2-core machine); each later forward takes 1.3-2 s of CPU time
 * (7-28 s wall under that load), so the sampler check runs 3 steps.
 */
const ICD = process.env.RADDIFF_VK_ICD ?? '/usr/lib/chromium/vk_swiftshader_icd.json'
const hasVulkanLoader = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1'].some(existsSync)
const hasSoftwareGpu = existsSync(ICD) && hasVulkanLoader
// Dawn reads the driver list when it first looks for an adapter: set before any session opens
if (hasSoftwareGpu && !process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES) process.env.VK_ICD_FILENAMES = ICD

const cardPath = path.join(repoRoot, 'fixtures/models/tiny-eps.json')
// PyTorch reference (training/raddiff_train/make_goldens.py), as in e2e.test.ts
const ref = readReference('engine-e2e.json')
const dims = ref.shape as [number, number, number, number]

/**
 * Tolerances. Both providers compute in float32, but WGSL convolutions, GEMMs and instance norms
 * sum in another order than MLAS (and SwiftShader's exp/sin are not glibc's), so forwards differ by
 * float32 rounding: measured here max |Δ| 3.7e-6 against the CPU provider and 3.6e-6 against
 * PyTorch, on outputs up to 3.2 in magnitude. 1e-4 leaves a 27× margin and still fails any real
 * kernel error (a wrong GroupNorm or attention moves outputs by ≥ 0.05). The 3-step volume pass
 * compounds the rounding through the scheduler: measured 0.015 in input units on values 282-626
 * (2.5e-5 of the range 600 used below); 1e-3 of it leaves a 40× margin.
 */
const FORWARD_TOL = 1e-4
const SAMPLER_TOL = 1e-3

afterAll(releaseSessions)

describe.skipIf(!hasSoftwareGpu)('WebGPU provider on the SwiftShader Vulkan device', () => {
  it(
    'one forward equals the CPU provider and PyTorch; the job report names the providers that ran it',
    async () => {
      const gpu = await loadModel(cardPath, { device: 'webgpu' })
      const cpu = await loadModel(cardPath, { device: 'cpu', threads: 1 })
      expect(gpu.device).toBe('webgpu')
      const x = Float32Array.from(ref.x_T)
      const g = await onnxModelFn(gpu)(x, dims, ref.first_forward.t)
      const c = await onnxModelFn(cpu)(x, dims, ref.first_forward.t)
      expect(maxAbsDiff(g, c)).toBeLessThan(FORWARD_TOL)
      expect(maxAbsDiff(g, ref.first_forward.out)).toBeLessThan(FORWARD_TOL)
      expect(maxAbsDiff(g, new Float32Array(g.length))).toBeGreaterThan(0.1) // a real output, not zeros

      const rep = gpu.session.execution()
      expect(rep.device).toBe('webgpu')
      expect(rep.providers[0]).toBe('WebGpuExecutionProvider')
      expect(rep.adapter).toMatch(/SwiftShader/)
      // every convolution ran on the GPU provider; ORT leaves only shape arithmetic to the CPU
      expect(rep.nodes?.WebGpuExecutionProvider).toBeGreaterThan(100)
      expect(rep.cpuOps ?? []).not.toContain('Conv')
      expect(cpu.session.execution()).toEqual({ device: 'cpu', providers: ['CPUExecutionProvider'] })
    },
    600_000,
  )

  it('a 3-step DDIM volume pass (diffuseVolume) equals the CPU provider', async () => {
    // 16×16×2 axial: one batch of two 16² slices, the shape the forward above compiled for
    const size: [number, number, number] = [16, 16, 2]
    const vol = createVolume({ data: Float32Array.from({ length: 16 * 16 * 2 }, (_, i) => Math.sin(i / 5) * 300 + 400), size, spacing: [1, 1, 2] })
    const run = (device: 'cpu' | 'webgpu') => diffuseVolume(vol, cardPath, { device, threads: 1, sampler: 'ddim', steps: 3, startT: 300, addNoise: true, seed: 4 })
    const g = await run('webgpu')
    const c = await run('cpu')
    expect(g.device).toBe('webgpu')
    const gd = g.volume.data as Float32Array
    const cd = c.volume.data as Float32Array
    expect(gd.every(Number.isFinite)).toBe(true)
    // output in input units (~100-700): compare relative to the range
    expect(maxAbsDiff(gd, cd) / 600).toBeLessThan(SAMPLER_TOL)
    expect(maxAbsDiff(gd, vol.data as Float32Array)).toBeGreaterThan(1) // the model changed it
  }, 600_000)
})

describe('WebGPU without an adapter', () => {
  it('is DEVICE_UNAVAILABLE with a hint, and the process keeps running', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, VK_ICD_FILENAMES: path.join(repoRoot, 'no-such-vulkan-icd.json') }
    delete env.VK_DRIVER_FILES
    const tsx = path.join(repoRoot, 'node_modules/.bin/tsx')
    const { stdout } = await promisify(execFile)(tsx, [path.join(repoRoot, 'tests/engine/webgpu-no-adapter.ts')], { env, cwd: repoRoot, timeout: 120_000 })
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!)
    expect(r.ok).toBe(false)
    expect(r.code).toBe('DEVICE_UNAVAILABLE')
    expect(r.message).toMatch(/WebGPU adapter/)
    expect(r.message).toMatch(/--device cpu/)
  }, 150_000)
})
