import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ort from 'onnxruntime-node'
import { afterAll, describe, expect, it } from 'vitest'
import { loadModel, normalisationRange, normaliseValue, paddingFor, readSlice, releaseSessions, sliceLayout, toCanonical, type Normalisation, type SlicePlane } from '../../src/engine/index.js'
import { readImageFile } from '../../src/io/image/index.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const dataRoot = path.resolve(repoRoot, '../shared/data')
const PY = '/usr/bin/python3'
const hasTorch = existsSync(PY) && spawnSync(PY, ['-c', 'import torch, nibabel, scipy, skimage'], { stdio: 'ignore' }).status === 0
const hasData = existsSync(path.join(dataRoot, 'mri/ixi-t1/participants.csv'))
const tmp = mkdtempSync(path.join(tmpdir(), 'raddiff-training-'))

afterAll(async () => {
  await releaseSessions()
  rmSync(tmp, { recursive: true, force: true })
})

function f32(file: string): Float32Array {
  const b = readFileSync(file)
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)
}

function py(args: string[], timeout: number): void {
  const r = spawnSync(PY, args, { cwd: repoRoot, encoding: 'utf8', timeout })
  if (r.status !== 0) throw new Error(`python ${args[0]} failed (${r.status ?? r.signal}):\n${(r.stderr ?? '').slice(-2000)}`)
}

describe.skipIf(!hasTorch || !hasData)('training recipes (PyTorch peer)', () => {
  it('brain-t1 --smoke trains, evaluates and exports a model the engine loads, with ORT parity', async () => {
    const out = path.join(tmp, 'out')
    const work = path.join(tmp, 'work')
    const t0 = Date.now()
    py(['training/train.py', 'brain-t1', '--data', dataRoot, '--smoke', '--out', out, '--work', work], 110_000)
    const seconds = (Date.now() - t0) / 1000
    expect(seconds).toBeLessThan(110)

    // the engine's own loader checks the sha256, the card schema and the graph's x/t → out contract
    const m = await loadModel(path.join(out, 'brain-t1-smoke.json'), { device: 'cpu' })
    expect(m.session.inputNames).toEqual(['x', 't'])
    expect(m.session.outputNames).toEqual(['out'])
    expect(m.card.normalisation).toEqual({ kind: 'percentile', params: { low: 0.5, high: 99.5 } })
    expect(m.card.plane).toBe('sagittal')
    // the EDM recipe: x0 prediction with 2.5D context (±2 slices since 0.3.0), one-call denoising metrics
    expect(m.card.prediction).toBe('x0')
    expect(m.card.context_slices).toBe(2)
    expect((m.card.objective as any).kind).toBe('edm')
    const metrics = m.card.metrics as any
    for (const s of ['sigma_0.06', 'sigma_0.1', 'sigma_0.2']) {
      for (const k of ['psnr_fg', 'input_psnr_fg']) expect(Number.isFinite(metrics.one_call_denoise[s][k])).toBe(true)
    }
    // more noise, lower PSNR: the metric measures what it says
    expect(metrics.one_call_denoise['sigma_0.06'].input_psnr_fg).toBeGreaterThan(metrics.one_call_denoise['sigma_0.2'].input_psnr_fg)
    expect(existsSync(path.join(out, 'brain-t1-smoke.png'))).toBe(true)

    // subject-level split: the card's val subjects are participants.csv's val rows, disjoint from train
    const td = m.card.training_data as { train_subjects: string[]; val_subjects: string[] }
    const csvVal = readFileSync(path.join(dataRoot, 'mri/ixi-t1/participants.csv'), 'utf8').split(/\r?\n/).filter((l) => l.endsWith(',val')).map((l) => l.split(',')[0])
    expect(td.val_subjects.length).toBeGreaterThan(0)
    for (const s of td.val_subjects) expect(csvVal).toContain(s)
    for (const s of td.train_subjects) expect(td.val_subjects).not.toContain(s)

    // onnxruntime-node on a held-out slice vs the PyTorch output the export step saved
    const sample = JSON.parse(readFileSync(path.join(work, 'parity/sample.json'), 'utf8'))
    const x = f32(path.join(work, 'parity/x.f32'))
    const ref = f32(path.join(work, 'parity/out.f32'))
    const r = await m.session.run({ x: new ort.Tensor('float32', x, sample.shape), t: new ort.Tensor('float32', Float32Array.of(sample.t), [1]) })
    const got = r.out.data as Float32Array
    expect(got.length).toBe(ref.length)
    let maxDiff = 0
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - ref[i]))
    expect(maxDiff).toBeLessThan(1e-4)
  }, 120_000)

  it('resuming from a checkpoint reproduces the uninterrupted run bit for bit, and one at the run\'s end is refused', () => {
    const script = `
import sys, torch
sys.path.insert(0, 'training')
from raddiff_train.unet import UNet
from raddiff_train.data import SliceSet
from raddiff_train.train import fit
from raddiff_train.recipes import LINEAR
torch.set_num_threads(1)
g = torch.Generator().manual_seed(5)
ds = SliceSet(torch.rand(8, 1, 64, 64, generator=g) * 2 - 1)
r = dict(name='t', lr=1e-3, schedule=LINEAR, batch=2, size=32, flip_axes=(2, 3))
mk = lambda: (torch.manual_seed(0), UNet(ch=8, mults=(1, 2), attn_levels=(), groups=4))[1]
kw = dict(device=torch.device('cpu'), log=lambda *a: None, ckpt_every=3, val_every=3)
w = sys.argv[1]
a = fit(mk(), ds, ds, r, steps=6, work=w + '/a', **kw)
fit(mk(), ds, ds, r, steps=3, work=w + '/b', **kw)
c = fit(mk(), ds, ds, r, steps=6, work=w + '/c', resume=w + '/b/ckpt.pt', **kw)
print(max((p - q).abs().max().item() for p, q in zip(a.parameters(), c.parameters())))
# a checkpoint at or past the run's length is refused, not exported as if trained
try:
    fit(mk(), ds, ds, r, steps=6, work=w + '/d', resume=w + '/c/ckpt.pt', **kw)
except SystemExit as e:
    print('refused:', e)
`
    const r = spawnSync(PY, ['-c', script, path.join(tmp, 'resume')], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    const [diff, refused] = r.stdout.trim().split('\n')
    expect(Number(diff)).toBe(0)
    expect(refused).toMatch(/^refused: --resume .*ckpt\.pt is at step 6, at or past --steps 6: pass --steps above 6/)
  }, 60_000)

  it('--focus draws that share of the noise levels log-uniformly over the task range; --decay ends the lr at 0 after a constant stretch', () => {
    // expected share in range: of the 85 % not drawn at uniform t, the focused 70 % all land in
    // [0.03, 0.25] and the log-normal 30 % with its own probability (normal CDF, Python's erf); the
    // uniform-t 15 % with the share of timesteps whose sigma lies there
    const script = `
import sys, math, torch
sys.path.insert(0, 'training')
from raddiff_train.edm import sample_sigma, SigmaMap
from raddiff_train.recipes import LINEAR
from raddiff_train.train_edm import cooldown
sm, g = SigmaMap(LINEAR), torch.Generator().manual_seed(0)
lo, hi, pm, ps = 0.03, 0.25, -1.8, 1.4
cdf = lambda v: 0.5 * (1 + math.erf((math.log(v) - pm) / (ps * math.sqrt(2))))
s = sample_sigma(400000, sm, g, pm, ps, 0.15, 0.7, (lo, hi))
inr = (s > lo) & (s < hi)
p_ln = cdf(hi) - cdf(lo)
p_u = ((sm.t_of_sigma(torch.tensor(hi)) - sm.t_of_sigma(torch.tensor(lo))) / (sm.T - 1)).item()
print(inr.float().mean().item(), 0.85 * (0.7 + 0.3 * p_ln) + 0.15 * p_u, p_ln)
print(*[cooldown(f, 0.35) for f in (0.0, 0.6, 0.825, 1.0, 1.1)], cooldown(0.99, 0.0))
`
    const r = spawnSync(PY, ['-c', script], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    const [line1, line2] = r.stdout.trim().split('\n')
    const [got, want, pLn] = line1.split(/\s+/).map(Number)
    expect(got).toBeCloseTo(want, 2)
    expect(got).toBeGreaterThan(pLn * 0.85 + 0.2)
    const lr = line2.split(/\s+/).map(Number)
    ;[1, 1, 0.5, 0, 0, 1].forEach((v, i) => expect(lr[i]).toBeCloseTo(v, 9))
  }, 60_000)

  it('--mix gives each super-resolution degradation its share of the samples, uniform within it, and refuses a malformed list; fractions outside [0, 1] are refused', () => {
    // 3 variants with 10 / 30 / 60 centres (slice 7 of variant 0 is no centre): shares 0.6 / 0.25 / 0.15 are
    // what the draw must give, whatever the slice counts; within a variant every centre alike
    const script = `
import sys, torch
sys.path.insert(0, 'training')
from types import SimpleNamespace
from raddiff_train.train_edm import centre_draw_weights
from raddiff_train.run_edm import parse_mix
variant = torch.tensor([0] * 11 + [1] * 30 + [2] * 60)
centres = torch.tensor([i for i in range(101) if i != 7])
p = centre_draw_weights(SimpleNamespace(variant=variant, centres=centres), [0.6, 0.25, 0.15])
d = centres[torch.multinomial(p, 400000, replacement=True, generator=torch.Generator().manual_seed(0))]
v = variant[d]
print(*[(v == i).float().mean().item() for i in range(3)], (d == 7).sum().item())
c1 = torch.bincount(d[v == 1], minlength=101)[11:41].float()
print((c1.max() / c1.min()).item())
r = {"name": "brain-t1-sr", "superres": {"train": [(2, "inplane"), (2, "through"), (4, "inplane")]}}
print(*parse_mix("3,1,1", r))
for bad in ("1,2", "1,-1,1", "0,0,0", "a,b,c"):
    try:
        parse_mix(bad, r); print("accepted", bad)
    except SystemExit as e:
        print("refused", "x2 inplane" in str(e) or "numbers" in str(e))
try:
    parse_mix("1", {"name": "brain-t1"}); print("accepted")
except SystemExit as e:
    print("refused", "brain-t1" in str(e))
`
    const r = spawnSync(PY, ['-c', script], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    const lines = r.stdout.trim().split('\n')
    const [s0, s1, s2, notCentre] = lines[0].split(/\s+/).map(Number)
    expect(s0).toBeCloseTo(0.6, 2)
    expect(s1).toBeCloseTo(0.25, 2)
    expect(s2).toBeCloseTo(0.15, 2)
    expect(notCentre).toBe(0)
    // 100000 draws over 30 centres: ~3333 each, a spread of a few per cent, not the 2x of a skewed draw
    expect(Number(lines[1])).toBeLessThan(1.15)
    lines[2].split(/\s+/).map(Number).forEach((v, i) => expect(v).toBeCloseTo([0.6, 0.2, 0.2][i], 9))
    expect(lines.slice(3)).toEqual(Array(5).fill('refused True'))
    for (const [flag, v] of [['--decay', '1.5'], ['--focus', '-0.2'], ['--mean-frac', '2.5']]) {
      const t = spawnSync(PY, ['training/train.py', 'brain-t1-sr', '--data', dataRoot, '--smoke', '--out', tmp, flag, v], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 })
      expect(t.status).not.toBe(0)
      expect(t.stderr).toContain(`${flag} ${v}: a fraction in [0, 1]`)
    }
  }, 60_000)

  it('the v-prediction arm (compare_objectives.py): x̂0 from v̂, its exported contract and its min-SNR weight match the textbook definitions', () => {
    // v = √ᾱ ε − √(1−ᾱ) x0 and x0 = √ᾱ x_t − √(1−ᾱ) v (Salimans & Ho); min-SNR-5 weights the v-loss by
    // min(SNR, 5)/(SNR + 1), which fit_edm applies as min(SNR, 5) on the x̂0 error: the two losses must agree
    const script = `
import sys, torch
sys.path.insert(0, 'training')
from raddiff_train.edm import VPred, SigmaMap, vpred_loss_weight
from raddiff_train.recipes import LINEAR
from raddiff_train.unet import UNet
torch.manual_seed(0)
net = UNet(in_ch=3, out_ch=1, cond_ch=0, ch=8, mults=(1, 2), attn_levels=(), groups=4)
m = VPred(net, LINEAR, context=1).eval()
t = torch.tensor([3.0, 250.5, 800.0])
sigma = SigmaMap(LINEAR).sigma_of_t(t)
x0, eps = torch.rand(3, 3, 32, 32) * 2 - 1, torch.randn(3, 3, 32, 32)
ab = (1 / (1 + sigma ** 2))[:, None, None, None]
x_vp = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
with torch.no_grad():
    v_hat = net(x_vp, t, None)
    d = m.denoise(x_vp / ab.sqrt(), sigma, t)
    d_graph = m(x_vp, t)
ref = ab.sqrt() * x_vp[:, 1:2] - (1 - ab).sqrt() * v_hat
v = ab.sqrt() * eps[:, 1:2] - (1 - ab).sqrt() * x0[:, 1:2]
snr = (ab / (1 - ab)).flatten()
lv = snr.clamp(max=5) / (snr + 1) * ((v_hat - v) ** 2).flatten(1).mean(1)
lx = vpred_loss_weight(sigma) * ((d - x0[:, 1:2]) ** 2).flatten(1).mean(1)
print((d - ref).abs().max().item(), (d - d_graph).abs().max().item(), ((lv - lx).abs() / lv).max().item())
`
    const r = spawnSync(PY, ['-c', script], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    const [dRef, dGraph, lossRel] = r.stdout.trim().split(/\s+/).map(Number)
    expect(dRef).toBeLessThan(1e-5)
    expect(dGraph).toBeLessThan(1e-5)
    expect(lossRel).toBeLessThan(1e-3)
  }, 60_000)

  it('--context 2 from a ±1 model (widen_input): the wider net starts as the old one whatever the outer neighbours hold', () => {
    const script = `
import sys, torch
sys.path.insert(0, 'training')
from raddiff_train.edm import widen_input
from raddiff_train.unet import UNet
torch.manual_seed(0)
kw = dict(out_ch=1, cond_ch=0, ch=8, mults=(1, 2), attn_levels=(), groups=4)
a = UNet(in_ch=3, **kw).eval()
b = UNet(in_ch=5, **kw).eval()
b.load_state_dict(widen_input(b, a.state_dict(), 5, 2))
x, t = torch.randn(2, 5, 32, 32), torch.tensor([3.0, 400.0])
with torch.no_grad():
    same = (a(x[:, 1:4], t) - b(x, t)).abs().max().item()
    x2 = x.clone(); x2[:, [0, 4]] = torch.randn(2, 2, 32, 32)
    outer = (b(x, t) - b(x2, t)).abs().max().item()
    x3 = x.clone(); x3[:, 1] += 1
    inner = (b(x, t) - b(x3, t)).abs().max().item()
print(same, outer, inner)
`
    const r = spawnSync(PY, ['-c', script], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    const [same, outer, inner] = r.stdout.trim().split(/\s+/).map(Number)
    expect(same).toBeLessThan(1e-6)
    expect(outer).toBeLessThan(1e-6)
    expect(inner).toBeGreaterThan(1e-4) // the kept neighbours still count
  }, 60_000)

  const cases: { file: string; norm: Normalisation; plane: SlicePlane; multiple: number }[] = [
    { file: 'mri/ixi-t1/IXI162-HH-1548_T1.nii.gz', norm: { kind: 'percentile', params: { low: 0.5, high: 99.5 } }, plane: 'sagittal', multiple: 16 },
    { file: 'ct/abdomen_pelvis_3mm.nii.gz', norm: { kind: 'ct-window', params: { low: -1024, high: 2048 } }, plane: 'coronal', multiple: 16 },
  ]
  it.each(cases)('normalisation and slicing of $file ($plane) equal the engine', async ({ file, norm, plane, multiple }) => {
    const dir = path.join(tmp, 'norm-' + path.basename(file))
    py(['training/raddiff_train/data.py', 'dump', path.join(dataRoot, file), dir, norm.kind, String(norm.params.low), String(norm.params.high), plane, String(multiple)], 60_000)
    const meta = JSON.parse(readFileSync(path.join(dir, 'normalised.json'), 'utf8'))
    const expected = f32(path.join(dir, 'normalised.f32'))

    // both sides slice the canonical LPS grid (the card's plane is anatomical)
    const v = toCanonical(await readImageFile(path.join(dataRoot, file), path.basename(file))).volume
    expect(v.size).toEqual(meta.shape)
    const { rescaleSlope: m, rescaleIntercept: b } = v.meta
    const real = Float32Array.from(v.data as ArrayLike<number>, (s) => s * m + b)
    const range = normalisationRange(real, norm)
    expect(range.low).toBe(meta.low)
    expect(range.high).toBe(meta.high)
    let maxDiff = 0
    for (let i = 0; i < real.length; i++) maxDiff = Math.max(maxDiff, Math.abs(Math.fround(normaliseValue(real[i], range)) - expected[i]))
    expect(maxDiff).toBeLessThanOrEqual(1e-6)

    // the padded training slice equals the engine's readSlice in the same plane
    const layout = sliceLayout(v.size, plane)
    const pad = paddingFor(layout.H, layout.W, multiple)
    expect([pad.H, pad.W]).toEqual(meta.slice_shape)
    const slice = new Float32Array(pad.H * pad.W)
    readSlice(v, layout, meta.slice, pad, 'reflect', (r) => normaliseValue(r, range), slice)
    const pySlice = f32(path.join(dir, 'slice.f32'))
    let sliceDiff = 0
    for (let i = 0; i < slice.length; i++) sliceDiff = Math.max(sliceDiff, Math.abs(slice[i] - pySlice[i]))
    expect(sliceDiff).toBeLessThanOrEqual(1e-6)
  }, 60_000)
})
