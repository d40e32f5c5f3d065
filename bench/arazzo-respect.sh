#!/usr/bin/env bash
# bench/arazzo-respect.sh: `ohi workflow run` against Redocly Respect on the
# seed workflow import-dicom-and-search, both against the same local server.
#
# 1. Installs @redocly/cli with npm into a cache directory (no global
#    install) and builds bin/ohi.
# 2. Starts `ohi serve --no-auth` on a free loopback port with a fresh data
#    directory. Signature verification is off because Respect cannot sign
#    AWS SigV4 requests (its x-security supports API keys, HTTP auth and
#    OAuth2 only). ohi still signs every request, with a throwaway key pair
#    the server ignores: a SigV4 source without AWS credentials is an error
#    in ohi, not an unsigned request. That is a little extra work on ohi's
#    side (tens of microseconds per request).
# 3. Generates a small CT study into s3://dicom-in/bench/ and creates a data
#    store with the seed onboarding workflow (run by ohi; not timed).
# 4. Runs, interleaved, N times each (fresh clientToken per run):
#      ohi       the seed import-dicom-and-search workflow, unmodified
#      respect   the same file with `redocly respect`, unmodified
#      respect-trimmed  a copy without the step outputs `endedAt` and `nextToken`:
#                Respect fails a step whose output expression points at a
#                missing member, and the server, like AWS, omits endedAt
#                while a job runs and nextToken on the last page
#    Each run is timed as a whole process (start to exit), which is what a
#    user or a CI job waits for. Respect's implicit OpenAPI checks are
#    relaxed with --severity (SCHEMA_CHECK=warn: the shared OpenAPI document
#    types timestamps as strings while the AWS wire format, and so the
#    server, sends epoch seconds).
#    Polling: Respect re-runs a goto loop at once and has no setting for it;
#    ohi gets --poll-interval 20ms (its minimum wait before a re-poll). The
#    table reports the HTTP calls per run so the work can be compared.
# 5. Measures the engine's overhead per step with the Go benchmark
#    BenchmarkStepOverhead (no network).
#
# Usage: bash bench/arazzo-respect.sh   (N=10 by default: N=20 bash ...;
#        KEEP=1 keeps the work directory with every run's output)
# Needs: go, node >= 20.19 and npm, python3. Loopback only; every
# process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10}
REDOCLY_VERSION=${REDOCLY_VERSION:-2.77.0}
CACHE=${ARAZZO_BENCH_CACHE:-.cache/arazzo-respect}
SEED_DIR=../shared/healthimaging/arazzo
SEED=$SEED_DIR/amazon-healthimaging-import-dicom-and-search-workflow.yml
ONBOARD=$SEED_DIR/amazon-healthimaging-onboard-datastore-and-import-workflow.yml
OHI=./bin/ohi
ROLE=arn:aws:iam::123456789012:role/ImportRole

log() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
die() { echo "arazzo-respect: $*" >&2; exit 1; }

[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le 200 ] || die "N must be 1..200"
for c in go node npm python3; do command -v "$c" >/dev/null || die "$c is required"; done
[ -f "$SEED" ] || die "seed workflow not found at $SEED (../shared is absent)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||a===20&&b>=19?0:1)' ||
	die "Respect needs node >= 20.19 (found $(node --version))"

work=
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	if [ -n "$work" ] && [ -n "${KEEP:-}" ]; then
		echo "arazzo-respect: kept $work" >&2
	elif [ -n "$work" ]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "Installing @redocly/cli@$REDOCLY_VERSION into $CACHE and building $OHI"
mkdir -p "$CACHE"
REDOCLY=$CACHE/node_modules/.bin/redocly
installed=$(node -p "require('./$CACHE/node_modules/@redocly/cli/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$REDOCLY_VERSION" ]; then
	timeout 300 npm install --prefix "$CACHE" --no-audit --no-fund --loglevel=error "@redocly/cli@$REDOCLY_VERSION" >&2
fi
[ -x "$REDOCLY" ] || die "npm did not install $REDOCLY"
timeout 600 go build -o "$OHI" ./cmd/ohi
work=$(mktemp -d "${TMPDIR:-/tmp}/ohi-arazzo-bench.XXXXXX")
data=$work/data

log "Starting ohi serve --no-auth (data directory $data)"
"$OHI" serve --listen 127.0.0.1:0 --data-dir "$data" --no-auth --log-format text >"$work/server.log" 2>&1 &
pid=$!
url=
for _ in $(seq 1 100); do
	url=$(grep -o 'endpoint=http://127\.0\.0\.1:[0-9]*' "$work/server.log" | head -1 | cut -d= -f2 || true)
	[ -n "$url" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; die "ohi serve exited"; }
	sleep 0.1
done
[ -n "$url" ] || die "ohi serve did not start"
echo "server: $url (pid $pid)" >&2

# ohi: a throwaway key pair from the environment only (the server does not
# check signatures); no profile, shared files or instance metadata.
ohi_env=(env -u AWS_SESSION_TOKEN -u AWS_PROFILE AWS_ACCESS_KEY_ID=AKIDARAZZOBENCH AWS_SECRET_ACCESS_KEY=arazzo-bench-unchecked
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1)

log "Generating a small study and creating a data store (seed onboarding workflow, not timed)"
"$OHI" synth --out "$data/buckets/dicom-in/bench" --series 1 --instances 4 --rows 64 --cols 64 --seed 5 >&2
timeout 120 "${ohi_env[@]}" "$OHI" workflow run "$ONBOARD" --server healthImagingApi="$url" --poll-interval 20ms --output json \
	-i datastoreName=arazzo-bench -i datastoreClientToken="ds-$$" -i dataAccessRoleArn="$ROLE" -i importClientToken="warm-$$" \
	-i inputS3Uri=s3://dicom-in/bench/ -i outputS3Uri=s3://dicom-out/warm/ >"$work/onboard.json" ||
	die "onboarding workflow failed: $(cat "$work/onboard.json")"
ds=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["outputs"]["datastoreId"])' "$work/onboard.json")
echo "datastoreId: $ds" >&2

# The derived copy for respect-trimmed: the same workflow without the endedAt and
# nextToken outputs, its source description pointing at the same OpenAPI
# file.
openapi=$(cd "$SEED_DIR/../openapi" && pwd)/amazon-healthimaging-openapi.yaml
sed -e "s#url: ../openapi/amazon-healthimaging-openapi.yaml#url: $openapi#" -e '/nextToken: \$response.body#\/nextToken/d' \
	-e '/endedAt: \$response.body#\/jobProperties\/endedAt/d' "$SEED" >"$work/import-optional-outputs-removed.yml"
! grep -Eq 'nextToken|endedAt' "$work/import-optional-outputs-removed.yml" || die "could not derive the copy for respect-trimmed"

results=$work/results.tsv
: >"$results"
now_ms() { date +%s%3N; }

run_ohi() { # run number
	local i=$1 out=$work/ohi-$1.json t0 t1 rc
	t0=$(now_ms)
	timeout 120 "${ohi_env[@]}" "$OHI" workflow run "$SEED" --server healthImagingApi="$url" --poll-interval 20ms --output json \
		-i datastoreId="$ds" -i dataAccessRoleArn="$ROLE" -i clientToken="ohi-$i-$$-$RANDOM" \
		-i inputS3Uri=s3://dicom-in/bench/ -i outputS3Uri="s3://dicom-out/ohi-$i/" >"$out" 2>"$work/ohi-$i.err" && rc=0 || rc=$?
	t1=$(now_ms)
	printf 'ohi\t%d\t%d\t%d\t%s\n' "$i" $((t1 - t0)) "$rc" "$(python3 bench/arazzo/results.py info ohi "$out" | tr ' ' '\t')" >>"$results"
}

run_respect() { # label file run-number
	local label=$1 file=$2 i=$3 out t0 t1 rc
	out=$work/$label-$i.json
	t0=$(now_ms)
	timeout 120 "$REDOCLY" respect "$file" --server healthImagingApi="$url" --severity 'SCHEMA_CHECK=warn' \
		--input datastoreId="$ds" --input dataAccessRoleArn="$ROLE" --input clientToken="$label-$i-$$-$RANDOM" \
		--input inputS3Uri=s3://dicom-in/bench/ --input outputS3Uri="s3://dicom-out/$label-$i/" \
		--json-output="$out" >"$work/$label-$i.log" 2>&1 && rc=0 || rc=$?
	t1=$(now_ms)
	printf '%s\t%d\t%d\t%d\t%s\n' "$label" "$i" $((t1 - t0)) "$rc" "$(python3 bench/arazzo/results.py info respect "$out" | tr ' ' '\t')" >>"$results"
}

log "Running the workflow $N times with each runner (interleaved)"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq 1 "$N"); do
	run_ohi "$i"
	run_respect respect "$SEED" "$i"
	run_respect 'respect-trimmed' "$work/import-optional-outputs-removed.yml" "$i"
	printf '.' >&2
done
echo >&2

# Why the unmodified Respect runs failed, from the last one.
reason=$(grep -a -h 'Reason:' "$work"/respect-*.log | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^ *Reason: *//' | sort | uniq -c | sort -rn || true)

log "Engine overhead per step (go test -bench StepOverhead -benchtime 2000x)"
bench=$(timeout 600 go test ./arazzo/runner/ -run XXX -bench StepOverhead -benchtime 2000x | tee /dev/stderr | grep '^BenchmarkStepOverhead' || true)
nsstep=$(echo "$bench" | grep -o '[0-9.]* ns/step' | head -1)

log "Results"
echo "Seed workflow import-dicom-and-search against ohi serve --no-auth on $url, $N runs each;"
echo "ohi $(git describe --tags --always --dirty 2>/dev/null || echo dev), Redocly CLI $("$REDOCLY" --version 2>/dev/null | tail -1), node $(node --version), $(nproc) CPUs, load average before/after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)."
echo
python3 bench/arazzo/results.py report "$results"
echo
[ -z "$reason" ] || { echo "Why the unmodified respect runs failed (count, reason):"; echo "$reason"; }
echo "respect-trimmed = the seed without its endedAt and nextToken outputs. Wall time is per process, start to exit."
echo "Engine overhead: ${nsstep:-n/a} (BenchmarkStepOverhead: request building, criteria, outputs, actions; no network)"
