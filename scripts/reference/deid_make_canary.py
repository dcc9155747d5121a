#!/usr/bin/python3
"""Makes the privacy canary for raddiff's hardening tests with pydicom (an independent writer):
fixtures/demo/mr-mosaic.dcm with its patient, study and private identifiers replaced by unique
canary strings, plus a copy truncated just after the patient module. The canary strings go to
tests/reference/canary.json; the tests grep every log line, body, row and output for them.

Usage: /usr/bin/python3 scripts/reference/deid_make_canary.py
"""
import io
import json
import os

import pydicom
from pydicom.dataset import Dataset

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SRC = os.path.join(ROOT, "fixtures", "demo", "mr-mosaic.dcm")
OUT = os.path.join(ROOT, "fixtures", "hardening")
CANARY = {
    "PatientName": "CANARYQX^ZEBULON",
    "PatientID": "CANARYID8842QX",
    "PatientBirthDate": "18720229",
    "InstitutionName": "CANARY INSTITUTE QX7",
    "ReferringPhysicianName": "CANARYREF^DOCQX",
    "AccessionNumber": "CANACC9931QX",
    "privateCreator": "CANARYCREATOR QX7",
    "privateValue": "CANARYPRIVATE-QX7",
}


def encode(ds):
    buf = io.BytesIO()
    ds.save_as(buf, write_like_original=False)
    return buf.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)
    ds = pydicom.dcmread(SRC)
    for k in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "ReferringPhysicianName", "AccessionNumber"):
        setattr(ds, k, CANARY[k])
    ds.add_new((0x0009, 0x0010), "LO", CANARY["privateCreator"])
    ds.add_new((0x0009, 0x1001), "LO", CANARY["privateValue"])
    full = encode(ds)
    with open(os.path.join(OUT, "canary-mosaic.dcm"), "wb") as f:
        f.write(full)
    # pydicom writes elements in tag order, so the bytes of the dataset's groups <= 0x0010 are a
    # prefix of the full file: cutting 40 bytes past that prefix ends the file just after the patient module.
    head = Dataset()
    head.file_meta = ds.file_meta
    head.preamble = ds.preamble
    for el in ds:
        if el.tag.group <= 0x0010:
            head.add(el)
    cut = len(encode(head)) + 40
    assert full[: cut - 40] == encode(head)
    with open(os.path.join(OUT, "canary-broken.dcm"), "wb") as f:
        f.write(full[:cut])
    with open(os.path.join(ROOT, "tests", "reference", "canary.json"), "w") as f:
        json.dump({"strings": CANARY, "sourceUIDs": {
            "study": str(ds.StudyInstanceUID), "series": str(ds.SeriesInstanceUID),
            "frameOfReference": str(ds.FrameOfReferenceUID), "sopInstance": str(ds.SOPInstanceUID)},
            "brokenBytes": cut, "fullBytes": len(full)}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
