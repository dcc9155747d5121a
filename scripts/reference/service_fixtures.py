"""Reference numbers for tests/service: header facts and voxel sums of the upload fixtures, read by
nibabel and pydicom (independent of raddiff's loaders). Run: /usr/bin/python3 scripts/reference/service_fixtures.py"""
import json, math, pathlib
import nibabel as nib
import numpy as np
import pydicom

root = pathlib.Path(__file__).resolve().parents[2]
img = nib.load(root / 'fixtures/nifti/ixi-t1-small.nii.gz')
data = np.asarray(img.dataobj, dtype=np.float64)
ds = pydicom.dcmread(root / 'fixtures/demo/mr-mosaic.dcm')
out = {
    'nifti': {
        'shape': list(img.shape),
        'zooms': [float(z) for z in img.header.get_zooms()],
        'sum': float(data.sum()),
        'min': float(data.min()),
        'max': float(data.max()),
    },
    'mosaic': {
        'modality': ds.Modality,
        'rows': int(ds.Rows),
        'columns': int(ds.Columns),
        # identifying values that must never reach a log line
        'identifiers': [str(v) for v in (ds.get('PatientName'), ds.get('PatientID'), ds.get('InstitutionName'),
                                         ds.get('StudyInstanceUID'), ds.get('SeriesInstanceUID'), ds.get('SeriesDescription'))
                        if v is not None and len(str(v)) >= 4],
    },
}
(root / 'tests/reference/service-fixtures.json').write_text(json.dumps(out, indent=2) + '\n')
print(out)
