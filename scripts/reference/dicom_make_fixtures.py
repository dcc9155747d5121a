"""Makes fixtures/dicom/CT_small_rle.dcm: pydicom's CT_small.dcm re-encoded as RLE Lossless by
pydicom's own encoder, so a classic CT with a top-level rescale exercises the GDCM path.

Run: /usr/bin/python3 scripts/reference/dicom_make_fixtures.py
"""
import os
import pydicom
from pydicom.uid import RLELossless

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ds = pydicom.dcmread(os.path.join(ROOT, 'fixtures', 'dicom', 'CT_small.dcm'))
ds.compress(RLELossless)
ds.save_as(os.path.join(ROOT, 'fixtures', 'dicom', 'CT_small_rle.dcm'))
print('wrote fixtures/dicom/CT_small_rle.dcm')
