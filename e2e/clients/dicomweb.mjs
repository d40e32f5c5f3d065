// dicomweb.mjs drives ohi's DICOMweb routes with the unmodified
// dicomweb-client package (the JavaScript DICOMweb client of the standard's
// authors), SigV4-signed as AWS HealthImaging's DICOMweb requires.
//
// dicomweb-client speaks XMLHttpRequest, which Node lacks; signingXHR below
// is a minimal XMLHttpRequest on fetch that signs each request with the AWS
// SDK's SigV4 signer (service medical-imaging) when it is sent, as a
// browser would through a signing proxy.
//
// Environment:
//   OHI_ENDPOINT       the server, e.g. http://127.0.0.1:40123 (required)
//   OHI_DATASTORE_ID   an ACTIVE data store (required)
//   OHI_STOW_FILES     comma-separated DICOM files to store (required)
//   OHI_SDKJS_PREFIX   where `npm ci` installed e2e/clients
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
// Prints one JSON summary line on success; exits 1 with a message otherwise.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const prefix = process.env.OHI_SDKJS_PREFIX;
const require = createRequire(prefix ? path.join(path.resolve(prefix), "package.json") : import.meta.url);
const { SignatureV4 } = require("@smithy/signature-v4");
const { Sha256 } = require("@aws-crypto/sha256-js");
const dwc = require("dicomweb-client");

function fail(msg) {
  process.stderr.write(`dicomweb: ${msg}\n`);
  process.exit(1);
}
const env = (name) => process.env[name] || fail(`environment variable ${name} is not set`);
function check(cond, msg) {
  if (!cond) fail(msg);
}

const signer = new SignatureV4({
  service: "medical-imaging",
  region: env("AWS_REGION"),
  credentials: { accessKeyId: env("AWS_ACCESS_KEY_ID"), secretAccessKey: env("AWS_SECRET_ACCESS_KEY") },
  sha256: Sha256,
});

// signingXHR is the subset of XMLHttpRequest dicomweb-client uses.
class signingXHR {
  constructor() {
    this.readyState = 0;
    this.headers = {};
    this.responseType = "";
    this.status = 0;
  }
  open(method, url) {
    this.method = method.toUpperCase();
    this.url = new URL(url);
    this.readyState = 1;
  }
  setRequestHeader(k, v) {
    this.headers[k] = v;
  }
  getResponseHeader(k) {
    return this.respHeaders ? this.respHeaders.get(k) : null;
  }
  getAllResponseHeaders() {
    if (!this.respHeaders) return "";
    let s = "";
    this.respHeaders.forEach((v, k) => (s += `${k}: ${v}\r\n`));
    return s;
  }
  send(body) {
    this.run(body).catch((e) => fail(`${this.method} ${this.url}: ${e.stack || e}`));
  }
  async run(body) {
    let data;
    if (body instanceof ArrayBuffer) data = new Uint8Array(body);
    else if (ArrayBuffer.isView(body)) data = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    else if (typeof body === "string") data = new TextEncoder().encode(body);
    const query = {};
    this.url.searchParams.forEach((v, k) => (query[k] = v));
    const signed = await signer.sign({
      method: this.method,
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      port: this.url.port ? Number(this.url.port) : undefined,
      path: this.url.pathname,
      query,
      headers: { ...this.headers, host: this.url.host },
      body: data,
    });
    const headers = { ...signed.headers };
    delete headers.host;
    const resp = await fetch(this.url, { method: this.method, headers, body: data });
    const buf = await resp.arrayBuffer();
    this.status = resp.status;
    this.respHeaders = resp.headers;
    const text = () => new TextDecoder().decode(buf);
    if (this.responseType === "arraybuffer") this.response = buf;
    else if (this.responseType === "json") {
      try {
        this.response = JSON.parse(text());
      } catch {
        this.response = null;
      }
    } else this.response = text();
    this.responseText = this.responseType === "arraybuffer" ? undefined : text();
    this.readyState = 4;
    if (this.onreadystatechange) this.onreadystatechange();
  }
}
globalThis.XMLHttpRequest = signingXHR;

const tag = (ds, t) => (ds[t] && ds[t].Value ? ds[t].Value[0] : undefined);

async function main() {
  const ds = env("OHI_DATASTORE_ID");
  const client = new dwc.api.DICOMwebClient({ url: `${env("OHI_ENDPOINT")}/datastore/${ds}` });
  const files = env("OHI_STOW_FILES").split(",");
  const datasets = files.map((f) => {
    const b = readFileSync(f);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  });

  // STOW-RS (multipart/related; type="application/dicom").
  const stored = await client.storeInstances({ datasets });
  const storeResp = typeof stored === "string" ? JSON.parse(stored) : stored;
  const refs = (storeResp["00081199"] && storeResp["00081199"].Value) || [];
  check(refs.length === files.length, `STOW stored ${refs.length} of ${files.length}: ${JSON.stringify(storeResp).slice(0, 300)}`);

  // QIDO-RS.
  const studies = await client.searchForStudies();
  check(studies.length >= 1, "no study found");
  const study = tag(studies[0], "0020000D");
  const series = await client.searchForSeries({ studyInstanceUID: study });
  check(series.length >= 1, "no series found");
  const seriesUID = tag(series[0], "0020000E");
  const instances = await client.searchForInstances({ studyInstanceUID: study, seriesInstanceUID: seriesUID });
  check(instances.length >= 1, "no instance found");
  const sop = tag(instances[0], "00080018");
  const filtered = await client.searchForStudies({ queryParams: { PatientID: tag(studies[0], "00100020") } });
  check(filtered.length === 1, `PatientID search found ${filtered.length} studies`);

  // WADO-RS.
  const seriesMeta = await client.retrieveSeriesMetadata({ studyInstanceUID: study, seriesInstanceUID: seriesUID });
  const meta = await client.retrieveInstanceMetadata({ studyInstanceUID: study, seriesInstanceUID: seriesUID, sopInstanceUID: sop });
  check(tag(meta[0], "00080018") === sop, "instance metadata is of another instance");
  const frames = await client.retrieveInstanceFrames({ studyInstanceUID: study, seriesInstanceUID: seriesUID, sopInstanceUID: sop, frameNumbers: [1] });
  const stored1 = await client.retrieveInstanceFrames({
    studyInstanceUID: study, seriesInstanceUID: seriesUID, sopInstanceUID: sop, frameNumbers: [1],
    mediaTypes: [{ mediaType: "application/octet-stream", transferSyntaxUID: "*" }],
  });
  const instance = await client.retrieveInstance({ studyInstanceUID: study, seriesInstanceUID: seriesUID, sopInstanceUID: sop });
  const p10 = new Uint8Array(instance);
  const dicm = new TextDecoder().decode(p10.slice(128, 132));
  check(dicm === "DICM", `retrieveInstance did not return a Part 10 file (${p10.length} bytes)`);

  process.stdout.write(JSON.stringify({
    ok: true, client: "dicomweb-client", version: require("dicomweb-client/package.json").version,
    stored: refs.length, studies: studies.length, series: series.length, instances: instances.length,
    studyInstanceUID: study, seriesInstanceUID: seriesUID, sopInstanceUID: sop,
    seriesMetadata: seriesMeta.length, rows: tag(meta[0], "00280010"), columns: tag(meta[0], "00280011"),
    frameBytes: frames.map((f) => f.byteLength), storedFrameBytes: stored1.map((f) => f.byteLength), instanceBytes: p10.length,
  }) + "\n");
}

main().catch((e) => fail(e.stack || `${e} (status ${e.status}: ${e.response})`));
