"""Reference numbers for raddiff's NIfTI reader, computed by nibabel (the NIfTI standard's
affine choice: sform if sform_code > 0, else qform, else pixdim).

Writes tests/reference/nifti-refs.json. Values are nibabel's get_fdata() (scaling applied).
Run: /usr/bin/python3 scripts/reference/nifti_refs.py [../shared/data]
"""
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

root = Path(__file__).resolve().parents[2]
data = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / 'shared' / 'data'

DATA_FILES = [
    'orientation/RAS.nii.gz',
    'orientation/LPI.nii.gz',
    *sorted(str(p.relative_to(data)) for p in (data / 'mri' / 'ixi-t1').glob('*.nii.gz'))[:3],
    'templates/MNI152_2009_template.nii.gz',
    'templates/ch2.nii.gz',
    'templates/gg-flair-181-asym-8mmFWHM.nii',
    'templates/scct.nii',
    'templates/scct_stripped.nii',
    'templates/scgrey.nii',
    'ct/head_cranium.nii.gz',
    'ct/abdomen_pelvis_3mm.nii.gz',
    'ct/thorax_abdomen_1p5mm.nii.gz',
    'lesion/brats2013/brats_2013_pat0003_1/Flair_subtrMeanDivStd.nii.gz',
    'lesion/brats2013/brats_2013_pat0003_1/OTMultiClass.nii.gz',
    'mri/other/seg3d_t1.nii.gz',
    'mri/other/stroke/T1.nii.gz',
]
FIXTURES = [
    'fixtures/nifti/ixi-t1-small.nii.gz',
    'fixtures/nifti/ixi-t1-tiny-nifti2.nii.gz',
    'fixtures/nifti/ixi-t1-tiny-pair.hdr',
]


def probe_indices(shape):
    s = [int(n) for n in shape[:3]]
    return [
        [0, 0, 0],
        [n // 2 for n in s],
        [s[0] // 3, s[1] // 2, (2 * s[2]) // 3],
        [n - 1 for n in s],
        [s[0] // 4, (3 * s[1]) // 4, s[2] // 2],
        [s[0] // 2, s[1] // 3, s[2] // 4],
        [(2 * s[0]) // 3, (2 * s[1]) // 5, (3 * s[2]) // 5],
    ]


def describe(path):
    img = nib.load(str(path))
    x = img.get_fdata(dtype=np.float64)
    h = img.header
    idx = probe_indices(img.shape)
    return {
        'shape': [int(n) for n in img.shape],
        'dtype': img.get_data_dtype().newbyteorder('=').name,  # stored type, byte order aside
        'qform_code': int(h['qform_code']),
        'sform_code': int(h['sform_code']),
        'slope': None if img.dataobj.slope is None else float(img.dataobj.slope),
        'inter': None if img.dataobj.inter is None else float(img.dataobj.inter),
        'affine': [[float(v) for v in row] for row in img.affine],
        'sum': float(np.sum(x)),
        'sumsq': float(np.sum(x * x)),
        'probes': [{'ijk': i, 'value': float(x[tuple(i)])} for i in idx],
    }


out = {'nibabel': nib.__version__, 'data': {}, 'fixtures': {}}
for rel in DATA_FILES:
    out['data'][rel] = describe(data / rel)
for rel in FIXTURES:
    out['fixtures'][rel] = describe(root / rel)
dest = root / 'tests' / 'reference' / 'nifti-refs.json'
dest.write_text(json.dumps(out, indent=1) + '\n')
print(dest, len(out['data']), 'data files', len(out['fixtures']), 'fixtures')
