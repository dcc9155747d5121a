#!/usr/bin/python3
"""Peer reader for raddiff's DICOM Segmentation and Parametric Map writers: pydicom (Debian
python3-pydicom) decodes the file on its own, and this prints what a reader would use — the
frames' geometry, each frame's source reference, the segment's codes, and the voxels after the
Real World Value Mapping — as JSON, in the file's frame order.

Usage: /usr/bin/python3 scripts/reference/enhanced_readback.py FILE
"""
import json
import sys

import numpy as np
import pydicom


def code(seq):
    return [str(seq[0].CodeValue), str(seq[0].CodingSchemeDesignator), str(seq[0].CodeMeaning)]


def main(file):
    ds = pydicom.dcmread(file)
    shared = ds.SharedFunctionalGroupsSequence[0]
    frames = []
    for f in ds.PerFrameFunctionalGroupsSequence:
        src = []
        for d in f.get("DerivationImageSequence", []):
            for s in d.get("SourceImageSequence", []):
                src.append(str(s.ReferencedSOPInstanceUID))
        frames.append({
            "ipp": [float(x) for x in f.PlanePositionSequence[0].ImagePositionPatient],
            "sources": src,
            "segment": int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber) if "SegmentIdentificationSequence" in f else None,
        })
    out = {
        "sopClassUID": str(ds.SOPClassUID),
        "studyInstanceUID": str(ds.StudyInstanceUID),
        "seriesInstanceUID": str(ds.SeriesInstanceUID),
        "frameOfReferenceUID": str(ds.FrameOfReferenceUID),
        "patientID": str(ds.get("PatientID", "")),
        "patientName": str(ds.get("PatientName", "")),
        "modality": str(ds.Modality),
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
        "frames": frames,
        "iop": [float(x) for x in shared.PlaneOrientationSequence[0].ImageOrientationPatient],
        "pixelSpacing": [float(x) for x in shared.PixelMeasuresSequence[0].PixelSpacing],
        "spacingBetweenSlices": float(shared.PixelMeasuresSequence[0].SpacingBetweenSlices),
        "referencedSeries": [str(s.SeriesInstanceUID) for s in ds.get("ReferencedSeriesSequence", [])],
    }
    arr = ds.pixel_array
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if "SegmentSequence" in ds:
        seg = ds.SegmentSequence[0]
        out["segmentationType"] = str(ds.SegmentationType)
        out["segment"] = {
            "number": int(seg.SegmentNumber),
            "label": str(seg.SegmentLabel),
            "category": code(seg.SegmentedPropertyCategoryCodeSequence),
            "type": code(seg.SegmentedPropertyTypeCodeSequence),
        }
        out["ones"] = [int(i) for i in np.flatnonzero(arr.reshape(-1))]
    else:
        rwvm = shared.RealWorldValueMappingSequence[0]
        values = arr.astype(np.float64) * float(rwvm.RealWorldValueSlope) + float(rwvm.RealWorldValueIntercept)
        out["rwvm"] = {
            "slope": float(rwvm.RealWorldValueSlope),
            "intercept": float(rwvm.RealWorldValueIntercept),
            "units": code(rwvm.MeasurementUnitsCodeSequence),
            "label": str(rwvm.LUTLabel),
            "first": float(rwvm.DoubleFloatRealWorldValueFirstValueMapped),
            "last": float(rwvm.DoubleFloatRealWorldValueLastValueMapped),
        }
        out["dtype"] = str(arr.dtype)
        out["values"] = [float(x) for x in values.reshape(-1)]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
