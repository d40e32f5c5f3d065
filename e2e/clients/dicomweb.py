"""Drive ohi's DICOMweb routes with Python requests, signed by botocore's
SigV4Auth (service medical-imaging), as AWS's HealthImaging samples do.

Environment: OHI_ENDPOINT, OHI_DATASTORE_ID, OHI_STOW_FILE (one DICOM file
to store), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.
Prints one JSON summary line; exits 1 with a message on a failed check.
"""

import json
import os
import sys

import botocore.session
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest


def fail(msg):
    sys.stderr.write(f"dicomweb.py: {msg}\n")
    sys.exit(1)


creds = botocore.session.get_session().get_credentials()
region = os.environ["AWS_REGION"]
base = f"{os.environ['OHI_ENDPOINT']}/datastore/{os.environ['OHI_DATASTORE_ID']}"


def call(method, path, headers=None, data=None):
    req = AWSRequest(method=method, url=base + path, headers=headers or {}, data=data)
    SigV4Auth(creds, "medical-imaging", region).add_auth(req)
    p = req.prepare()
    r = requests.request(method, p.url, headers=dict(p.headers), data=data, timeout=60)
    return r


def value(ds, tag):
    return ds.get(tag, {}).get("Value", [None])[0]


with open(os.environ["OHI_STOW_FILE"], "rb") as f:
    body = f.read()
r = call("POST", "/studies", {"Content-Type": "application/dicom", "Accept": "application/dicom+json"}, body)
if r.status_code != 200:
    fail(f"STOW: {r.status_code} {r.text[:300]}")
ref = r.json()["00081199"]["Value"][0]
sop = value(ref, "00081155")
url = value(ref, "00081190")
path = url.split("/datastore/", 1)[1].split("/", 1)[1]
r = call("GET", "/studies?PatientID=" + requests.utils.quote("PY0001"))
if r.status_code != 200 or len(r.json()) != 1:
    fail(f"QIDO: {r.status_code} {r.text[:300]}")
study = value(r.json()[0], "0020000D")
r = call("GET", "/" + path + "/metadata", {"Accept": "application/dicom+json"})
if r.status_code != 200 or value(r.json()[0], "00080018") != sop:
    fail(f"metadata: {r.status_code} {r.text[:300]}")
rows, cols = value(r.json()[0], "00280010"), value(r.json()[0], "00280011")
r = call("GET", "/" + path + "/frames/1", {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'})
if r.status_code != 200 or "multipart/related" not in r.headers.get("Content-Type", ""):
    fail(f"frames: {r.status_code} {r.headers.get('Content-Type')}")
frames_len = len(r.content)
r = call("GET", "/" + path, {"Accept": "application/dicom; transfer-syntax=*"})
if r.status_code != 200 or r.content[128:132] != b"DICM":
    fail(f"instance: {r.status_code} {r.text[:200]}")
bad = call("GET", "/" + path + "/frames/1", {"Accept": 'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50'})
print(json.dumps({"ok": True, "client": "requests+botocore", "botocore": botocore.__version__, "sop": sop, "study": study,
                  "rows": rows, "columns": cols, "framesResponseBytes": frames_len, "instanceBytes": len(r.content),
                  "jpegStatus": bad.status_code, "jpegMessage": bad.json().get("message", "")}))
