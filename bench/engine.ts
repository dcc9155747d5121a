/**
 * `tsx bench/engine.ts [--volume-steps 10] [--slices 90] [--skip-torch]`
 * Exports the default UNet (random weights, seed 0) with training/ into a temp folder, then times
 * on the same model: ORT forwards at 128²/256² × batch 1/8, a DDIM pass over a 120×120×S volume
 * (engine vs PyTorch eager reference, training/raddiff_train/bench_torch.py) and GFLOP/s.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createScheduler, loadModel, onnxModelFn, releaseSessions, sampleVolume } from '../src/engine/index.js'
import { createVolume } from '../src/volume/index.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const volumeSteps = opt('--volume-steps', 10)
const slices = opt('--slices', 90)
const skipTorch = args.includes('--skip-torch')
const py = (...a: string[]): string =>
  execFileSync('/usr/bin/python3', ['-m', 'raddiff_train.bench_torch', ...a], { cwd: path.join(root, 'training'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })

const dir = mkdtempSync(path.join(os.tmpdir(), 'raddiff-bench-'))
try {
  const info = JSON.parse(py('export', dir).trim().split('\n').at(-1)!)
  const m = await loadModel(path.join(dir, 'bench.json'), { device: 'auto' })
  const model = onnxModelFn(m)
  console.log(`model: default UNet, ${(info.parameters / 1e6).toFixed(2)}M parameters, ${(info.flops128 / 1e9).toFixed(2)} GFLOP per 128² slice`)
  console.log(`device: ${m.device}, threads: ${os.availableParallelism()}, cpus: ${os.cpus()[0]?.model ?? '?'}`)

  const fwd: Record<string, number> = {}
  for (const size of [128, 256]) {
    for (const b of [1, 8]) {
      const x = new Float32Array(b * size * size).map(() => Math.random() * 2 - 1)
      await model(x, [b, 1, size, size], 500)
      const reps = b * size * size <= 8 * 128 * 128 ? 5 : 2
      const t0 = performance.now()
      for (let r = 0; r < reps; r++) await model(x, [b, 1, size, size], 500)
      fwd[`${size}x${b}`] = (performance.now() - t0) / reps
      const gflops = ((size === 128 ? info.flops128 : info.flops256) * b) / (fwd[`${size}x${b}`] / 1000) / 1e9
      console.log(`ORT forward ${size}² batch ${b}: ${fwd[`${size}x${b}`].toFixed(1)} ms (${(fwd[`${size}x${b}`] / b).toFixed(1)} ms/slice, ${gflops.toFixed(1)} GFLOP/s)`)
    }
  }

  let volS = NaN
  if (volumeSteps > 0) {
    const size: [number, number, number] = [120, 120, slices]
    const vol = createVolume({ data: new Float32Array(size[0] * size[1] * size[2]).map((_, i) => (i * 7919) % 1000), size })
    let ortMs = 0
    const timed: typeof model = async (...a) => {
      const t1 = performance.now()
      const r = await model(...a)
      ortMs += performance.now() - t1
      return r
    }
    const t0 = performance.now()
    await sampleVolume(vol, {
      model: timed,
      card: m.card,
      createScheduler: () => createScheduler('ddim', m.card.schedule, { prediction: m.card.prediction, clipSample: true }),
      steps: volumeSteps,
      seed: 0,
      batchSize: 8,
    })
    volS = (performance.now() - t0) / 1000
    const gflops = (info.flops128 * slices * volumeSteps) / volS / 1e9
    console.log(`engine: ${volumeSteps}-step DDIM over 120×120×${slices} (slices padded to 128², batch 8): ${volS.toFixed(1)} s (${gflops.toFixed(1)} GFLOP/s; ${((100 * ortMs) / 1000 / volS).toFixed(1)}% inside onnxruntime)`)
  }
  await releaseSessions()

  if (!skipTorch) {
    const t = JSON.parse(py('time', dir, String(volumeSteps), String(slices)).trim().split('\n').at(-1)!)
    for (const k of Object.keys(fwd)) console.log(`PyTorch forward ${k.replace('x', '² batch ')}: ${t.forward_ms[k].toFixed(1)} ms → ORT speed-up ${(t.forward_ms[k] / fwd[k]).toFixed(2)}×`)
    if (volumeSteps > 0) console.log(`PyTorch (${t.threads} threads): ${t.volume_s.toFixed(1)} s → engine speed-up ${(t.volume_s / volS).toFixed(2)}×`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
