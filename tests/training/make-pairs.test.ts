import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const PY = '/usr/bin/python3'
const hasElastix = spawnSync('elastix', ['--version'], { stdio: 'ignore' }).status === 0
const hasPy = existsSync(PY) && spawnSync(PY, ['-c', 'import nibabel, scipy, PIL, torch'], { stdio: 'ignore' }).status === 0
const tmp = mkdtempSync(path.join(tmpdir(), 'raddiff-pairs-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

// A synthetic head whose truth we set: a T1-like ellipsoid (bright brain, dark skull shell) and a
// CT-like copy (bone shell 1000 HU, brain 40 HU, air -1024) moved by a known shift. After elastix,
// the registered CT's bone must sit on the T1's skull shell; before, it must not.
const script = String.raw`
import json, os, sys
import numpy as np, nibabel as nib
sys.path.insert(0, os.path.join(sys.argv[1], "training"))
from raddiff_train.make_pairs import register_one
out = sys.argv[2]
n = 56
g = np.stack(np.meshgrid(*[np.arange(n) - (n - 1) / 2] * 3, indexing="ij"))
def shapes(shift):
    r = np.sqrt(((g[0] - shift[0]) / 22) ** 2 + ((g[1] - shift[1]) / 19) ** 2 + ((g[2] - shift[2]) / 16) ** 2)
    return r < 0.85, (r >= 0.85) & (r < 1.0)
aff = np.diag([2.0, 2.0, 2.0, 1.0]); aff[:3, 3] = -(n - 1)
brain, shell = shapes((0, 0, 0))
t1 = np.where(brain, 800.0, np.where(shell, 60.0, 0.0)) + (g[0] > 0) * brain * 150.0
nib.save(nib.Nifti1Image(t1.astype(np.float32), aff), os.path.join(out, "t1.nii.gz"))
cbrain, cshell = shapes((3, -2, 2))   # voxels: 6, -4, 4 mm
ct = np.where(cbrain, 40.0, np.where(cshell, 1000.0, -1024.0)) + (g[0] > 3) * cbrain * 20.0
nib.save(nib.Nifti1Image(ct.astype(np.int16), aff), os.path.join(out, "ct.nii.gz"))
r = register_one("case", os.path.join(out, "t1.nii.gz"), None, os.path.join(out, "ct.nii.gz"), out)
reg = np.asarray(nib.load(os.path.join(out, "case", "ct.nii.gz")).get_fdata())
mask = np.asarray(nib.load(os.path.join(out, "case", "mask.nii.gz")).get_fdata()) > 0
dice = lambda a, b: 2 * (a & b).sum() / (a.sum() + b.sum())
print(json.dumps({"before": dice(cshell, shell), "after": dice(reg > 300, shell), "brain_hu": float(np.median(reg[brain & mask])),
                  "mask_covers_brain": float((mask & brain).sum() / brain.sum()), "files": sorted(os.listdir(os.path.join(out, "case")))}))
`

describe.skipIf(!hasElastix || !hasPy)('make_pairs: elastix registration of a CT onto a T1 (known shift)', () => {
  it('puts the CT bone on the T1 skull, HU preserved, outputs in the SynthRAD layout', () => {
    const r = spawnSync(PY, ['-c', script, repoRoot, tmp], { encoding: 'utf8', timeout: 240_000 })
    if (r.status !== 0) throw new Error(r.stderr.slice(-2000))
    const m = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(m.before).toBeLessThan(0.5)
    expect(m.after).toBeGreaterThan(0.75)
    // HU survive (not the +1024 shift used for the registration itself): the brain holds 40 and 60 HU
    expect(m.brain_hu).toBeGreaterThanOrEqual(35)
    expect(m.brain_hu).toBeLessThanOrEqual(65)
    expect(m.mask_covers_brain).toBeGreaterThan(0.95)
    expect(m.files).toEqual(expect.arrayContaining(['ct.nii.gz', 'mask.nii.gz', 'mr.nii.gz', 'overlay.png']))
  }, 250_000)
})
