import path from 'node:path'
import type { ResolvedDevice } from './session-options.js'

/**
 * Which execution providers really ran a model. A GPU session is not "all GPU": ORT hands the
 * nodes its GPU provider has no kernel for (here: the shape arithmetic of GroupNorm's reshapes) to
 * the CPU provider, and says so only in its profile. `nodes` counts kernels per provider in the
 * first run, read from that profile; a CPU session runs everything on the CPU provider.
 */
export interface ExecutionReport {
  /** The device the session was opened on (never `auto`). */
  device: ResolvedDevice
  /** ORT execution providers that ran nodes, GPU provider first. */
  providers: string[]
  /** Kernels run per provider in the profiled first run (GPU sessions). */
  nodes?: Record<string, number>
  /** Operator types the CPU provider ran inside a GPU session. */
  cpuOps?: string[]
  /** What the WebGPU adapter is when it is a known software device (SwiftShader, lavapipe). */
  adapter?: string
}

export const PROVIDER_NAMES: Record<ResolvedDevice, string> = {
  cpu: 'CPUExecutionProvider',
  cuda: 'CUDAExecutionProvider',
  webgpu: 'WebGpuExecutionProvider',
}

interface ProfileEvent {
  cat?: string
  name?: string
  args?: { op_name?: string; provider?: string }
}

/** Kernel counts per provider and the CPU provider's op types, from an ORT profile (JSON array). */
export function summariseProfile(text: string): { nodes: Record<string, number>; cpuOps: string[] } {
  const events = JSON.parse(text) as ProfileEvent[]
  const nodes: Record<string, number> = {}
  const cpuOps = new Set<string>()
  for (const e of Array.isArray(events) ? events : []) {
    // each node gives fence_before / kernel_time / fence_after events: count the kernel only
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.provider) continue
    nodes[e.args.provider] = (nodes[e.args.provider] ?? 0) + 1
    if (e.args.provider === PROVIDER_NAMES.cpu && e.args.op_name) cpuOps.add(e.args.op_name)
  }
  return { nodes, cpuOps: [...cpuOps].sort() }
}

/**
 * Dawn (ORT's WebGPU) finds adapters through the Vulkan loader, which reads VK_ICD_FILENAMES /
 * VK_DRIVER_FILES. When those name a known software rasteriser the "GPU" is the CPU, and a report
 * that said only "webgpu" would mislead whoever reads the timings.
 */
export function softwareAdapter(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const files = `${env.VK_DRIVER_FILES ?? ''}:${env.VK_ICD_FILENAMES ?? ''}`.split(':').map((f) => path.basename(f).toLowerCase())
  if (files.some((f) => f.includes('swiftshader'))) return 'SwiftShader (software Vulkan on the CPU)'
  if (files.some((f) => f.includes('lvp') || f.includes('lavapipe'))) return 'lavapipe (software Vulkan on the CPU)'
  return undefined
}
