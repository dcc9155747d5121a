/**
 * `tsx bench/engine.ts [--volume-steps 10] [--slices 90] [--configs BxL,...] [--torch-batch N] [--reps 3] [--passes 1]
 *                      [--threads N] [--skip-torch] [--torch-spin] [--device auto|cpu|cuda|webgpu] [--sizes 128,256] [--batches 1,8]`
 * Exports the default UNet (random weights, seed 0) with training/ into a temp folder, then times
 * on the same model: ORT forwards at 128²/256² × batch 1/8, a DDIM pass over a 120×120×S volume
 * (engine vs PyTorch eager reference, training/raddiff_train/bench_torch.py) and GFLOP/s.
 *
 * PyTorch runs in a long-lived child process and the two take turns (forwards: one each; volume
 * pass: in 1/32 slices of progress), so both see the same machine load: on a shared 2-core machine
 * the load swings by 2-5× within seconds and back-to-back runs of 25 s each gave ratios that meant
 * nothing. CPU time (all threads) is printed beside wall time: it barely depends on others' load.
 * Volume passes use diffuseVolume's setting (batchPlan; on CPU one slice per 1-thread inference
 * thread, two batches in flight: src/engine/threaded-session.ts); PyTorch runs batch 8, its fastest. Both sides get the same number of cores and both wait without
 * spinning (ORT allow_spinning=0 in session.ts, OMP_WAIT_POLICY=PASSIVE for PyTorch's OpenMP;
 * --torch-spin gives PyTorch its default instead).
 *
 * `--device webgpu|cuda` times the engine's GPU session instead (no PyTorch: it runs on the CPU).
 * The first forward of each shape is printed apart: on WebGPU it compiles the shaders. On a machine
 * with no GPU, `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json` gives a software
 * device: slow by design, the point is that the path runs (e.g. `-- --device webgpu --sizes 128
 * --batches 1 --reps 2 --volume-steps 2 --slices 8`).
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { batchPlan, loadModel, onnxModelFn, releaseSessions, sampleVolume, volumeModel, type Device } from '../src/engine/index.js'
import { createVolume } from '../src/volume/index.js'

/** Volume pass hand-overs between the engine and PyTorch (see behind()). */
const CHUNKS = 32
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const volumeSteps = opt('--volume-steps', 10)
const slices = opt('--slices', 90)
// PyTorch at the batch where it is fastest (2 threads, 10-step pass: batch 2 39.6 s, batch 8 26.5-30.5 s)
const torchBatch = opt('--torch-batch', 8)
const reps = Math.max(1, opt('--reps', 3))
// paired volume passes per config: the ratio moves by ±10 % from pass to pass on a shared VM
const passes = Math.max(1, opt('--passes', 1))
const threads = opt('--threads', os.availableParallelism())
// --configs 8x1,2x2: volume passes as batch×lanes (lanes: batches in flight at once on the same session)
const parseConfigs = (spec: string) => spec.split(',').map((c) => {
  const [b, l] = c.split('x').map(Number)
  return { batch: b, lanes: l || 1 }
})
const device = (args.includes('--device') ? args[args.indexOf('--device') + 1] : 'auto') as Device
if (!['auto', 'cpu', 'cuda', 'webgpu'].includes(device)) throw new Error('--device: auto | cpu | cuda | webgpu')
const list = (name: string, dflt: number[]): number[] => (args.includes(name) ? args[args.indexOf(name) + 1].split(',').map(Number) : dflt)
const sizes = list('--sizes', [128, 256])
const batches = list('--batches', [1, 8])
// PyTorch here is the CPU reference: beside a GPU session it would compare unlike things
const skipTorch = args.includes('--skip-torch') || device === 'cuda' || device === 'webgpu'
const trainingDir = path.join(root, 'training')

/** The PyTorch side: one JSON command per line, one JSON reply per line. */
async function startTorch(): Promise<{ ask: (cmd: object) => Promise<any>; hello: any; close: () => void }> {
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(threads) }
  if (!args.includes('--torch-spin')) env.OMP_WAIT_POLICY = 'PASSIVE'
  const child = spawn('/usr/bin/python3', ['-m', 'raddiff_train.bench_torch', 'serve', String(threads)], { cwd: trainingDir, env, stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const next = async (): Promise<any> => {
    const r = await lines.next()
    if (r.done) throw new Error('the PyTorch bench process ended early')
    return JSON.parse(r.value)
  }
  const hello = await next()
  return {
    hello,
    ask: (cmd) => {
      child.stdin!.write(JSON.stringify(cmd) + '\n')
      return next()
    },
    close: () => {
      child.stdin!.end(JSON.stringify({ op: 'quit' }) + '\n')
    },
  }
}

const median = (a: number[]): number => [...a].sort((p, q) => p - q)[a.length >> 1]
/** Process CPU seconds (all threads): unlike wall time, barely moved by other processes' load. */
const cpuNow = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'raddiff-bench-'))
let torch: Awaited<ReturnType<typeof startTorch>> | undefined
try {
  const info = JSON.parse(execFileSync('/usr/bin/python3', ['-m', 'raddiff_train.bench_torch', 'export', dir], { cwd: trainingDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').at(-1)!)
  const m = await loadModel(path.join(dir, 'bench.json'), { device, threads })
  const plan = batchPlan(m)
  // default: the engine's own setting for this device (diffuseVolume)
  const configs = parseConfigs(args.includes('--configs') ? args[args.indexOf('--configs') + 1] : `${plan.batch}x${plan.inFlight}`)
  const model = onnxModelFn(m)
  if (!skipTorch) torch = await startTorch()
  console.log(`model: default UNet, ${(info.parameters / 1e6).toFixed(2)}M parameters, ${(info.flops128 / 1e9).toFixed(2)} GFLOP per 128² slice`)
  console.log(`device: ${m.device}, cpus: ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? '?'}, load average ${os.loadavg()[0].toFixed(1)}`)
  // what the session really runs (its thread count also depends on the model's size)
  const split = { count: m.session.parallelism, each: Math.max(1, Math.floor(threads / m.session.parallelism)) }
  console.log(`ORT settings: ${m.device === 'cpu' ? `${split.count} inference thread(s), each a session with intraOpNumThreads ${split.each}, ` : 'one session on the JS thread, intraOpNumThreads 1 for the nodes left to the CPU provider, '}graphOptimizationLevel all${m.device === 'cpu' ? ' (NCHWc)' : ''}, sequential, allow_spinning 0`)
  if (torch) console.log(`PyTorch ${torch.hello.torch}: ${torch.hello.threads} threads, OMP_WAIT_POLICY ${torch.hello.wait_policy}, inference_mode; interleaved with ORT`)

  let reported = false
  for (const size of sizes) {
    for (const b of batches) {
      const x = new Float32Array(b * size * size).map(() => Math.random() * 2 - 1)
      const tFirst = performance.now()
      await model(x, [b, 1, size, size], 500)
      if (m.device !== 'cpu') console.log(`first forward ${size}² batch ${b} (${m.device === 'webgpu' ? 'includes shader compilation' : 'includes kernel selection'}): ${((performance.now() - tFirst) / 1000).toFixed(1)} s`)
      if (!reported) {
        reported = true
        const r = m.session.execution()
        console.log(`providers: ${r.nodes ? Object.entries(r.nodes).map(([p, n]) => `${p} ${n} nodes`).join(', ') : r.providers.join(', ')}${r.cpuOps ? ` (CPU provider ops: ${r.cpuOps.join(', ')})` : ''}${r.adapter ? `; adapter: ${r.adapter}` : ''}`)
      }
      const ortMs: number[] = []
      const ortCpu: number[] = []
      const ptMs: number[] = []
      const ptCpu: number[] = []
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now()
        const c0 = cpuNow()
        await model(x, [b, 1, size, size], 500)
        ortCpu.push(1000 * (cpuNow() - c0))
        ortMs.push(performance.now() - t0)
        if (torch) {
          const p = await torch.ask({ op: 'fwd', size, batch: b })
          ptMs.push(1000 * p.s)
          ptCpu.push(1000 * p.cpu)
        }
      }
      const ms = median(ortMs)
      // FLOPs are counted at 128² and 256² only (attention grows faster than the pixel count)
      const flops = size === 128 ? info.flops128 : size === 256 ? info.flops256 : NaN
      const gflops = (flops * b) / (ms / 1000) / 1e9
      let line = `forward ${size}² batch ${b}: ORT ${ms.toFixed(1)} ms (${(ms / b).toFixed(1)} ms/slice, ${gflops.toFixed(1)} GFLOP/s; CPU ${median(ortCpu).toFixed(0)} ms)`
      if (torch) {
        line += `, PyTorch ${median(ptMs).toFixed(1)} ms (CPU ${median(ptCpu).toFixed(0)} ms) → ORT speed-up ${median(ptMs.map((p, i) => p / ortMs[i])).toFixed(2)}× wall, `
        line += `${median(ptCpu.map((p, i) => p / ortCpu[i])).toFixed(2)}× CPU (medians of ${reps} paired runs)`
      }
      console.log(line)
    }
  }

  if (volumeSteps > 0) {
    const size: [number, number, number] = [120, 120, slices]
    const vol = createVolume({ data: new Float32Array(size[0] * size[1] * size[2]).map((_, i) => (i * 7919) % 1000), size })
    for (const cfg of configs) {
      const ratios: number[] = []
      for (let pass = 0; pass < passes; pass++) {
        const lanes = cfg.lanes
        const tb = torchBatch
        const engineCalls = Math.ceil(slices / cfg.batch) * volumeSteps
        const torchCalls = Math.ceil(slices / tb) * volumeSteps
        let ortMs = 0
        let calls = 0
        let torchCallsDone = 0
        let torchS = 0
        let torchCpu = 0
        let waitMs = 0
        let waitCpu = 0
        if (torch) await torch.ask({ op: 'vol', steps: volumeSteps, slices, batch: tb })
        // PyTorch's progress through its own pass is kept level with the engine's; with several lanes
        // in flight it runs only once all of them have returned (a lane waiting for the others
        // meanwhile counts as engine time: conservative)
        let inFlight = 0
        let gate: Promise<void> | null = null
        let openGate = (): void => {}
        // hand over in 1/CHUNKS slices of the pass: often enough to share the load swings, rarely
        // enough that lanes idling at the gate cost the engine little
        const behind = (): boolean => !!torch && torchCallsDone < torchCalls && Math.floor((CHUNKS * torchCallsDone) / torchCalls) < Math.floor((CHUNKS * calls) / engineCalls + 1e-9)
        const catchUp = async (): Promise<void> => {
          const t0 = performance.now()
          const c0 = cpuNow()
          while (torch && torchCallsDone < torchCalls && (torchCallsDone + 1) / torchCalls <= calls / engineCalls + 1e-9) {
            const p = await torch!.ask({ op: 'vol_next' })
            torchS += p.s
            torchCpu += p.cpu
            torchCallsDone++
          }
          waitMs += performance.now() - t0
          waitCpu += cpuNow() - c0
        }
        const timed: typeof model = async (...a) => {
          while (gate) await gate
          inFlight++
          const t1 = performance.now()
          const r = await model(...a)
          ortMs += performance.now() - t1
          calls++
          inFlight--
          if (behind() && !gate) gate = new Promise((res) => (openGate = res))
          if (gate && inFlight === 0) {
            await catchUp()
            gate = null
            openGate()
          }
          return r
        }
        const t0 = performance.now()
        const c0 = cpuNow()
        // the volume sampler every task runs (sampleVolumeState under sampleVolume), from pure noise
        await sampleVolume(vol, volumeModel(timed, { ...m.card, clip_sample: true }, { batch: cfg.batch, inFlight: lanes }), { sampler: 'ddim', steps: volumeSteps, seed: 0 })
        const volS = (performance.now() - t0 - waitMs) / 1000
        const volCpu = cpuNow() - c0 - waitCpu
        calls = engineCalls
        await catchUp()
        const gflops = (info.flops128 * slices * volumeSteps) / volS / 1e9
        const how = `batch ${cfg.batch}${lanes > 1 ? ` × ${lanes} in flight` : ''}, ${m.device === 'cpu' ? `${split.count} inference thread(s) × ${split.each} ORT thread(s)` : `one ${m.device} session`}`
        console.log(`engine: ${volumeSteps}-step DDIM over 120×120×${slices} (slices padded to 128², ${how}): ${volS.toFixed(1)} s (${gflops.toFixed(1)} GFLOP/s; ${((100 * ortMs) / lanes / 1000 / volS).toFixed(1)}% inside onnxruntime; CPU ${volCpu.toFixed(1)} s)`)
        if (torch) {
          console.log(`  PyTorch eager, same pass (batch ${tb}, ${torch.hello.threads} threads): ${torchS.toFixed(1)} s (${((info.flops128 * slices * volumeSteps) / torchS / 1e9).toFixed(1)} GFLOP/s; CPU ${torchCpu.toFixed(1)} s)`)
          console.log(`  engine speed-up over PyTorch: ${(torchS / volS).toFixed(2)}× wall (target ≥ 1.5×), ${(torchCpu / volCpu).toFixed(2)}× CPU time`)
          ratios.push(torchS / volS)
        }
      }
      if (ratios.length > 1) {
        const sorted = [...ratios].sort((p, q) => p - q)
        console.log(`engine speed-up over PyTorch, ${ratios.length} paired passes: median ${median(ratios).toFixed(2)}× wall (range ${sorted[0].toFixed(2)}–${sorted.at(-1)!.toFixed(2)}×)`)
      }
    }
  }
} finally {
  torch?.close()
  await releaseSessions()
  rmSync(dir, { recursive: true, force: true })
}
