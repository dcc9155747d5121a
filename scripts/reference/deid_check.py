#!/usr/bin/python3
"""Peer check of raddiff's de-identified DICOM output, read with pydicom: walks every element of
every file (sequences included) and reports which canary strings remain, private tags, the UIDs
per file and the de-identification attributes, as JSON.

Usage: /usr/bin/python3 scripts/reference/deid_check.py FOLDER tests/reference/canary.json
"""
import json
import os
import sys

import pydicom


def texts(ds, out):
    for el in ds:
        if el.VR == "SQ":
            for item in el.value:
                texts(item, out)
        elif el.VR not in ("OB", "OW", "OF", "OD", "UN") or el.tag.group == 0x0009:
            out.append(str(el.value))


def private_tags(ds):
    n = 0
    for el in ds:
        if el.tag.is_private:
            n += 1
        if el.VR == "SQ":
            n += sum(private_tags(i) for i in el.value)
    return n


def main(folder, canary_path):
    canary = json.load(open(canary_path))
    strings = list(canary["strings"].values())
    files = []
    for name in sorted(os.listdir(folder)):
        ds = pydicom.dcmread(os.path.join(folder, name))
        found = []
        t = []
        texts(ds, t)
        t += [str(v) for v in ds.file_meta.values()]
        raw = open(os.path.join(folder, name), "rb").read()
        for s in strings:
            if any(s in x for x in t) or s.encode() in raw:
                found.append(s)
        seq = ds.get("DeidentificationMethodCodeSequence", [])
        files.append({
            "name": name,
            "found": found,
            "privateTags": private_tags(ds),
            "patientName": str(ds.get("PatientName", "")),
            "patientID": str(ds.get("PatientID", "")),
            "birthDate": str(ds.get("PatientBirthDate", "")),
            "studyUID": str(ds.StudyInstanceUID),
            "seriesUID": str(ds.SeriesInstanceUID),
            "sopUID": str(ds.SOPInstanceUID),
            "mediaSopUID": str(ds.file_meta.MediaStorageSOPInstanceUID),
            "frameOfReferenceUID": str(ds.get("FrameOfReferenceUID", "")),
            "relatedSeriesUIDs": [str(i.SeriesInstanceUID) for i in ds.get("RelatedSeriesSequence", [])],
            "referencedSOPs": [str(i.ReferencedSOPInstanceUID) for i in ds.get("SourceImageSequence", [])],
            "patientIdentityRemoved": str(ds.get("PatientIdentityRemoved", "")),
            "longitudinal": str(ds.get("LongitudinalTemporalInformationModified", "")),
            "methodCodes": [[str(i.CodeValue), str(i.CodingSchemeDesignator)] for i in seq],
            "dates": [str(ds.get(k, "")) for k in ("StudyDate", "SeriesDate", "ContentDate", "InstanceCreationDate", "AcquisitionDate")],
        })
    print(json.dumps(files))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
