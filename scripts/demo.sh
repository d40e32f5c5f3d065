#!/usr/bin/env bash
# demo.sh: the main job on the embedded default, end to end, with the AWS CLI
# as the client. It starts `ohi serve` on a free loopback port with a fresh
# data directory, generates a small CT study, creates a data store, imports
# the study from s3://dicom-in/demo/, searches it, reads metadata and a frame,
# then stops the server it started. Exit 0 means every step worked; any
# failure ends it with one line on stderr that names the step.
#
# The AWS variables of the caller's shell (AWS_ACCESS_KEY_ID, AWS_PROFILE,
# AWS_ENDPOINT_URL, ...) are cleared first: the AWS CLI and SDKs prefer
# AWS_ACCESS_KEY_ID to AWS_PROFILE, so a developer's own key would otherwise
# sign every call and the server would reject it.
set -euo pipefail
set -E
cd "$(dirname "$0")/.."

while IFS= read -r v; do
	case $v in AWS_*) unset "$v" ;; esac
done < <(compgen -e)

OHI=${OHI:-./bin/ohi}
[ -x "$OHI" ] || { echo "demo: $OHI not built; run 'make build'" >&2; exit 1; }
if ! command -v aws >/dev/null; then
	echo "demo: the AWS CLI is required (Debian: apt-get install awscli; or pip install awscli)" >&2
	exit 1
fi
command -v python3 >/dev/null || { echo "demo: python3 is required to format output" >&2; exit 1; }

data=$(mktemp -d "${TMPDIR:-/tmp}/ohi-demo.XXXXXX")
log="$data/server.log"
pid=
keep=
current="setup"
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	[ -n "$keep" ] || rm -rf "$data"
}
trap cleanup EXIT

step() { current=$*; printf '\n\033[1m== %s\033[0m\n' "$*"; }
# fail MESSAGE: the one line a failure prints; the data directory (with the
# server log) is kept for a look.
fail() {
	trap - ERR
	keep=1
	echo "demo: $current: $* (server log: $log)" >&2
	exit 1
}
# Any other failing command ends the demo the same way.
trap 'fail "\"${BASH_COMMAND}\" exited $?"' ERR
# lastline FILE: the last non-blank line of FILE (a tool's own message).
lastline() { grep -v '^[[:space:]]*$' "$1" | tail -n 1 | cut -c1-400 || true; }
# firstline FILE: the first non-blank line (the AWS CLI's error is first,
# then any detail the service adds).
firstline() { grep -v '^[[:space:]]*$' "$1" | head -n 1 | cut -c1-400 || true; }
# quiet CMD...: run a helper command; its error output becomes the one line.
quiet() { "$@" 2>"$data/cmd.err" || fail "$(lastline "$data/cmd.err")"; }

step "Starting ohi serve (data directory $data)"
"$OHI" serve --listen 127.0.0.1:0 --data-dir "$data" --log-format text >"$log" 2>&1 &
pid=$!
endpoint=
for _ in $(seq 1 100); do
	endpoint=$(grep -o 'endpoint=http://[0-9.:]*' "$log" | head -1 | cut -d= -f2 || true)
	[ -n "$endpoint" ] && break
	kill -0 "$pid" 2>/dev/null || fail "server exited: $(lastline "$log")"
	sleep 0.1
done
[ -n "$endpoint" ] || fail "server did not start"
echo "endpoint: $endpoint (SigV4 on; key pair generated in $data/credentials)"

# The AWS CLI, unmodified: credentials from the generated file, and no
# "runtime-" host prefix for a local endpoint.
export AWS_SHARED_CREDENTIALS_FILE="$data/credentials" AWS_PROFILE=ohi AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_DISABLE_HOST_PREFIX_INJECTION=true AWS_RETRY_MODE=standard
export AWS_EC2_METADATA_DISABLED=true
# mi OPERATION ARGS...: one AWS CLI call; its JSON answer is left in $out. A
# failure ends the demo with the CLI's own message.
out=
mi() {
	if ! out=$(aws medical-imaging --endpoint-url "$endpoint" "$@" 2>"$data/aws.err"); then
		fail "aws medical-imaging $1 failed: $(firstline "$data/aws.err")"
	fi
}
# get VAR EXPR: VAR = the Python expression EXPR over the JSON answer d in $out.
get() {
	local v
	v=$(python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$2" <<<"$out" 2>"$data/py.err") ||
		fail "unexpected answer ($2: $(lastline "$data/py.err")): ${out:0:200}"
	printf -v "$1" '%s' "$v"
}
# py ARGS... <<SCRIPT: a formatting script; an error becomes the one line.
py() { python3 - "$@" 2>"$data/py.err" || fail "$(lastline "$data/py.err")"; }

step "Generating a synthetic CT study into s3://dicom-in/demo/ (= $data/buckets/dicom-in/demo)"
quiet "$OHI" synth --out "$data/buckets/dicom-in/demo" --series 2 --instances 6 --rows 256 --cols 256 --seed 42

step "CreateDatastore"
mi create-datastore --datastore-name ohi-demo
get ds 'd["datastoreId"]'
echo "datastoreId: $ds"
for _ in $(seq 1 100); do
	mi get-datastore --datastore-id "$ds"
	get status 'd["datastoreProperties"]["datastoreStatus"]'
	[ "$status" = ACTIVE ] && break
	sleep 0.2
done
[ "$status" = ACTIVE ] || fail "data store is $status"
echo "datastoreStatus: $status"

step "StartDICOMImportJob"
mi start-dicom-import-job --datastore-id "$ds" --job-name demo-import \
	--data-access-role-arn arn:aws:iam::123456789012:role/ImportRole \
	--input-s3-uri s3://dicom-in/demo/ --output-s3-uri s3://dicom-out/jobs/
get job 'd["jobId"]'
echo "jobId: $job"
for _ in $(seq 1 300); do
	mi get-dicom-import-job --datastore-id "$ds" --job-id "$job"
	get status 'd["jobProperties"]["jobStatus"]'
	case "$status" in COMPLETED|FAILED) break ;; esac
	sleep 0.2
done
[ "$status" = COMPLETED ] || fail "import job is $status: $out"
get outuri 'd["jobProperties"]["outputS3Uri"]'
echo "jobStatus: $status"
echo "outputS3Uri: $outuri"
manifest="$data/buckets/${outuri#s3://}job-output-manifest.json"
py "$manifest" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["jobSummary"]
print("files scanned %(numberOfScannedFiles)d, imported %(numberOfImportedFiles)d, "
      "customer errors %(numberOfFilesWithCustomerError)d, server errors %(numberOfFilesWithServerError)d, "
      "image sets %(numberOfGeneratedImageSets)d" % s)
PY

step "SearchImageSets"
mi search-image-sets --datastore-id "$ds" --search-criteria '{"sort":{"sortField":"createdAt","sortOrder":"ASC"}}'
printf '%s' "$out" >"$data/search.json"
py "$data/search.json" <<'PY'
import json, sys
for s in json.load(open(sys.argv[1]))["imageSetsMetadataSummaries"]:
    t = s["DICOMTags"]
    print("%s  v%d  primary=%s  %s  %s  series %s  %d instances in study" % (s["imageSetId"], s["version"], s["isPrimary"],
        t.get("DICOMPatientId"), t.get("DICOMSeriesModality"), t.get("DICOMSeriesNumber"), t.get("DICOMNumberOfStudyRelatedInstances")))
PY
get n 'len(d["imageSetsMetadataSummaries"])'
[ "$n" = 2 ] || fail "expected 2 image sets, found $n"
get is 'd["imageSetsMetadataSummaries"][0]["imageSetId"]'

step "GetImageSetMetadata (gzip) for $is"
mi get-image-set-metadata --datastore-id "$ds" --image-set-id "$is" "$data/metadata.json.gz"
py "$data/metadata.json.gz" <<'PY'
import gzip, json, sys
d = json.load(gzip.open(sys.argv[1]))
series = next(iter(d["Study"]["Series"].values()))
inst_uid, inst = next(iter(series["Instances"].items()))
print("Patient:", json.dumps(d["Patient"]["DICOM"]))
print("Study:  ", json.dumps({k: d["Study"]["DICOM"].get(k) for k in ("StudyInstanceUID", "StudyDate", "StudyDescription", "AccessionNumber")}))
print("Series: ", json.dumps({k: series["DICOM"].get(k) for k in ("Modality", "SeriesNumber", "SeriesDescription")}))
print("%d instances; first %s has %d frame(s), frame ID %s" % (len(series["Instances"]), inst_uid, len(inst["ImageFrames"]), inst["ImageFrames"][0]["ID"]))
open(sys.argv[1] + ".frame", "w").write(inst["ImageFrames"][0]["ID"])
open(sys.argv[1] + ".study", "w").write(d["Study"]["DICOM"]["StudyInstanceUID"])
PY
frame=$(cat "$data/metadata.json.gz.frame")

step "GetImageFrame $frame"
mi get-image-frame --datastore-id "$ds" --image-set-id "$is" --image-frame-information imageFrameId="$frame" "$data/frame.bin"
get ctype 'd.get("contentType", "")'
echo "contentType: $ctype"
echo "frame bytes: $(wc -c <"$data/frame.bin")"

step "Web console and viewer (log in with the key pair in $data/credentials)"
study=$(cat "$data/metadata.json.gz.study")
ak=$(sed -n 's/^aws_access_key_id = //p' "$data/credentials")
sk=$(sed -n 's/^aws_secret_access_key = //p' "$data/credentials")
jar="$data/cookies"
csrf=$(curl -fsS -c "$jar" -b "$jar" "$endpoint/console/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1)
# The secret goes through stdin, not the command line other users can see.
printf '%s' "$sk" | curl -fsS -o /dev/null -c "$jar" -b "$jar" -H "Origin: $endpoint" --data-urlencode "csrf=$csrf" \
	--data-urlencode "accessKeyId=$ak" --data-urlencode "secretAccessKey@-" "$endpoint/console/login"
curl -fsS -b "$jar" "$endpoint/console/datastores/$ds/imagesets" | grep -q "thumbnail.png" || fail "the console does not list the image sets"
curl -fsS -o /dev/null -b "$jar" "$endpoint/console/datastores/$ds/imagesets/$is/thumbnail.png" || fail "no thumbnail"
curl -fsS -b "$jar" -H "Accept: application/dicom+json" "$endpoint/datastore/$ds/studies" | grep -q "$study" ||
	fail "the viewer's DICOMweb study search does not find the study with the console session"
if curl -fsS -b "$jar" "$endpoint/viewer?datastoreId=$ds&StudyInstanceUIDs=$study" | grep -q "OHIF"; then
	viewer_note=""
else
	viewer_note=" (the OHIF viewer is not installed: run scripts/install-ohif.sh)"
fi
echo "console: $endpoint/console/datastores/$ds (lists the demo's image sets with thumbnails)"
echo "viewer:  $endpoint/viewer?datastoreId=$ds&StudyInstanceUIDs=$study$viewer_note"

seed=../shared/healthimaging/arazzo/amazon-healthimaging-import-dicom-and-search-workflow.yml
if [ -f "$seed" ]; then
	step "Arazzo: the seed workflow import-dicom-and-search, unmodified, with ohi workflow run"
	quiet "$OHI" synth --out "$data/buckets/dicom-in/more" --series 1 --instances 4 --rows 128 --cols 128 --seed 7 >/dev/null
	"$OHI" workflow run "$seed" --server healthImagingApi="$endpoint" --poll-interval 200ms \
		--input datastoreId="$ds" --input clientToken=demo-workflow --input jobName=demo-workflow \
		--input dataAccessRoleArn=arn:aws:iam::123456789012:role/ImportRole \
		--input inputS3Uri=s3://dicom-in/more/ --input outputS3Uri=s3://dicom-out/jobs/ --output json >"$data/workflow.json" 2>"$data/cmd.err" ||
		fail "workflow failed: $(lastline "$data/cmd.err") $(head -c 300 "$data/workflow.json" | tr '\n' ' ')"
	py "$data/workflow.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
o = r["outputs"]
print("workflow %s %s: job %s %s, %d image sets found, first %s" % (r["workflowId"], r["status"], o["jobId"], o["jobStatus"],
      len(o["imageSetsMetadataSummaries"]), o["firstImageSetId"]))
for s in r["steps"]:
    print("  %-18s attempt %d  HTTP %s  %s" % (s["stepId"], s["attempt"], s.get("statusCode"), s["outcome"]))
PY
fi

step "Stopping the server"
kill -TERM "$pid"
wait "$pid" || true
pid=
echo "demo completed"
