"""Drive every AWS HealthImaging operation of `ohi serve` with unmodified boto3.

It checks the typed results, paginators and modeled exceptions boto3 hands
back. e2e/boto3_test.go runs it and checks the summary line against the data
it generated.

Environment:
  OHI_ENDPOINT       the server, e.g. http://127.0.0.1:40123 (required)
  OHI_INPUT_S3_URI   import input, e.g. s3://dicom-in/py/ (required)
  OHI_OUTPUT_S3_URI  import output prefix (required)
  OHI_PATIENT_ID     the PatientID of the imported study (required)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION: read by
                     boto3's default credential and region chain.

On success it prints one JSON line (the summary) and exits 0; on any
mismatch it prints "conformance: <what>" to stderr and exits 1.
"""

import datetime
import hashlib
import json
import os
import re
import sys
import time
import urllib.request
import zlib

import boto3
import botocore
import botocore.config
import botocore.exceptions

ID32 = re.compile(r"^[0-9a-z]{32}$")
ROLE_ARN = "arn:aws:iam::123456789012:role/ImportRole"
MAX_METADATA_BYTES = 64 << 20
MAX_FRAME_BYTES = 256 << 20


class Mismatch(Exception):
    """A result that differs from what the API promises."""


def check(cond, msg):
    if not cond:
        raise Mismatch(msg)


def env(name):
    v = os.environ.get(name)
    check(v, f"environment variable {name} is not set")
    return v


def poll(what, fn, timeout=30.0):
    """Call fn every 100 ms until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        check(time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def is_date(v):
    return isinstance(v, datetime.datetime) and v.tzinfo is not None


# inject_host_prefix=False: the model sends image-set operations to
# runtime-<endpoint host>; a custom endpoint needs it off.
CONFIG = botocore.config.Config(
    inject_host_prefix=False,
    retries={"total_max_attempts": 1},
    connect_timeout=10,
    read_timeout=30,
)


def check_request_id(http_response, parsed, model, **_):
    """Every answer, a result or an error, carries a request id."""
    check(parsed.get("ResponseMetadata", {}).get("RequestId"),
          f"{model.name}: HTTP {http_response.status_code} answer without a request id")


def new_client(endpoint, called=None, **creds):
    c = boto3.session.Session(**creds).client("medical-imaging", endpoint_url=endpoint, config=CONFIG)
    c.meta.events.register("after-call.medical-imaging", check_request_id)
    if called is not None:
        c.meta.events.register("before-call.medical-imaging", lambda model, **_: called.add(model.name))
    return c


def expect_error(fn, want_code, want_status, **kwargs):
    """Run a call that must fail with the error code and HTTP status."""
    try:
        fn(**kwargs)
    except botocore.exceptions.ClientError as e:
        err = e
    else:
        raise Mismatch(f"{fn.__name__}: succeeded, want {want_code}")
    code = err.response["Error"]["Code"]
    status = err.response["ResponseMetadata"]["HTTPStatusCode"]
    check(code == want_code, f"{fn.__name__}: error {code} ({err}), want {want_code}")
    check(status == want_status, f"{fn.__name__}: HTTP {status}, want {want_status}")
    check(err.response["Error"].get("Message"), f"{fn.__name__}: {want_code} without a message")
    return err


def main():
    endpoint = env("OHI_ENDPOINT")
    input_uri = env("OHI_INPUT_S3_URI")
    output_uri = env("OHI_OUTPUT_S3_URI")
    patient = env("OHI_PATIENT_ID")
    called = set()
    c = new_client(endpoint, called)
    summary = {"ok": False, "client": "boto3", "sdkVersion": f"boto3 {boto3.__version__} botocore {botocore.__version__}"}

    def read_metadata(ds, image_set, version=None):
        kw = {"versionId": version} if version else {}
        out = c.get_image_set_metadata(datastoreId=ds, imageSetId=image_set, **kw)
        check(out.get("contentType") == "application/json", f"GetImageSetMetadata contentType {out.get('contentType')}")
        check(out.get("contentEncoding") == "gzip", f"GetImageSetMetadata contentEncoding {out.get('contentEncoding')}")
        raw = out["imageSetMetadataBlob"].read(MAX_METADATA_BYTES + 1)
        check(raw[:2] == b"\x1f\x8b", f"GetImageSetMetadata body is not gzip: {raw[:16].hex()}")
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        text = d.decompress(raw, MAX_METADATA_BYTES + 1)
        check(len(text) <= MAX_METADATA_BYTES and d.eof, "metadata is truncated or larger than the limit")
        doc = json.loads(text)
        check(doc.get("SchemaVersion") == "1.1", f"metadata SchemaVersion {doc.get('SchemaVersion')}")
        check(doc.get("DatastoreID") == ds and doc.get("ImageSetID") == image_set, f"metadata IDs {doc.get('DatastoreID')}/{doc.get('ImageSetID')}")
        check("DICOM" in doc.get("Patient", {}) and "DICOM" in doc.get("Study", {}) and "Series" in doc["Study"],
              "metadata lacks the Patient, Study or Series level")
        return doc

    def wait_set(ds, image_set, state, status):
        def done():
            s = c.get_image_set(datastoreId=ds, imageSetId=image_set)
            return s if s["imageSetState"] == state and s.get("imageSetWorkflowStatus") == status else None
        return poll(f"image set {image_set} {state}/{status}", done)

    # AWS's example code lists data stores through the paginator and indexes
    # datastoreSummaries of every page, first on a server with none.
    empty = list(c.get_paginator("list_datastores").paginate())
    check(empty and all(p["datastoreSummaries"] == [] for p in empty), f"ListDatastores on an empty server: {empty}")

    # Data store: create, wait until ACTIVE, list.
    created = c.create_datastore(datastoreName="boto3-e2e", tags={"suite": "boto3"})
    ds = created["datastoreId"]
    check(ID32.match(ds), f"CreateDatastore datastoreId {ds}")
    check(created["datastoreStatus"] in ("CREATING", "ACTIVE"), f"CreateDatastore status {created['datastoreStatus']}")

    def ds_active():
        p = c.get_datastore(datastoreId=ds)["datastoreProperties"]
        check(p["datastoreId"] == ds and p["datastoreName"] == "boto3-e2e", f"GetDatastore {p}")
        return p if p["datastoreStatus"] == "ACTIVE" else None
    ds_props = poll("data store ACTIVE", ds_active)
    check(is_date(ds_props.get("createdAt")), f"GetDatastore createdAt {ds_props.get('createdAt')!r}")
    check(ds_props.get("datastoreArn", "").endswith(f":datastore/{ds}"), f"GetDatastore datastoreArn {ds_props.get('datastoreArn')}")
    listed = c.list_datastores(datastoreStatus="ACTIVE")["datastoreSummaries"]
    check(any(d["datastoreId"] == ds for d in listed), "ListDatastores does not list the new data store")
    paged = [d["datastoreId"] for p in c.get_paginator("list_datastores").paginate() for d in p["datastoreSummaries"]]
    check(paged == [ds], f"ListDatastores paginator {paged}")
    # A presigned URL from botocore (signed with the empty payload's hash).
    presigned = c.generate_presigned_url("list_datastores", ExpiresIn=300)
    with urllib.request.urlopen(presigned, timeout=30) as resp:
        body = json.load(resp)
    check([d["datastoreId"] for d in body["datastoreSummaries"]] == [ds], f"presigned ListDatastores {body}")
    summary["datastoreId"] = ds

    # Import: start, wait until COMPLETED, list.
    started = c.start_dicom_import_job(datastoreId=ds, jobName="boto3-import", dataAccessRoleArn=ROLE_ARN,
                                       inputS3Uri=input_uri, outputS3Uri=output_uri)
    job_id = started["jobId"]
    check(ID32.match(job_id) and started["datastoreId"] == ds, f"StartDICOMImportJob {started}")
    check(started["jobStatus"] == "SUBMITTED" and is_date(started["submittedAt"]), f"StartDICOMImportJob {started}")

    def job_done():
        p = c.get_dicom_import_job(datastoreId=ds, jobId=job_id)["jobProperties"]
        check(p["jobStatus"] != "FAILED", f"import job FAILED: {p.get('message')}")
        return p if p["jobStatus"] == "COMPLETED" else None
    job = poll("import job COMPLETED", job_done)
    check(job.get("jobName") == "boto3-import" and is_date(job.get("endedAt")), f"GetDICOMImportJob {job}")
    check(job["outputS3Uri"] == f"{output_uri}{ds}-DicomImport-{job_id}/", f"GetDICOMImportJob outputS3Uri {job['outputS3Uri']}")
    jobs = c.list_dicom_import_jobs(datastoreId=ds, jobStatus="COMPLETED")["jobSummaries"]
    check(len(jobs) == 1 and jobs[0]["jobId"] == job_id, f"ListDICOMImportJobs {jobs}")
    paged = [j["jobId"] for p in c.get_paginator("list_dicom_import_jobs").paginate(datastoreId=ds) for j in p["jobSummaries"]]
    check(paged == [job_id], f"ListDICOMImportJobs paginator {paged}")
    summary["jobId"] = job_id

    # SearchImageSets: a patient filter sorted by createdAt, one item per page.
    criteria = {
        "filters": [{"operator": "EQUAL", "values": [{"DICOMPatientId": patient}]}],
        "sort": {"sortField": "createdAt", "sortOrder": "ASC"},
    }
    sets, pages = [], 0
    for page in c.get_paginator("search_image_sets").paginate(
            datastoreId=ds, searchCriteria=criteria, PaginationConfig={"PageSize": 1, "MaxItems": 100}):
        pages += 1
        items = page["imageSetsMetadataSummaries"]
        check(len(items) <= 1, f"SearchImageSets page of {len(items)} items with maxResults 1")
        check(page.get("sort") == {"sortField": "createdAt", "sortOrder": "ASC"}, f"SearchImageSets sort {page.get('sort')}")
        sets.extend(items)
    check(sets, f"SearchImageSets found no image set of patient {patient}")
    for i, s in enumerate(sets):
        check(ID32.match(s["imageSetId"]) and s.get("version") == 1 and is_date(s.get("createdAt")), f"SearchImageSets summary {s}")
        check(s.get("DICOMTags", {}).get("DICOMPatientId") == patient, f"SearchImageSets DICOMPatientId {s.get('DICOMTags')}")
        check(i == 0 or sets[i - 1]["createdAt"] <= s["createdAt"], "SearchImageSets results are not in createdAt ASC order")
    check(len({s["imageSetId"] for s in sets}) == len(sets), "SearchImageSets pages repeat an image set")
    none = c.search_image_sets(datastoreId=ds, searchCriteria={
        "filters": [{"operator": "EQUAL", "values": [{"DICOMPatientId": "NOBODY-" + patient}]}]})
    check(none["imageSetsMetadataSummaries"] == [], "SearchImageSets found image sets of an unknown patient")
    summary["searchPages"] = pages
    # The examples' other searches: BETWEEN on study date and time, and on
    # createdAt with datetime values.
    all_ids = sorted(s["imageSetId"] for s in sets)
    for name, flt in {
        "DICOMStudyDateAndTime": {"operator": "BETWEEN", "values": [
            {"DICOMStudyDateAndTime": {"DICOMStudyDate": "19900101", "DICOMStudyTime": "000000"}},
            {"DICOMStudyDateAndTime": {"DICOMStudyDate": "20991231", "DICOMStudyTime": "000000"}}]},
        # naive datetimes, as the examples write them
        "createdAt": {"operator": "BETWEEN", "values": [
            {"createdAt": datetime.datetime(2021, 8, 4, 14, 49, 54, 429000)},
            {"createdAt": datetime.datetime.now() + datetime.timedelta(days=1)}]},
    }.items():
        found = sorted(s["imageSetId"] for p in c.get_paginator("search_image_sets").paginate(
            datastoreId=ds, searchCriteria={"filters": [flt]}) for s in p["imageSetsMetadataSummaries"])
        check(found == all_ids, f"SearchImageSets BETWEEN {name}: {found}, want {all_ids}")
    series0 = sets[0]["DICOMTags"]["DICOMSeriesInstanceUID"]
    found = [s["imageSetId"] for p in c.get_paginator("search_image_sets").paginate(datastoreId=ds, searchCriteria={
        "filters": [
            {"values": [{"updatedAt": datetime.datetime(2021, 8, 4, 14, 49, 54, 429000)},
                        {"updatedAt": datetime.datetime.now() + datetime.timedelta(days=1)}], "operator": "BETWEEN"},
            {"values": [{"DICOMSeriesInstanceUID": series0}], "operator": "EQUAL"}],
        "sort": {"sortOrder": "ASC", "sortField": "updatedAt"}}) for s in p["imageSetsMetadataSummaries"]]
    check(found == [sets[0]["imageSetId"]], f"SearchImageSets BETWEEN updatedAt and EQUAL series: {found}")
    summary["imageSets"] = [{"imageSetId": s["imageSetId"], "seriesInstanceUID": s["DICOMTags"]["DICOMSeriesInstanceUID"]} for s in sets]

    # GetImageSet, GetImageSetMetadata and GetImageFrame of the first set.
    image_set = sets[0]["imageSetId"]
    s = c.get_image_set(datastoreId=ds, imageSetId=image_set, versionId="1")
    check(s["versionId"] == "1" and s["imageSetId"] == image_set, f"GetImageSet versionId 1: {s}")
    s = c.get_image_set(datastoreId=ds, imageSetId=image_set)
    check(s["datastoreId"] == ds and s["imageSetId"] == image_set and s["versionId"] == "1", f"GetImageSet {s}")
    check(s["imageSetState"] == "ACTIVE" and s.get("imageSetWorkflowStatus") == "CREATED", f"GetImageSet {s}")
    set_arn = s.get("imageSetArn")
    check(set_arn == f"{ds_props['datastoreArn']}/imageset/{image_set}", f"GetImageSet imageSetArn {set_arn}")
    check(is_date(s.get("createdAt")) and is_date(s.get("updatedAt")), "GetImageSet timestamps are not dates")
    doc = read_metadata(ds, image_set)
    check(doc["Patient"]["DICOM"].get("PatientID", "").rstrip() == patient, f"metadata PatientID {doc['Patient']['DICOM'].get('PatientID')}")
    series_uids = list(doc["Study"]["Series"])
    check(len(series_uids) == 1, f"metadata of {image_set} has {len(series_uids)} series, want 1")
    series = doc["Study"]["Series"][series_uids[0]]
    frames = []
    for sop, inst in series.get("Instances", {}).items():
        check(inst.get("ImageFrames"), f"instance {sop} has no ImageFrames")
        for f in inst["ImageFrames"]:
            check(ID32.match(f.get("ID", "")), f"instance {sop} frame ID {f.get('ID')}")
            # The examples' pixel verification: the checksum of the widest
            # level is the CRC-32 of the decoded frame; they index the
            # minimum and maximum pixel values too.
            full = max(f["PixelDataChecksumFromBaseToFullResolution"], key=lambda c: c["Width"])
            check(f["MinPixelValue"] <= f["MaxPixelValue"], f"frame {f['ID']} pixel range")
            frames.append((sop, f["ID"], full["Checksum"]))
    check(frames, f"metadata of {image_set} has no instances")
    fr = c.get_image_frame(datastoreId=ds, imageSetId=image_set, imageFrameInformation={"imageFrameId": frames[0][1]})
    check(fr.get("contentType") == "image/jph", f"GetImageFrame contentType {fr.get('contentType')}")
    frame = fr["imageFrameBlob"].read(MAX_FRAME_BYTES + 1)
    check(0 < len(frame) <= MAX_FRAME_BYTES, f"GetImageFrame returned {len(frame)} bytes")
    summary["studyInstanceUID"] = doc["Study"]["DICOM"].get("StudyInstanceUID")
    summary["metadata"] = {"imageSetId": image_set, "seriesInstanceUID": series_uids[0],
                           "instances": len(series["Instances"]), "frames": len(frames)}
    summary["frame"] = {"imageSetId": image_set, "imageFrameId": frames[0][1], "sopInstanceUID": frames[0][0],
                        "bytes": len(frame), "sha256": hashlib.sha256(frame).hexdigest(), "fullResolutionChecksum": frames[0][2]}

    # UpdateImageSetMetadata: the blob member is bytes of JSON.
    description = "BOTO3 UPDATED"

    def enc(v):
        return json.dumps(v).encode()
    upd = c.update_image_set_metadata(datastoreId=ds, imageSetId=image_set, latestVersionId="1", updateImageSetMetadataUpdates={
        "DICOMUpdates": {"updatableAttributes": enc({"SchemaVersion": 1.1, "Study": {"DICOM": {"StudyDescription": description}}})}})
    check(upd["latestVersionId"] == "2" and upd["imageSetState"] == "LOCKED" and upd.get("imageSetWorkflowStatus") == "UPDATING",
          f"UpdateImageSetMetadata {upd}")
    wait_set(ds, image_set, "ACTIVE", "UPDATED")
    updated = read_metadata(ds, image_set)
    check(updated["Study"]["DICOM"].get("StudyDescription") == description,
          f"StudyDescription after the update: {updated['Study']['DICOM'].get('StudyDescription')}")
    v1 = read_metadata(ds, image_set, "1")
    check(v1["Study"]["DICOM"].get("StudyDescription") != description, "version 1 of the metadata shows the update")
    summary["studyDescription"] = description

    # ListImageSetVersions, one version per page.
    versions = []
    for page in c.get_paginator("list_image_set_versions").paginate(
            datastoreId=ds, imageSetId=image_set, PaginationConfig={"PageSize": 1, "MaxItems": 100}):
        versions += [f"{p['versionId']}:{p.get('ImageSetWorkflowStatus')}" for p in page["imageSetPropertiesList"]]
    check(versions == ["2:UPDATED", "1:CREATED"], f"ListImageSetVersions {versions}")
    summary["versions"] = versions

    # Errors boto3 must type: a stale version, a bad update, a missing set,
    # an out-of-range page size, a non-empty data store, a wrong secret.
    errors = {}

    def record(e):
        errors[e.response["Error"]["Code"]] = e.response["ResponseMetadata"]["HTTPStatusCode"]
        return e
    e = record(expect_error(c.update_image_set_metadata, "ConflictException", 409, datastoreId=ds, imageSetId=image_set,
                            latestVersionId="1", updateImageSetMetadataUpdates={"revertToVersionId": "1"}))
    check(isinstance(e, c.exceptions.ConflictException), "boto3 did not type ConflictException as its class")
    e = record(expect_error(c.update_image_set_metadata, "ValidationException", 400, datastoreId=ds, imageSetId=image_set,
                            latestVersionId="2", updateImageSetMetadataUpdates={
                                "DICOMUpdates": {"updatableAttributes": enc({"SchemaVersion": 1.1, "Study": {"DICOM": {"PatientName": "X"}}})}}))
    check(isinstance(e, c.exceptions.ValidationException), "boto3 did not type ValidationException as its class")
    try:
        c.list_datastores(maxResults=51)
        raise Mismatch("ListDatastores maxResults=51 succeeded, want ValidationException")
    except c.exceptions.ValidationException as ve:
        check(ve.response["ResponseMetadata"]["HTTPStatusCode"] == 400, f"ListDatastores maxResults=51: {ve}")
    e = record(expect_error(c.get_image_set, "ResourceNotFoundException", 404, datastoreId=ds, imageSetId="0" * 32))
    check(isinstance(e, c.exceptions.ResourceNotFoundException), "boto3 did not type ResourceNotFoundException as its class")
    e = expect_error(c.delete_datastore, "ConflictException", 409, datastoreId=ds)
    check(isinstance(e, c.exceptions.ConflictException), "boto3 did not type ConflictException as its class")
    wrong = new_client(endpoint, aws_access_key_id=env("AWS_ACCESS_KEY_ID"), aws_secret_access_key="not-the-secret")
    record(expect_error(wrong.get_datastore, "InvalidSignatureException", 403, datastoreId=ds))
    stranger = new_client(endpoint, aws_access_key_id="AKIDUNKNOWNOHIKEY", aws_secret_access_key="x")
    record(expect_error(stranger.list_datastores, "UnrecognizedClientException", 403))
    summary["errors"] = errors

    # CopyImageSet of one instance into a new image set, then DeleteImageSet.
    copiable = {"SchemaVersion": "1.1", "Study": {"Series": {series_uids[0]: {"Instances": {frames[0][0]: {}}}}}}
    cp = c.copy_image_set(datastoreId=ds, sourceImageSetId=image_set, force=False, copyImageSetInformation={
        "sourceImageSet": {"latestVersionId": "2", "DICOMCopies": {"copiableAttributes": json.dumps(copiable)}}})
    dest = cp["destinationImageSetProperties"].get("imageSetId", "")
    check(ID32.match(dest) and dest != image_set, f"CopyImageSet destination {dest}")
    check(cp["sourceImageSetProperties"].get("imageSetWorkflowStatus") == "COPYING_WITH_READ_ONLY_ACCESS"
          and cp["destinationImageSetProperties"].get("imageSetWorkflowStatus") == "COPYING", f"CopyImageSet {cp}")
    wait_set(ds, dest, "ACTIVE", "COPIED")
    wait_set(ds, image_set, "ACTIVE", "UPDATED")
    copied = read_metadata(ds, dest)
    check(list(copied["Study"]["Series"].get(series_uids[0], {}).get("Instances", {})) == [frames[0][0]],
          "the copy does not hold exactly the copied instance")
    # The examples' updates of the copy: a Patient-level attribute given as a
    # JSON string, force false; then the removal of an attribute by key and
    # value.
    u = c.update_image_set_metadata(datastoreId=ds, imageSetId=dest, latestVersionId="1", force=False, updateImageSetMetadataUpdates={
        "DICOMUpdates": {"updatableAttributes": '{"SchemaVersion":1.1,"Patient":{"DICOM":{"PatientName":"Garcia^Gloria"}}}'}})
    check(u["latestVersionId"] == "2", f"UpdateImageSetMetadata of the copy {u}")
    wait_set(ds, dest, "ACTIVE", "UPDATED")
    check(read_metadata(ds, dest)["Patient"]["DICOM"].get("PatientName") == "Garcia^Gloria", "the copy's PatientName was not updated")
    u = c.update_image_set_metadata(datastoreId=ds, imageSetId=dest, latestVersionId="2", force=False, updateImageSetMetadataUpdates={
        "DICOMUpdates": {"removableAttributes": json.dumps({"SchemaVersion": 1.1, "Study": {"DICOM": {"StudyDescription": description}}})}})
    wait_set(ds, dest, "ACTIVE", "UPDATED")
    check("StudyDescription" not in read_metadata(ds, dest)["Study"]["DICOM"], "the copy's StudyDescription was not removed")
    d = c.delete_image_set(datastoreId=ds, imageSetId=dest)
    check(d["imageSetState"] == "LOCKED" and d["imageSetWorkflowStatus"] == "DELETING", f"DeleteImageSet {d}")
    wait_set(ds, dest, "DELETED", "DELETED")
    record(expect_error(c.get_image_set_metadata, "ResourceNotFoundException", 404, datastoreId=ds, imageSetId=dest))
    summary["copy"] = {"imageSetId": dest, "sopInstanceUID": frames[0][0], "deleted": True}

    # Tags on the image set and on the data store.
    c.tag_resource(resourceArn=set_arn, tags={"a": "1", "b": "2 two"})
    tags = c.list_tags_for_resource(resourceArn=set_arn)["tags"]
    check(tags == {"a": "1", "b": "2 two"}, f"tags after TagResource {tags}")
    c.untag_resource(resourceArn=set_arn, tagKeys=["a"])
    tags = c.list_tags_for_resource(resourceArn=set_arn)["tags"]
    check(tags == {"b": "2 two"}, f"tags after UntagResource {tags}")
    c.tag_resource(resourceArn=ds_props["datastoreArn"], tags={"Deployment": "Development"})
    tags = c.list_tags_for_resource(resourceArn=ds_props["datastoreArn"])["tags"]
    check(tags == {"suite": "boto3", "Deployment": "Development"}, f"data store tags after TagResource {tags}")
    c.untag_resource(resourceArn=ds_props["datastoreArn"], tagKeys=["Deployment"])
    tags = c.list_tags_for_resource(resourceArn=ds_props["datastoreArn"])["tags"]
    check(tags == {"suite": "boto3"}, f"data store tags {tags}")
    summary["tags"] = tags

    summary["operations"] = sorted(called)
    summary["ok"] = True
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Mismatch as m:
        print(f"conformance: {m}", file=sys.stderr)
        sys.exit(1)
    except botocore.exceptions.BotoCoreError as e:  # connection, parsing, parameter validation
        print(f"conformance: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    except botocore.exceptions.ClientError as e:
        op = e.operation_name
        print(f"conformance: {op}: {e.response['Error'].get('Code')}: {e} (HTTP {e.response['ResponseMetadata'].get('HTTPStatusCode')})",
              file=sys.stderr)
        sys.exit(1)
