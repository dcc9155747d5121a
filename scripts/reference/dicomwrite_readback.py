#!/usr/bin/python3
"""Peer reader for raddiff's DICOM writer tests: reads every file of a folder with pydicom
(Debian python3-pydicom), sorts by ImagePositionPatient along the slice normal and prints JSON.
Pixel values are after pydicom's own modality LUT (RescaleSlope / Intercept), so the test
compares against an independent decoding of what we wrote.

Usage: /usr/bin/python3 scripts/reference/dicomwrite_readback.py FOLDER
"""
import json
import os
import sys

import numpy as np
import pydicom
try:
    from pydicom.pixels import apply_modality_lut
except ImportError:  # pydicom < 3
    from pydicom.pixel_data_handlers.util import apply_modality_lut


def seq_refs(ds, keyword):
    return [
        {"sopClassUID": str(i.ReferencedSOPClassUID), "sopInstanceUID": str(i.ReferencedSOPInstanceUID)}
        for i in ds.get(keyword, [])
    ]


def main(folder):
    slices = []
    for name in sorted(os.listdir(folder)):
        ds = pydicom.dcmread(os.path.join(folder, name))
        iop = [float(x) for x in ds.ImageOrientationPatient]
        normal = np.cross(iop[:3], iop[3:])
        ipp = [float(x) for x in ds.ImagePositionPatient]
        pixels = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
        slices.append((float(np.dot(normal, ipp)), {
            "file": name,
            "transferSyntaxUID": str(ds.file_meta.TransferSyntaxUID),
            "sopClassUID": str(ds.SOPClassUID),
            "sopInstanceUID": str(ds.SOPInstanceUID),
            "studyInstanceUID": str(ds.StudyInstanceUID),
            "seriesInstanceUID": str(ds.SeriesInstanceUID),
            "frameOfReferenceUID": str(ds.get("FrameOfReferenceUID", "")),
            "modality": str(ds.Modality),
            "imageType": list(ds.ImageType),
            "instanceNumber": int(ds.InstanceNumber),
            "imagePositionPatient": ipp,
            "imageOrientationPatient": iop,
            "pixelSpacing": [float(x) for x in ds.PixelSpacing],
            "sliceThickness": float(ds.SliceThickness),
            "rows": int(ds.Rows),
            "columns": int(ds.Columns),
            "pixelRepresentation": int(ds.PixelRepresentation),
            "rescaleSlope": float(ds.get("RescaleSlope", 1)),
            "rescaleIntercept": float(ds.get("RescaleIntercept", 0)),
            "rescaleType": str(ds.get("RescaleType", "")),
            "contentQualification": str(ds.get("ContentQualification", "")),
            "imageComments": str(ds.get("ImageComments", "")),
            "seriesDescription": str(ds.get("SeriesDescription", "")),
            "derivationDescription": str(ds.get("DerivationDescription", "")),
            "burnedInAnnotation": str(ds.get("BurnedInAnnotation", "")),
            "manufacturer": str(ds.get("Manufacturer", "")),
            "patientName": str(ds.get("PatientName", "")),
            "patientID": str(ds.get("PatientID", "")),
            "patientSex": str(ds.get("PatientSex", "")),
            "sourceImages": seq_refs(ds, "SourceImageSequence"),
            "referencedSeries": [str(i.SeriesInstanceUID) for i in ds.get("ReferencedSeriesSequence", [])],
            # Row-major rows × columns, as pydicom decodes them.
            "pixels": pixels.ravel().tolist(),
        }))
    slices.sort(key=lambda s: s[0])
    json.dump([s[1] for s in slices], sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
