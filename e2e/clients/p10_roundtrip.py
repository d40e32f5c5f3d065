"""Compare DICOM files retrieved with WADO-RS against the files stored.

Usage: p10_roundtrip.py PAIRS.tsv
Each line of PAIRS.tsv is "original<TAB>retrieved<TAB>label<TAB>mode"; mode
"stored" compares attributes only (pydicom has no HTJ2K decoder), "ELE"
attributes and pixels. pydicom reads
both files; every data element of the original (private tags and
sequences included) must be in the retrieved file with an equal value,
except the file meta group (0002) and the pixel data encoding (Pixel Data,
the extended offset table, and PhotometricInterpretation / PlanarConfiguration
when the frames were transcoded). Decoded pixels must be identical when
pydicom can decode the original. Prints one JSON object:
{"files": n, "pixelsCompared": n, "pixelsUndecodable": [...], "problems": [...]}.
"""

import json
import math
import sys

import numpy as np
import pydicom
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009, 0x7FE00001, 0x7FE00002}
PIXEL_ENCODING = {0x00280004, 0x00280006}  # PhotometricInterpretation, PlanarConfiguration


def norm(v):
    if isinstance(v, (MultiValue, list, tuple)):
        return [norm(x) for x in v]
    if isinstance(v, PersonName):
        return str(v)
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, bytes):
        return v.rstrip(b"\x00 ")
    if isinstance(v, str):
        return v.rstrip("\x00 ")
    return v


def compare(a, b, path, problems, top):
    for elem in a:
        tag = int(elem.tag)
        if top and (elem.tag.group == 2 or tag in PIXEL_TAGS or tag in PIXEL_ENCODING):
            continue
        if top and elem.tag.group == 0 and not elem.value:
            continue  # pydicom reads trailing zero padding as (0000,0000)
        where = path + str(elem.tag)
        if elem.tag not in b:
            problems.append(f"{where} {elem.keyword or ''} is missing")
            continue
        other = b[elem.tag]
        if elem.VR == "SQ" or isinstance(elem.value, Sequence):
            if not isinstance(other.value, (Sequence, list)) or len(other.value) != len(elem.value):
                problems.append(f"{where} sequence differs")
                continue
            for i, (x, y) in enumerate(zip(elem.value, other.value)):
                compare(x, y, f"{where}[{i}].", problems, False)
            continue
        try:
            va, vb = norm(elem.value), norm(other.value)
        except Exception as e:  # noqa: BLE001 - report any value pydicom cannot convert
            problems.append(f"{where}: cannot read the value: {e}")
            continue
        if va != vb:
            # A private element the original wrote as UN and the copy types
            # (or the reverse): compare the encoded bytes.
            if elem.VR == "UN" or other.VR == "UN":
                ra = elem.value if isinstance(elem.value, bytes) else None
                rb = other.value if isinstance(other.value, bytes) else None
                if ra is None or rb is None or ra.rstrip(b"\x00 ") != rb.rstrip(b"\x00 "):
                    if ra is not None or rb is not None:
                        continue  # one side decoded by a private dictionary
                    problems.append(f"{where} differs: {va!r:.80} != {vb!r:.80}")
                continue
            problems.append(f"{where} {elem.keyword or ''} differs: {va!r:.80} != {vb!r:.80}")
    for elem in b:
        if top and (elem.tag.group == 2 or int(elem.tag) in PIXEL_TAGS or int(elem.tag) in PIXEL_ENCODING):
            continue
        if elem.tag not in a:
            problems.append(f"{path}{elem.tag} {elem.keyword or ''} was added")


def main():
    out = {"files": 0, "pixelsCompared": 0, "pixelsUndecodable": [], "problems": []}
    with open(sys.argv[1]) as f:
        pairs = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for orig, got, label, mode in pairs:
        out["files"] += 1
        problems = []
        try:
            a = pydicom.dcmread(orig, force=True)
            b = pydicom.dcmread(got)
        except Exception as e:  # noqa: BLE001
            out["problems"].append(f"{label}: cannot read: {e}")
            continue
        compare(a, b, "", problems, True)
        if mode == "ELE" and any(t in a for t in (0x7FE00010, 0x7FE00008, 0x7FE00009)):
            try:
                pa = a.pixel_array
            except Exception as e:  # noqa: BLE001 - pydicom lacks a decoder
                out["pixelsUndecodable"].append(f"{label}: {type(e).__name__}: {str(e)[:80]}")
                pa = None
            if pa is not None:
                try:
                    pb = b.pixel_array
                    if pa.shape != pb.shape or not np.array_equal(pa, pb):
                        # A YBR original decoded to RGB by pydicom's JPEG
                        # handlers and kept as YBR (or the reverse) is not a
                        # pixel difference of the stored data.
                        problems.append(f"pixels differ: {pa.shape} {pa.dtype} vs {pb.shape} {pb.dtype} "
                                        f"({a.get('PhotometricInterpretation')} vs {b.get('PhotometricInterpretation')})")
                    out["pixelsCompared"] += 1
                except Exception as e:  # noqa: BLE001
                    problems.append(f"retrieved pixels do not decode: {e}")
        for p in problems[:10]:
            out["problems"].append(f"{label}: {p}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
