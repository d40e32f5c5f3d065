// Drives every AWS HealthImaging operation of `ohi serve` with the unmodified
// AWS SDK for JavaScript v3 (@aws-sdk/client-medical-imaging) and checks the
// typed results and errors the SDK hands back. e2e/sdkjs_test.go runs it and
// checks the summary line against the data it generated.
//
// Environment:
//   OHI_ENDPOINT         the server, e.g. http://127.0.0.1:40123 (required)
//   OHI_INPUT_S3_URI     import input, e.g. s3://dicom-in/js/ (required)
//   OHI_OUTPUT_S3_URI    import output prefix (required)
//   OHI_PATIENT_ID       the PatientID of the imported study (required)
//   OHI_SDKJS_PREFIX     the directory where `npm ci` installed this
//                        directory's package.json (default: this directory)
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION: read by the SDK's
//                        default credential and region chain.
//
// On success it prints one JSON line (the summary) and exits 0; on any
// mismatch it prints "conformance: <what>" to stderr and exits 1.

import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { gunzipSync } from "node:zlib";

const env = (name) => {
  const v = process.env[name];
  if (!v) fail(`environment variable ${name} is not set`);
  return v;
};

function fail(msg) {
  process.stderr.write(`conformance: ${msg}\n`);
  process.exit(1);
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

// An error no check anticipated (a paginator's failed call, a connection
// error) ends the run the same way.
process.on("uncaughtException", (err) => {
  fail(`unexpected ${err?.name}: ${err?.message} (HTTP ${err?.$metadata?.httpStatusCode})\n${err?.stack}`);
});

const prefix = process.env.OHI_SDKJS_PREFIX;
const require = createRequire(prefix ? path.join(path.resolve(prefix), "package.json") : import.meta.url);
const mi = require("@aws-sdk/client-medical-imaging");
const sdkVersion = require("@aws-sdk/client-medical-imaging/package.json").version;

const endpoint = env("OHI_ENDPOINT");
const inputS3Uri = env("OHI_INPUT_S3_URI");
const outputS3Uri = env("OHI_OUTPUT_S3_URI");
const patientId = env("OHI_PATIENT_ID");
const roleArn = "arn:aws:iam::123456789012:role/ImportRole";
const ID32 = /^[0-9a-z]{32}$/;
const maxMetadataBytes = 64 << 20;
const callTimeoutMs = 30_000;

// disableHostPrefix: the model sends image-set operations to
// runtime-<endpoint host>; a custom endpoint needs it off.
const clientConfig = { endpoint, disableHostPrefix: true, maxAttempts: 1 };
const client = new mi.MedicalImagingClient(clientConfig);

const called = new Set();

// send runs one command, recording its operation name and checking that
// the answer, a result or an error, carries a request id.
async function send(command, c = client) {
  const op = command.constructor.name.replace(/Command$/, "");
  called.add(op);
  let out;
  try {
    out = await c.send(command, { abortSignal: AbortSignal.timeout(callTimeoutMs) });
  } catch (err) {
    if (err.$metadata?.httpStatusCode) check(err.$metadata.requestId, `${op}: ${err.name} without a request id`);
    throw err;
  }
  check(out.$metadata?.requestId, `${op}: result without a request id`);
  return out;
}

// call is send with the operation named in a failure.
async function call(command, c = client) {
  try {
    return await send(command, c);
  } catch (err) {
    fail(`${command.constructor.name}: ${err.name}: ${err.message} (HTTP ${err.$metadata?.httpStatusCode})`);
  }
}

// expectError runs a command that must fail with the given error name and
// HTTP status; it returns the error.
async function expectError(command, wantName, wantStatus, c = client) {
  let err;
  try {
    await send(command, c);
  } catch (e) {
    err = e;
  }
  const op = command.constructor.name;
  check(err, `${op}: succeeded, want ${wantName}`);
  check(err.name === wantName, `${op}: error ${err.name} (${err.message}), want ${wantName}`);
  check(err.$metadata?.httpStatusCode === wantStatus, `${op}: HTTP ${err.$metadata?.httpStatusCode}, want ${wantStatus}`);
  check(err.$fault === (wantStatus >= 500 ? "server" : "client"), `${op}: $fault ${err.$fault}`);
  check(typeof err.message === "string" && err.message.length > 0, `${op}: ${wantName} without a message`);
  return err;
}

// poll calls fn every 100 ms until it returns a truthy value, for at most
// timeoutMs.
async function poll(what, fn, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    check(Date.now() < deadline, `timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function isDate(v) {
  return v instanceof Date && !Number.isNaN(v.getTime());
}

// readMetadata returns the parsed metadata document of an image set.
async function readMetadata(datastoreId, imageSetId, versionId) {
  const out = await call(new mi.GetImageSetMetadataCommand({ datastoreId, imageSetId, versionId }));
  check(out.contentType === "application/json", `GetImageSetMetadata contentType ${out.contentType}`);
  check(out.contentEncoding === "gzip", `GetImageSetMetadata contentEncoding ${out.contentEncoding}`);
  const raw = Buffer.from(await out.imageSetMetadataBlob.transformToByteArray());
  check(raw.length > 2 && raw[0] === 0x1f && raw[1] === 0x8b, `GetImageSetMetadata body is not gzip: ${raw.subarray(0, 16).toString("hex")}`);
  const doc = JSON.parse(gunzipSync(raw, { maxOutputLength: maxMetadataBytes }).toString("utf8"));
  check(doc.SchemaVersion === "1.1", `metadata SchemaVersion ${doc.SchemaVersion}`);
  check(doc.DatastoreID === datastoreId && doc.ImageSetID === imageSetId, `metadata IDs ${doc.DatastoreID}/${doc.ImageSetID}`);
  check(doc.Patient?.DICOM && doc.Study?.DICOM && doc.Study?.Series, "metadata lacks the Patient, Study or Series level");
  return doc;
}

// getSet returns GetImageSet's output.
const getSet = (datastoreId, imageSetId) => call(new mi.GetImageSetCommand({ datastoreId, imageSetId }));

// waitSet polls GetImageSet until the image set has state and status.
const waitSet = (datastoreId, imageSetId, state, status) =>
  poll(`image set ${imageSetId} ${state}/${status}`, async () => {
    const s = await getSet(datastoreId, imageSetId);
    return s.imageSetState === state && s.imageSetWorkflowStatus === status && s;
  });

const summary = { ok: false, client: "aws-sdk-js", sdkVersion };

// AWS's hello example destructures datastoreSummaries of a bare
// ListDatastores and maps it, first on a server with no data stores; its
// list action pages through paginateListDatastores.
const { datastoreSummaries: noStores } = await call(new mi.ListDatastoresCommand({}));
check(Array.isArray(noStores) && noStores.map((d) => d.datastoreName).length === 0, `ListDatastores on an empty server: ${JSON.stringify(noStores)}`);
const pagedIds = async (paginate, input, member, id) => {
  const ids = [];
  for await (const page of paginate({ client, pageSize: 1 }, input)) {
    check(Array.isArray(page[member]), `${member} is not a list: ${JSON.stringify(page)}`);
    ids.push(...page[member].map((x) => x[id]));
    check(ids.length <= 100, `${member}: more than 100 items`);
  }
  return ids;
};
check((await pagedIds(mi.paginateListDatastores, {}, "datastoreSummaries", "datastoreId")).length === 0, "paginateListDatastores on an empty server");

// Data store: create, wait until ACTIVE, list.
const created = await call(new mi.CreateDatastoreCommand({ datastoreName: "sdkjs-e2e", tags: { suite: "sdkjs" } }));
const ds = created.datastoreId;
check(ID32.test(ds ?? ""), `CreateDatastore datastoreId ${ds}`);
check(["CREATING", "ACTIVE"].includes(created.datastoreStatus), `CreateDatastore status ${created.datastoreStatus}`);
const dsProps = await poll("data store ACTIVE", async () => {
  const p = (await call(new mi.GetDatastoreCommand({ datastoreId: ds }))).datastoreProperties;
  check(p.datastoreId === ds && p.datastoreName === "sdkjs-e2e", `GetDatastore ${JSON.stringify(p)}`);
  return p.datastoreStatus === "ACTIVE" && p;
});
check(isDate(dsProps.createdAt), `GetDatastore createdAt ${dsProps.createdAt}`);
check(dsProps.datastoreArn?.endsWith(`:datastore/${ds}`), `GetDatastore datastoreArn ${dsProps.datastoreArn}`);
const listed = await call(new mi.ListDatastoresCommand({ datastoreStatus: "ACTIVE" }));
check(listed.datastoreSummaries.some((d) => d.datastoreId === ds), "ListDatastores does not list the new data store");
check((await pagedIds(mi.paginateListDatastores, {}, "datastoreSummaries", "datastoreId")).join() === ds, "paginateListDatastores does not list the new data store");
summary.datastoreId = ds;

// Import: start, wait until COMPLETED, list.
const started = await call(new mi.StartDICOMImportJobCommand({
  datastoreId: ds, jobName: "sdkjs-import", dataAccessRoleArn: roleArn, inputS3Uri, outputS3Uri,
}));
const jobId = started.jobId;
check(ID32.test(jobId ?? "") && started.datastoreId === ds, `StartDICOMImportJob ${JSON.stringify(started)}`);
check(started.jobStatus === "SUBMITTED" && isDate(started.submittedAt), `StartDICOMImportJob status ${started.jobStatus}, submittedAt ${started.submittedAt}`);
const job = await poll("import job COMPLETED", async () => {
  const p = (await call(new mi.GetDICOMImportJobCommand({ datastoreId: ds, jobId }))).jobProperties;
  check(p.jobStatus !== "FAILED", `import job FAILED: ${p.message}`);
  return p.jobStatus === "COMPLETED" && p;
});
check(job.jobName === "sdkjs-import" && isDate(job.endedAt), `GetDICOMImportJob ${JSON.stringify(job)}`);
check(job.outputS3Uri === `${outputS3Uri}${ds}-DicomImport-${jobId}/`, `GetDICOMImportJob outputS3Uri ${job.outputS3Uri}`);
const jobs = await call(new mi.ListDICOMImportJobsCommand({ datastoreId: ds, jobStatus: "COMPLETED" }));
check(jobs.jobSummaries.length === 1 && jobs.jobSummaries[0].jobId === jobId, `ListDICOMImportJobs ${JSON.stringify(jobs.jobSummaries)}`);
check((await pagedIds(mi.paginateListDICOMImportJobs, { datastoreId: ds }, "jobSummaries", "jobId")).join() === jobId, "paginateListDICOMImportJobs does not list the job");
summary.jobId = jobId;

// SearchImageSets: a patient filter sorted by createdAt, one item per page.
const criteria = {
  filters: [{ operator: "EQUAL", values: [{ DICOMPatientId: patientId }] }],
  sort: { sortField: "createdAt", sortOrder: "ASC" },
};
const sets = [];
let pages = 0;
called.add("SearchImageSets");
for await (const page of mi.paginateSearchImageSets({ client, pageSize: 1 }, { datastoreId: ds, searchCriteria: criteria })) {
  check(++pages <= 100, "SearchImageSets: more than 100 pages");
  check(page.imageSetsMetadataSummaries.length <= 1, `SearchImageSets page of ${page.imageSetsMetadataSummaries.length} items with maxResults 1`);
  check(page.sort?.sortField === "createdAt" && page.sort?.sortOrder === "ASC", `SearchImageSets sort ${JSON.stringify(page.sort)}`);
  sets.push(...page.imageSetsMetadataSummaries);
}
check(sets.length > 0, `SearchImageSets found no image set of patient ${patientId}`);
for (let i = 0; i < sets.length; i++) {
  const s = sets[i];
  check(ID32.test(s.imageSetId) && s.version === 1 && isDate(s.createdAt), `SearchImageSets summary ${JSON.stringify(s)}`);
  check(s.DICOMTags?.DICOMPatientId === patientId, `SearchImageSets DICOMPatientId ${s.DICOMTags?.DICOMPatientId}`);
  check(i === 0 || sets[i - 1].createdAt <= s.createdAt, "SearchImageSets results are not in createdAt ASC order");
}
check(new Set(sets.map((s) => s.imageSetId)).size === sets.length, "SearchImageSets pages repeat an image set");
const none = await call(new mi.SearchImageSetsCommand({
  datastoreId: ds, searchCriteria: { filters: [{ operator: "EQUAL", values: [{ DICOMPatientId: "NOBODY-" + patientId }] }] },
}));
check(none.imageSetsMetadataSummaries.length === 0, "SearchImageSets found image sets of an unknown patient");
summary.searchPages = pages;
summary.imageSets = sets.map((s) => ({ imageSetId: s.imageSetId, seriesInstanceUID: s.DICOMTags.DICOMSeriesInstanceUID }));

// GetImageSet, GetImageSetMetadata and GetImageFrame of the first set.
const is = sets[0].imageSetId;
const set = await getSet(ds, is);
check(set.datastoreId === ds && set.imageSetId === is && set.versionId === "1", `GetImageSet ${JSON.stringify(set)}`);
check(set.imageSetState === "ACTIVE" && set.imageSetWorkflowStatus === "CREATED", `GetImageSet state ${set.imageSetState}/${set.imageSetWorkflowStatus}`);
check(set.imageSetArn === `${dsProps.datastoreArn}/imageset/${is}`, `GetImageSet imageSetArn ${set.imageSetArn}`);
check(isDate(set.createdAt) && isDate(set.updatedAt), "GetImageSet timestamps are not dates");
const doc = await readMetadata(ds, is);
check(doc.Patient.DICOM.PatientID?.trimEnd() === patientId, `metadata PatientID ${doc.Patient.DICOM.PatientID}`);
const seriesUIDs = Object.keys(doc.Study.Series);
check(seriesUIDs.length === 1, `metadata of ${is} has ${seriesUIDs.length} series, want 1`);
const series = doc.Study.Series[seriesUIDs[0]];
const frames = [];
for (const [sop, inst] of Object.entries(series.Instances ?? {})) {
  check(Array.isArray(inst.ImageFrames) && inst.ImageFrames.length > 0, `instance ${sop} has no ImageFrames`);
  for (const f of inst.ImageFrames) {
    check(ID32.test(f.ID ?? ""), `instance ${sop} frame ID ${f.ID}`);
    // The pixel-data verification example compares the CRC-32 of the decoded
    // frame with the last (full resolution) checksum.
    const sums = f.PixelDataChecksumFromBaseToFullResolution;
    check(Array.isArray(sums) && sums.length > 0, `frame ${f.ID} has no checksums`);
    frames.push({ sop, id: f.ID, fullResolutionChecksum: sums[sums.length - 1].Checksum });
  }
}
check(frames.length > 0, `metadata of ${is} has no instances`);
const frameOut = await call(new mi.GetImageFrameCommand({ datastoreId: ds, imageSetId: is, imageFrameInformation: { imageFrameId: frames[0].id } }));
check(frameOut.contentType === "image/jph", `GetImageFrame contentType ${frameOut.contentType}`);
const frame = Buffer.from(await frameOut.imageFrameBlob.transformToByteArray());
check(frame.length > 0, "GetImageFrame returned no bytes");
summary.studyInstanceUID = doc.Study.DICOM.StudyInstanceUID;
summary.metadata = { imageSetId: is, seriesInstanceUID: seriesUIDs[0], instances: Object.keys(series.Instances).length, frames: frames.length };
summary.frame = { imageSetId: is, imageFrameId: frames[0].id, sopInstanceUID: frames[0].sop, bytes: frame.length, sha256: createHash("sha256").update(frame).digest("hex"),
  fullResolutionChecksum: frames[0].fullResolutionChecksum };

// The searches of AWS's search-image-sets example: BETWEEN on study date
// and time, BETWEEN on createdAt with Date values, and EQUAL on the series
// UID with BETWEEN on updatedAt, sorted by updatedAt.
const allIds = sets.map((s) => s.imageSetId).sort().join();
const searchIds = async (searchCriteria) =>
  (await pagedIds(mi.paginateSearchImageSets, { datastoreId: ds, searchCriteria }, "imageSetsMetadataSummaries", "imageSetId")).sort().join();
let found = await searchIds({ filters: [{ operator: "BETWEEN", values: [
  { DICOMStudyDateAndTime: { DICOMStudyDate: "19900101", DICOMStudyTime: "000000" } },
  { DICOMStudyDateAndTime: { DICOMStudyDate: "20991231", DICOMStudyTime: "000000" } }] }] });
check(found === allIds, `SearchImageSets BETWEEN DICOMStudyDateAndTime: ${found}, want ${allIds}`);
found = await searchIds({ filters: [{ operator: "BETWEEN", values: [{ createdAt: new Date("1985-04-12T23:20:50.52Z") }, { createdAt: new Date(Date.now() + 300_000) }] }] });
check(found === allIds, `SearchImageSets BETWEEN createdAt: ${found}, want ${allIds}`);
found = await searchIds({
  filters: [{ operator: "EQUAL", values: [{ DICOMSeriesInstanceUID: seriesUIDs[0] }] },
    { operator: "BETWEEN", values: [{ updatedAt: new Date("1985-04-12T23:20:50.52Z") }, { updatedAt: new Date(Date.now() + 300_000) }] }],
  sort: { sortField: "updatedAt", sortOrder: "ASC" },
});
check(found === is, `SearchImageSets EQUAL series and BETWEEN updatedAt: ${found}, want ${is}`);

// UpdateImageSetMetadata: the blob member is bytes of JSON.
const description = "SDKJS UPDATED";
const enc = (v) => new TextEncoder().encode(JSON.stringify(v));
const upd = await call(new mi.UpdateImageSetMetadataCommand({
  datastoreId: ds, imageSetId: is, latestVersionId: "1",
  updateImageSetMetadataUpdates: { DICOMUpdates: { updatableAttributes: enc({ SchemaVersion: 1.1, Study: { DICOM: { StudyDescription: description } } }) } },
}));
check(upd.latestVersionId === "2" && upd.imageSetState === "LOCKED" && upd.imageSetWorkflowStatus === "UPDATING", `UpdateImageSetMetadata ${JSON.stringify(upd)}`);
await waitSet(ds, is, "ACTIVE", "UPDATED");
const updated = await readMetadata(ds, is);
check(updated.Study.DICOM.StudyDescription === description, `StudyDescription after the update: ${updated.Study.DICOM.StudyDescription}`);
const v1 = await readMetadata(ds, is, "1");
check(v1.Study.DICOM.StudyDescription !== description, "version 1 of the metadata shows the update");
summary.studyDescription = description;

// ListImageSetVersions, one version per page.
const versions = [];
for await (const page of mi.paginateListImageSetVersions({ client, pageSize: 1 }, { datastoreId: ds, imageSetId: is })) {
  check(versions.length < 100, "ListImageSetVersions: more than 100 pages");
  versions.push(...page.imageSetPropertiesList.map((p) => `${p.versionId}:${p.ImageSetWorkflowStatus}`));
}
called.add("ListImageSetVersions");
check(versions.join(",") === "2:UPDATED,1:CREATED", `ListImageSetVersions ${versions}`);
summary.versions = versions;

// Errors the SDK must type: a stale version, a bad update, a missing set,
// an out-of-range page size, a non-empty data store, a wrong secret.
const errors = {};
const record = (e) => { errors[e.name] = e.$metadata.httpStatusCode; };
record(await expectError(new mi.UpdateImageSetMetadataCommand({
  datastoreId: ds, imageSetId: is, latestVersionId: "1", updateImageSetMetadataUpdates: { revertToVersionId: "1" },
}), "ConflictException", 409));
record(await expectError(new mi.UpdateImageSetMetadataCommand({
  datastoreId: ds, imageSetId: is, latestVersionId: "2",
  updateImageSetMetadataUpdates: { DICOMUpdates: { updatableAttributes: enc({ SchemaVersion: 1.1, Study: { DICOM: { PatientName: "X" } } }) } },
}), "ValidationException", 400));
const badPage = await expectError(new mi.ListDatastoresCommand({ maxResults: 51 }), "ValidationException", 400);
check(badPage instanceof mi.ValidationException, "the SDK did not type ValidationException as its class");
record(await expectError(new mi.GetImageSetCommand({ datastoreId: ds, imageSetId: "0".repeat(32) }), "ResourceNotFoundException", 404));
const conflict = await expectError(new mi.DeleteDatastoreCommand({ datastoreId: ds }), "ConflictException", 409);
check(conflict instanceof mi.ConflictException, "the SDK did not type ConflictException as its class");
const wrong = new mi.MedicalImagingClient({
  ...clientConfig, credentials: { accessKeyId: env("AWS_ACCESS_KEY_ID"), secretAccessKey: "not-the-secret" },
});
const denied = await expectError(new mi.GetDatastoreCommand({ datastoreId: ds }), "InvalidSignatureException", 403, wrong);
record(denied);
check(denied instanceof mi.MedicalImagingServiceException, "a 403 is not a MedicalImagingServiceException");
const stranger = new mi.MedicalImagingClient({
  ...clientConfig, credentials: { accessKeyId: "AKIDUNKNOWNOHIKEY", secretAccessKey: "x" },
});
record(await expectError(new mi.ListDatastoresCommand({}), "UnrecognizedClientException", 403, stranger));
wrong.destroy();
stranger.destroy();
summary.errors = errors;

// CopyImageSet of one instance into a new image set, then DeleteImageSet.
const copiable = { SchemaVersion: "1.1", Study: { Series: { [seriesUIDs[0]]: { Instances: { [frames[0].sop]: {} } } } } };
const cp = await call(new mi.CopyImageSetCommand({
  datastoreId: ds, sourceImageSetId: is,
  copyImageSetInformation: { sourceImageSet: { latestVersionId: "2", DICOMCopies: { copiableAttributes: JSON.stringify(copiable) } } },
}));
const dest = cp.destinationImageSetProperties?.imageSetId;
check(ID32.test(dest ?? "") && dest !== is, `CopyImageSet destination ${dest}`);
check(cp.sourceImageSetProperties?.imageSetWorkflowStatus === "COPYING_WITH_READ_ONLY_ACCESS" && cp.destinationImageSetProperties.imageSetWorkflowStatus === "COPYING",
  `CopyImageSet ${JSON.stringify(cp)}`);
await waitSet(ds, dest, "ACTIVE", "COPIED");
await waitSet(ds, is, "ACTIVE", "UPDATED");
const copied = await readMetadata(ds, dest);
const copiedSeries = copied.Study.Series[seriesUIDs[0]];
check(copiedSeries && Object.keys(copiedSeries.Instances).join() === frames[0].sop, "the copy does not hold exactly the copied instance");
if (frames.length > 1) {
  // The copy example's other form: into an existing destination, with force;
  // then the update example's removal of an instance.
  const more = { SchemaVersion: "1.1", Study: { Series: { [seriesUIDs[0]]: { Instances: { [frames[1].sop]: {} } } } } };
  const cp2 = await call(new mi.CopyImageSetCommand({
    datastoreId: ds, sourceImageSetId: is, force: true,
    copyImageSetInformation: {
      sourceImageSet: { latestVersionId: "2", DICOMCopies: { copiableAttributes: JSON.stringify(more) } },
      destinationImageSet: { imageSetId: dest, latestVersionId: "1" },
    },
  }));
  check(cp2.destinationImageSetProperties?.imageSetId === dest && cp2.destinationImageSetProperties?.latestVersionId === "2", `CopyImageSet into ${dest}: ${JSON.stringify(cp2)}`);
  await waitSet(ds, dest, "ACTIVE", "COPIED");
  await waitSet(ds, is, "ACTIVE", "UPDATED");
  const two = await readMetadata(ds, dest);
  check(Object.keys(two.Study.Series[seriesUIDs[0]].Instances).sort().join() === [frames[0].sop, frames[1].sop].sort().join(), "the copy into the destination did not add the instance");
  const rm = await call(new mi.UpdateImageSetMetadataCommand({
    datastoreId: ds, imageSetId: dest, latestVersionId: "2",
    updateImageSetMetadataUpdates: { DICOMUpdates: { removableAttributes: enc({ SchemaVersion: 1.1, Study: { Series: { [seriesUIDs[0]]: { Instances: { [frames[1].sop]: {} } } } } }) } },
  }));
  check(rm.latestVersionId === "3", `UpdateImageSetMetadata removing an instance: ${JSON.stringify(rm)}`);
  await waitSet(ds, dest, "ACTIVE", "UPDATED");
  const back = await readMetadata(ds, dest);
  check(Object.keys(back.Study.Series[seriesUIDs[0]].Instances).join() === frames[0].sop, "removing the instance left it in the image set");
}
const del = await call(new mi.DeleteImageSetCommand({ datastoreId: ds, imageSetId: dest }));
check(del.imageSetState === "LOCKED" && del.imageSetWorkflowStatus === "DELETING", `DeleteImageSet ${JSON.stringify(del)}`);
await waitSet(ds, dest, "DELETED", "DELETED");
record(await expectError(new mi.GetImageSetMetadataCommand({ datastoreId: ds, imageSetId: dest }), "ResourceNotFoundException", 404));
summary.copy = { imageSetId: dest, sopInstanceUID: frames[0].sop, deleted: true };

// Tags on the image set and on the data store.
const tagsOf = async (arn) => (await call(new mi.ListTagsForResourceCommand({ resourceArn: arn }))).tags;
await call(new mi.TagResourceCommand({ resourceArn: set.imageSetArn, tags: { a: "1", b: "2 two" } }));
let tags = await tagsOf(set.imageSetArn);
check(JSON.stringify(tags, Object.keys(tags).sort()) === '{"a":"1","b":"2 two"}', `tags after TagResource ${JSON.stringify(tags)}`);
await call(new mi.UntagResourceCommand({ resourceArn: set.imageSetArn, tagKeys: ["a"] }));
tags = await tagsOf(set.imageSetArn);
check(JSON.stringify(tags) === '{"b":"2 two"}', `tags after UntagResource ${JSON.stringify(tags)}`);
// The tagging-datastores scenario: tag, list, untag a data store.
await call(new mi.TagResourceCommand({ resourceArn: dsProps.datastoreArn, tags: { Deployment: "Development" } }));
tags = await tagsOf(dsProps.datastoreArn);
check(tags.Deployment === "Development" && tags.suite === "sdkjs", `data store tags after TagResource ${JSON.stringify(tags)}`);
await call(new mi.UntagResourceCommand({ resourceArn: dsProps.datastoreArn, tagKeys: ["Deployment"] }));
tags = await tagsOf(dsProps.datastoreArn);
check(JSON.stringify(tags) === '{"suite":"sdkjs"}', `data store tags ${JSON.stringify(tags)}`);
summary.tags = tags;

// AWS's integration tests: GetDatastore of the placeholder id fails with
// the service's exact validation message; an empty data store is created,
// listed and deleted.
const placeholder = await expectError(new mi.GetDatastoreCommand({ datastoreId: "DATASTORE_ID" }), "ValidationException", 400);
check(placeholder.message === "1 validation error detected: Value 'DATASTORE_ID' at 'datastoreId' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9a-z]{32}",
  `GetDatastore DATASTORE_ID message: ${placeholder.message}`);
const spare = (await call(new mi.CreateDatastoreCommand({ datastoreName: `jstest-${Date.now()}` }))).datastoreId;
await poll("spare data store ACTIVE", async () => (await call(new mi.GetDatastoreCommand({ datastoreId: spare }))).datastoreProperties.datastoreStatus === "ACTIVE");
check((await pagedIds(mi.paginateListDatastores, {}, "datastoreSummaries", "datastoreId")).includes(spare), "the spare data store is not listed");
const deleting = await call(new mi.DeleteDatastoreCommand({ datastoreId: spare }));
check(deleting.datastoreId === spare && ["DELETING", "DELETED"].includes(deleting.datastoreStatus), `DeleteDatastore ${JSON.stringify(deleting)}`);
await poll("spare data store DELETED", async () => (await call(new mi.GetDatastoreCommand({ datastoreId: spare }))).datastoreProperties.datastoreStatus === "DELETED");

client.destroy();
summary.operations = [...called].sort();
summary.ok = true;
process.stdout.write(JSON.stringify(summary) + "\n");
