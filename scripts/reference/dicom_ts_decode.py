"""pydicom's decode of DICOM files, for tests/io/dicom/ts-matrix.test.ts: one process for many
files. For each FILE writes its stored values (float64, little endian, frames ×
rows × columns × samples, samples interleaved; YBR converted to RGB; no MONOCHROME1 inversion, no
rescale) into OUTDIR as <file name>.pydicom.f64 and prints one JSON line {file, ok, shape | error}.
Files pydicom has no decoder for here are reported, not fatal.

Run: /usr/bin/python3 scripts/reference/dicom_ts_decode.py OUTDIR FILE...
"""
import json
import os
import sys
import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import convert_color_space

out = sys.argv[1]
for f in sys.argv[2:]:
    try:
        ds = pydicom.dcmread(f)
        a = ds.pixel_array
        frames = int(getattr(ds, 'NumberOfFrames', 1) or 1)
        samples = int(ds.SamplesPerPixel)
        pi = str(ds.PhotometricInterpretation)
        if samples == 3 and pi.startswith('YBR_FULL'):
            a = convert_color_space(a, pi, 'RGB')
        a = np.asarray(a, dtype=np.float64).reshape(frames, int(ds.Rows), int(ds.Columns), samples)
        a.astype('<f8').tofile(os.path.join(out, os.path.basename(f) + '.pydicom.f64'))
        print(json.dumps({'file': f, 'ok': True, 'shape': list(a.shape), 'photometric': pi}))
    except Exception as e:  # no handler for this syntax here, or a decoder error: the test decides
        print(json.dumps({'file': f, 'ok': False, 'error': type(e).__name__ + ': ' + str(e).split('\n')[0][:200]}))
