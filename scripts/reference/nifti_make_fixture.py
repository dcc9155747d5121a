"""Make fixtures/nifti/ixi-t1-small.nii.gz: an IXI T1 head MRI downsampled by 2 in each axis.

Keeps what makes the source a good loader test: a permuted (sagittal) qform/sform and uint8
voxels with a non-unit scl_slope. nibabel rewrites scl_slope on save, so the slope is patched
into the NIfTI-1 header at its fixed offset (112) before gzipping.
Run: /usr/bin/python3 scripts/reference/nifti_make_fixture.py [../shared/data]
"""
import gzip
import io
import struct
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

root = Path(__file__).resolve().parents[2]
data = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / 'shared' / 'data'
src = nib.load(data / 'mri' / 'ixi-t1' / 'IXI260-HH-1805_T1.nii.gz')
raw = np.asanyarray(src.dataobj.get_unscaled())[::2, ::2, ::2].astype(np.uint8)
slope = float(src.dataobj.slope)
affine = src.affine @ np.diag([2.0, 2.0, 2.0, 1.0])

img = nib.Nifti1Image(raw, affine)
img.set_qform(affine, code=1)
img.set_sform(affine, code=1)
img.header.set_data_dtype(np.uint8)
img.header.set_xyzt_units('mm')
buf = io.BytesIO()
buf.write(img.header.binaryblock)
buf.write(b'\0' * (352 - buf.tell()))
buf.write(raw.tobytes(order='F'))
b = bytearray(buf.getvalue())
struct.pack_into('<ff', b, 112, slope, 0.0)
struct.pack_into('<f', b, 108, 352.0)
out = root / 'fixtures' / 'nifti' / 'ixi-t1-small.nii.gz'
out.write_bytes(gzip.compress(bytes(b), mtime=0))
print(out, out.stat().st_size, raw.shape, slope)

# Variants for the other layouts the reader supports, smaller still (every 4th voxel):
# NIfTI-2 float32 (.nii.gz), and a big-endian NIfTI-1 .hdr/.img pair (int16).
small = np.asanyarray(src.dataobj.get_unscaled())[::4, ::4, ::4]
aff4 = src.affine @ np.diag([4.0, 4.0, 4.0, 1.0])
n2 = nib.Nifti2Image((small * slope).astype(np.float32), aff4)
n2.set_qform(aff4, code=1)
n2.set_sform(aff4, code=1)
nib.save(n2, root / 'fixtures' / 'nifti' / 'ixi-t1-tiny-nifti2.nii.gz')
pair = nib.Nifti1Pair(small.astype(np.int16), aff4)
pair.set_qform(aff4, code=2)
pair.set_sform(None, code=0)
pair.header.set_data_dtype(np.int16)
pair.header.set_xyzt_units('mm')
pair.header.set_slope_inter(1.0, 0.0)  # an in-memory header holds NaN, meaning 'not yet set'
# nibabel saves in native order, so the big-endian pair is written by hand
(root / 'fixtures' / 'nifti' / 'ixi-t1-tiny-pair.hdr').write_bytes(pair.header.as_byteswapped('>').binaryblock)
(root / 'fixtures' / 'nifti' / 'ixi-t1-tiny-pair.img').write_bytes(small.astype('>i2').tobytes(order='F'))
for name in ['ixi-t1-tiny-nifti2.nii.gz', 'ixi-t1-tiny-pair.hdr', 'ixi-t1-tiny-pair.img']:
    p = root / 'fixtures' / 'nifti' / name
    print(p, p.stat().st_size)
