import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { EngineError } from './errors.js'
import { PROVIDER_NAMES, softwareAdapter, summariseProfile, type ExecutionReport } from './execution-report.js'
import { runOrt, sessionOptions, type GraphInfo, type TensorData } from './session-options.js'

export type GpuDevice = 'cuda' | 'webgpu'

/**
 * Recognises ORT's "this provider cannot run here" failures (no adapter, no CUDA libraries, a
 * build without the provider) so they become DEVICE_UNAVAILABLE, while a model the provider
 * rejects stays a model error. The texts are ORT's own (webgpu_context.cc: "Failed to get a WebGPU adapter";
 * the Node binding: "OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library").
 */
function isDeviceFailure(message: string): boolean {
  return /adapter|webgpu device|vulkan|AppendExecutionProvider|failed to load (?:shared )?library|libonnxruntime_providers_|cudnn|cublas|backend not found/i.test(message)
}

function unavailable(device: GpuDevice, modelPath: string, cause: unknown): EngineError {
  const hint =
    device === 'webgpu'
      ? 'no WebGPU adapter could be opened on this machine (Dawn needs a Vulkan driver; for a slow software device set VK_ICD_FILENAMES to a SwiftShader ICD, e.g. /usr/lib/chromium/vk_swiftshader_icd.json)'
      : 'the CUDA execution provider (--device cuda) could not be loaded on this machine (see "GPU (CUDA)" in README.md)'
  return new EngineError('DEVICE_UNAVAILABLE', `${hint}; use --device cpu or auto`, { source: modelPath, cause })
}

/**
 * A GPU session on the JS thread: its kernels run on the device, the JS thread only waits, and a
 * batch runs whole (parallelism 1).
 *
 * The first run is profiled (ORT's profile is the only record of the provider that ran each node)
 * and the profile is then ended, so later runs pay nothing; `execution()` reports it. Outputs come
 * back as CPU arrays: onnxruntime-node 1.30 cannot read GPU-resident outputs back without aborting
 * the process (session-options.ts, plainOutputs), and the sampler's scheduler step runs on the CPU
 * between network evaluations anyway, so nothing is kept on the device across run() calls.
 */
export class DeviceSession implements GraphInfo {
  readonly parallelism = 1
  private report: ExecutionReport
  private profileDir: string | undefined

  private constructor(
    private readonly s: ort.InferenceSession,
    readonly device: GpuDevice,
    readonly modelPath: string,
    profileDir: string | undefined,
  ) {
    this.profileDir = profileDir
    this.report = { device, providers: [PROVIDER_NAMES[device]] }
    const adapter = device === 'webgpu' ? softwareAdapter() : undefined
    if (adapter) this.report.adapter = adapter
  }

  /** Opens the model on the provider; DEVICE_UNAVAILABLE when the provider or its device is missing. */
  static async open(modelPath: string, device: GpuDevice, threads: number): Promise<DeviceSession> {
    const profileDir = mkdtempSync(path.join(os.tmpdir(), 'raddiff-ort-profile-'))
    try {
      const s = await ort.InferenceSession.create(modelPath, sessionOptions(device, threads, { profilePrefix: path.join(profileDir, 'first-run') }))
      return new DeviceSession(s, device, modelPath, profileDir)
    } catch (e) {
      rmSync(profileDir, { recursive: true, force: true })
      const message = e instanceof Error ? e.message : String(e)
      if (isDeviceFailure(message)) throw unavailable(device, modelPath, e)
      throw new EngineError('MODEL_CONTRACT_MISMATCH', `onnxruntime could not load the model on the ${device} provider (corrupt or unsupported ONNX)`, { source: modelPath, cause: e })
    }
  }

  get inputNames(): readonly string[] {
    return this.s.inputNames
  }
  get outputNames(): readonly string[] {
    return this.s.outputNames
  }
  get inputMetadata(): GraphInfo['inputMetadata'] {
    return this.s.inputMetadata
  }
  get outputMetadata(): GraphInfo['outputMetadata'] {
    return this.s.outputMetadata
  }

  async run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
    let out: Record<string, TensorData>
    try {
      out = await runOrt(this.s, feeds)
    } catch (e) {
      throw new EngineError('INFERENCE_FAILED', `onnxruntime failed while running the model on the ${this.device} provider`, { source: this.modelPath, cause: e })
    } finally {
      this.endProfile()
    }
    return out
  }

  /** Which providers ran the model's nodes (counts once the first run has been profiled). */
  execution(): ExecutionReport {
    return { ...this.report, providers: [...this.report.providers], ...(this.report.nodes ? { nodes: { ...this.report.nodes } } : {}) }
  }

  private endProfile(): void {
    const dir = this.profileDir
    if (!dir) return
    this.profileDir = undefined
    try {
      this.s.endProfiling()
      const file = readdirSync(dir).find((f) => f.endsWith('.json'))
      if (file) {
        const { nodes, cpuOps } = summariseProfile(readFileSync(path.join(dir, file), 'utf8'))
        if (Object.keys(nodes).length) {
          const gpu = PROVIDER_NAMES[this.device]
          this.report.nodes = nodes
          this.report.providers = Object.keys(nodes).sort((a, b) => (a === gpu ? -1 : b === gpu ? 1 : a.localeCompare(b)))
          if (cpuOps.length) this.report.cpuOps = cpuOps
        }
      }
    } catch {
      // a profile we cannot read leaves the report at the provider asked for, without counts
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  async release(): Promise<void> {
    if (this.profileDir) rmSync(this.profileDir, { recursive: true, force: true })
    this.profileDir = undefined
    await this.s.release()
  }
}
