#!/usr/bin/env bash
# replicas-demo.sh: the deployment of docs/deployment.md, run for real on one
# machine: three `ohi serve` replicas on free loopback ports sharing one
# PostgreSQL database and one S3 bucket (moto_server as the S3-compatible
# service), an import of a generated study started on replica 1 and worked
# on by all three, and a check that every replica answers the same.
#
# Needs: bin/ohi (make build), PostgreSQL reachable as
# ${OHI_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}, moto_server,
# the AWS CLI and python3. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

OHI=${OHI:-./bin/ohi}
ADMIN=${OHI_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
[ -x "$OHI" ] || { echo "replicas-demo: build first (make build)" >&2; exit 1; }
for c in psql moto_server aws python3; do
	command -v "$c" >/dev/null || { echo "replicas-demo: $c is required" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/ohi-replicas.XXXXXX")
db="ohi_replicas_$$"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. The shared state: a PostgreSQL database and an S3-compatible service.
psql "$ADMIN" -qc "CREATE DATABASE $db" >/dev/null
DATABASE=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$ADMIN" "$db")
s3port=$(free_port)
moto_server -H 127.0.0.1 -p "$s3port" >"$work/moto.log" 2>&1 &
pids+=($!)
export AWS_ACCESS_KEY_ID=replicas AWS_SECRET_ACCESS_KEY=replicas-secret AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
S3="http://127.0.0.1:$s3port"
for _ in $(seq 1 100); do aws --endpoint-url "$S3" s3 ls >/dev/null 2>&1 && break; sleep 0.1; done
for b in ohi-storage dicom-in dicom-out; do aws --endpoint-url "$S3" s3 mb "s3://$b" >/dev/null; done

# 2. Three replicas. They share the database (--database), the storage
#    area (--blob-store) and the import buckets (--s3-endpoint); clients
#    sign with one key pair. Each has its own scratch directory.
KEY=AKIDREPLICAS SECRET=replicas-client-secret
ports=(0 "$(free_port)" "$(free_port)" "$(free_port)")
for i in 1 2 3; do
	port=${ports[i]}
	OHI_ACCESS_KEY_ID=$KEY OHI_SECRET_ACCESS_KEY=$SECRET "$OHI" serve --listen "127.0.0.1:$port" \
		--data-dir "$work/replica$i" --database "$DATABASE" \
		--blob-store s3://ohi-storage/ohi/ --s3-endpoint "$S3" >"$work/replica$i.log" 2>&1 &
	pids+=($!)
done
for i in 1 2 3; do
	for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:${ports[i]}/healthz" >/dev/null && break; sleep 0.1; done
	curl -sf "http://127.0.0.1:${ports[i]}/healthz" >/dev/null || { echo "replicas-demo: replica $i did not start:" >&2; tail -20 "$work/replica$i.log" >&2; exit 1; }
done
echo "replicas up on 127.0.0.1:${ports[1]}, ${ports[2]} and ${ports[3]} (PostgreSQL database $db, S3 at $S3)"

# 3. A study in the input bucket, and an import started on replica 1.
"$OHI" synth --out "$work/study" --series 4 --instances 60 --rows 128 --cols 128 --seed 5 >/dev/null
aws --endpoint-url "$S3" s3 cp --recursive --quiet "$work/study" s3://dicom-in/study/
mi() { # mi PORT ARGS...: the AWS CLI against one replica, signed with the client key
	local port=$1
	shift
	AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_DISABLE_HOST_PREFIX_INJECTION=true \
		aws medical-imaging --endpoint-url "http://127.0.0.1:$port" "$@"
}
json() { # json EXPR: EXPR of the JSON answer on stdin as d; one line, not a traceback, when there is none
	python3 -c "import json,sys
try: d=json.load(sys.stdin)
except ValueError: sys.exit('replicas-demo: the call above returned no JSON')
print($1)"
}
ds=$(mi "${ports[1]}" create-datastore --datastore-name replicas | json 'd["datastoreId"]')
for _ in $(seq 1 100); do
	[ "$(mi "${ports[2]}" get-datastore --datastore-id "$ds" | json 'd["datastoreProperties"]["datastoreStatus"]')" = ACTIVE ] && break
	sleep 0.2
done
job=$(mi "${ports[1]}" start-dicom-import-job --datastore-id "$ds" --data-access-role-arn arn:aws:iam::123456789012:role/ImportRole \
	--input-s3-uri s3://dicom-in/study/ --output-s3-uri s3://dicom-out/jobs/ | json 'd["jobId"]')
for _ in $(seq 1 600); do
	status=$(mi "${ports[3]}" get-dicom-import-job --datastore-id "$ds" --job-id "$job" | json 'd["jobProperties"]["jobStatus"]')
	case "$status" in COMPLETED|FAILED) break ;; esac
	sleep 0.2
done
[ "$status" = COMPLETED ] || { echo "replicas-demo: import is $status" >&2; tail -20 "$work"/replica*.log >&2; exit 1; }
echo "import $job COMPLETED"
for i in 1 2 3; do
	n=$(grep -c 'msg="import task done"' "$work/replica$i.log" || true)
	echo "replica $i ran $n of the job's import tasks"
done

# 4. Every replica answers the same.
answers=()
for i in 1 2 3; do
	answers+=("$(mi ${ports[i]} search-image-sets --datastore-id "$ds" --search-criteria '{"sort":{"sortField":"createdAt","sortOrder":"ASC"}}' |
		json '",".join(s["imageSetId"]+":"+str(s["DICOMTags"]["DICOMNumberOfStudyRelatedInstances"]) for s in d["imageSetsMetadataSummaries"])')")
done
[ "${answers[0]}" = "${answers[1]}" ] && [ "${answers[1]}" = "${answers[2]}" ] || { echo "replicas-demo: replicas disagree" >&2; printf '%s\n' "${answers[@]}" >&2; exit 1; }
echo "all three replicas return the same image sets: ${answers[0]}"
manifest=$(aws --endpoint-url "$S3" s3 cp "s3://dicom-out/jobs/$ds-DicomImport-$job/job-output-manifest.json" -)
echo "$manifest" | json '"manifest: scanned %d, imported %d, image sets %d" % (d["jobSummary"]["numberOfScannedFiles"], d["jobSummary"]["numberOfImportedFiles"], d["jobSummary"]["numberOfGeneratedImageSets"])'
echo "replicas demo completed"
