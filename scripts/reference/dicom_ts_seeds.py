"""Makes the uncompressed seeds of the transfer-syntax matrix (fixtures/dicom/ts-matrix/seeds):
small synthetic images, one per pixel format, written by pydicom as Explicit VR Little Endian.
tests/io/dicom/ts-matrix.test.ts compresses each one with dcmtk and GDCM at test time.

Each seed holds a smooth ramp plus noise (so predictors and wavelets see real structure) and the
two ends of its stored range at fixed places, side by side, at the first pixel and at row
starts: JPEG Lossless predicts from the left / upper neighbour and from 2^(P-1) at the first
pixel, so differences of a whole range are where sign and modulo handling go wrong.

A few compressed files are kept in fixtures/dicom/ts-matrix/sample (with --sample, needs dcmtk),
so the two decode faults of issue #16 stay covered where dcmtk / GDCM are not installed:
each NAME.dcm there is compressed from NAME.orig.dcm.

Run: /usr/bin/python3 scripts/reference/dicom_ts_seeds.py [--sample]
"""
import subprocess
import sys
import os
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, 'fixtures', 'dicom', 'ts-matrix', 'seeds')
SC = '1.2.840.10008.5.1.4.1.1.7'          # Secondary Capture
MF_WORD = '1.2.840.10008.5.1.4.1.1.7.3'   # Multi-frame Grayscale Word SC
CR = '1.2.840.10008.5.1.4.1.1.1'          # Computed Radiography
CT = '1.2.840.10008.5.1.4.1.1.2'

# name, photometric, bits allocated, bits stored, signed, rows, columns, frames, samples, planar, sop class, modality
SEEDS = [
    ('mono2-u8', 'MONOCHROME2', 8, 8, 0, 29, 37, 1, 1, 0, SC, 'OT'),
    ('mono1-u8', 'MONOCHROME1', 8, 8, 0, 23, 31, 1, 1, 0, CR, 'CR'),
    ('mono1-u16-10', 'MONOCHROME1', 16, 10, 0, 27, 41, 1, 1, 0, CR, 'CR'),
    ('mono2-u16-12', 'MONOCHROME2', 16, 12, 0, 31, 33, 1, 1, 0, SC, 'OT'),
    ('mono2-s16-12', 'MONOCHROME2', 16, 12, 1, 31, 45, 1, 1, 0, CT, 'CT'),
    ('mono2-u16-16', 'MONOCHROME2', 16, 16, 0, 25, 35, 1, 1, 0, SC, 'OT'),
    ('mono2-s16-16', 'MONOCHROME2', 16, 16, 1, 21, 39, 1, 1, 0, CT, 'CT'),
    ('rgb-u8-planar0', 'RGB', 8, 8, 0, 19, 31, 1, 3, 0, SC, 'OT'),
    ('rgb-u8-planar1', 'RGB', 8, 8, 0, 21, 27, 1, 3, 1, SC, 'OT'),
    ('mf-mono2-u16-12', 'MONOCHROME2', 16, 12, 0, 17, 23, 3, 1, 0, MF_WORD, 'OT'),
]


def pixels(rng, bits, signed, rows, cols, frames, samples):
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    y, x = np.mgrid[0:rows, 0:cols]
    out = np.empty((frames, rows, cols, samples), dtype=np.int64)
    for f in range(frames):
        for s in range(samples):
            ramp = lo + (hi - lo) * (0.15 + 0.7 * ((x + 2 * y + 7 * f + 11 * s) % (rows + cols)) / (rows + cols))
            noise = rng.normal(0, (hi - lo) * 0.02, (rows, cols))
            out[f, :, :, s] = np.clip(np.round(ramp + noise), lo, hi)
        c = out[f, :, :, :]
        c[0, 0], c[0, 1], c[0, 2] = lo, hi, lo      # first pixel and its neighbours: whole-range jumps
        c[1, 0], c[2, 0] = hi, lo                    # row starts predict from above
        c[rows - 1, cols - 1], c[rows - 1, cols - 2] = hi, lo
        c[rows // 2, cols // 2 : cols // 2 + 3] = [[lo] * samples, [hi] * samples, [lo] * samples]
    return out, lo, hi


def write(rng, name, photometric, ba, bs, signed, rows, cols, frames, samples, planar, sop, modality):
    arr, lo, hi = pixels(rng, bs, signed, rows, cols, frames, samples)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[name, 'sop'])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b'\0' * 128)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID, ds.SOPInstanceUID = sop, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = pydicom.uid.generate_uid(entropy_srcs=['raddiff-ts-matrix'])
    ds.SeriesInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[name, 'series'])
    ds.Modality = modality
    ds.PatientName, ds.PatientID = 'Synthetic^Seed', 'SEED'
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = planar
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = ba, bs, bs - 1, signed
    ds.PixelSpacing = [0.5, 0.75]
    if frames == 1:
        # oblique, so that writers' geometry (NIfTI sform, NRRD space directions) is tested too
        ds.ImageOrientationPatient = [0.96592583, 0.25881905, 0, -0.25881905, 0.96592583, 0]
        ds.ImagePositionPatient = [-12.5, 30.25, 4.0]
        ds.SliceThickness = 2.0
    dtype = {(8, 0): np.uint8, (16, 0): np.uint16, (16, 1): np.int16}[(ba, signed)]
    a = arr.astype(dtype)
    if samples > 1 and planar == 1:
        a = a.transpose(0, 3, 1, 2)                  # frame, sample, row, column
    ds.PixelData = a.tobytes()
    ds.save_as(os.path.join(OUT, name + '.dcm'), write_like_original=False)


def corner_ct(path):
    """A signed 12-bit CT whose JPEG Lossless SV1 stream (dcmcjpeg 3.6.7) ends with the last
    Huffman code flush against EOI: jpeg-lossless-decoder-js left that pixel (−2048) at 0.
    Found by encoding random images; kept as data because it depends on the encoder's tables."""
    src = pydicom.dcmread(os.path.join(OUT, 'mono2-s16-12.dcm'))
    rng = np.random.default_rng(4)
    r, c = rng.integers(2, 40, 2)
    mode = rng.integers(0, 3)
    if mode == 0:
        a = rng.integers(-2048, 2048, (r, c))
    elif mode == 1:
        a = rng.choice([-2048, 2047, -1, 0, 1, -2047, 2046], (r, c))
    else:
        a = np.clip(np.cumsum(rng.integers(-300, 300, (r, c)), 1) - 2048, -2048, 2047)
    src.Rows, src.Columns = int(r), int(c)
    src.PixelData = a.astype('<i2').tobytes()
    src.save_as(path)


def sample():
    out = os.path.join(os.path.dirname(OUT), 'sample')
    os.makedirs(out, exist_ok=True)
    made = []
    def keep(name, seed_file, argv):
        orig = os.path.join(out, name + '.orig.dcm')
        if seed_file != orig:
            subprocess.run(['cp', seed_file, orig], check=True)
        subprocess.run(argv + [orig, os.path.join(out, name + '.dcm')], check=True)
        made.append(name)
    corner_ct(os.path.join(out, 'ct-s16-12-eoi__dcmtk-jpeg-sv1.orig.dcm'))
    keep('ct-s16-12-eoi__dcmtk-jpeg-sv1', os.path.join(out, 'ct-s16-12-eoi__dcmtk-jpeg-sv1.orig.dcm'), ['dcmcjpeg', '+e1'])
    keep('mono2-u16-16__dcmtk-jpeg-p14-sv7', os.path.join(OUT, 'mono2-u16-16.dcm'), ['dcmcjpeg', '+el', '+sv', '7'])
    keep('mono1-u16-10__dcmtk-rle', os.path.join(OUT, 'mono1-u16-10.dcm'), ['dcmcrle'])
    keep('mono1-u16-10__gdcm-rle', os.path.join(OUT, 'mono1-u16-10.dcm'), ['gdcmconv', '--rle'])
    print(f'wrote {len(made)} sample pairs to {os.path.relpath(out, ROOT)}')


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(16)
    for s in SEEDS:
        write(rng, *s)
    print(f'wrote {len(SEEDS)} seeds to {os.path.relpath(OUT, ROOT)}')
    if '--sample' in sys.argv:
        sample()
