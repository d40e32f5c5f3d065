#!/usr/bin/env bash
# bench/dicomweb.sh: ohi's DICOMweb against the import job and against
# Orthanc's DICOMweb plugin, on loopback.
#
# A. STOW-RS ingest: the 1,000-instance 512x512 16-bit CT series of
#    bench/import.sh, imported once with an import job (instances/s), then
#    into a fresh server with STOW-RS, 50 instances per multipart request
#    from 2 clients (instances/s), then into a fresh server again as ONE
#    streamed request of all 1,000 instances (~525 MB; signed with the
#    payload hash, which the server checks while it reads): the server's
#    peak RSS shows the request is never held in memory.
# B. WADO-RS frames of one instance (frames/1), 2 clients, DW_N requests
#    (default 2000): ohi's stored HTJ2K codestream (transfer-syntax=*), ohi
#    uncompressed (decoded from HTJ2K on every request), and the same
#    instance stored in Orthanc with its DICOMweb plugin (which stores it as
#    received, uncompressed), asked the same two ways.
# C. QIDO-RS on 100,000 instances (1,000 series of 100, ~400 studies),
#    seeded through sqlstore's commit path: a query mix of 11 kinds, DW_QIDO_N
#    sequential requests each (default 300), on SQLite and, when reachable
#    (OHI_PG_ADMIN, psql), PostgreSQL.
#
# Usage: bash bench/dicomweb.sh   (from anywhere; about 3 minutes)
#        DW_PARTS="B C" bash bench/dicomweb.sh   runs only those parts
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
trap bench_cleanup EXIT
SECONDS=0
LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)
N=${DW_N:-2000}
QN=${DW_QIDO_N:-300}
ADMIN=${OHI_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
PLUGIN=/usr/share/orthanc/plugins/libOrthancDicomWeb.so
PARTS=${DW_PARTS:-A B C}
part() { [[ " $PARTS " == *" $1 "* ]]; }

bench_init
ensure_series

if part A; then
log "A1. Import job of the series"
d="$BENCH_WORK/import"
link_input "$SERIES_DIR" "$d" ct
sync
start_ohi "$d"
timeout 360 "$OHIBENCH" import -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
	-input s3://bench-in/ct/ -dir "$d/buckets/bench-in/ct" -pid "$OHI_PID" -result "$RESULTS"
stop_pid "$OHI_PID"
rm -rf "$d"
fi

stow() { # DIR PREFIX BATCH CLIENTS
	start_ohi "$1"
	OHI_DS=$(AWS_ACCESS_KEY_ID=$BENCH_AK AWS_SECRET_ACCESS_KEY=$BENCH_SK AWS_DEFAULT_REGION=us-east-1 \
		aws medical-imaging create-datastore --endpoint-url "$OHI_URL" --datastore-name dw --query datastoreId --output text 2>/dev/null || true)
	[ -n "$OHI_DS" ] || die "create-datastore failed (is the AWS CLI installed?)"
	sleep 1
	timeout 600 "$OHIBENCH" stow -base "$OHI_URL/datastore/$OHI_DS" -dir "$SERIES_DIR" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
		-batch "$3" -clients "$4" -pid "$OHI_PID" -prefix "$2" -result "$RESULTS"
}
if part A; then
	log "A2. STOW-RS of the series, 50 instances per request, 2 clients"
	stow "$BENCH_WORK/stow" STOW 50 2
	stop_pid "$OHI_PID"
	rm -rf "$BENCH_WORK/stow"
fi
if part A || part B; then
	log "A3. STOW-RS of the series in one streamed request"
	stow "$BENCH_WORK/stow1" STOW1 0 1
	. "$RESULTS"
fi
if part B; then

log "B. WADO-RS frames/1 of one instance, $N requests, 2 clients"
get() { # BASE PREFIX LABEL ACCEPT [signed]
	local sign=()
	[ "${5:-}" = signed ] && sign=(-access-key "$BENCH_AK" -secret "$BENCH_SK")
	timeout 300 "$OHIBENCH" dicomweb-get -base "$1" -path "$STOW1_FIRST_PATH/frames/1" -accept "$4" -n "$N" -clients 2 \
		-prefix "$2" -label "$3" -result "$RESULTS" "${sign[@]}"
}
STORED='multipart/related; type="application/octet-stream"; transfer-syntax=*'
RAW='multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'
get "$OHI_URL/datastore/$OHI_DS" OHI_FR_STORED "ohi, stored HTJ2K (transfer-syntax=*)" "$STORED" signed
get "$OHI_URL/datastore/$OHI_DS" OHI_FR_RAW "ohi, uncompressed (repeats from the decoded cache)" "$RAW" signed
timeout 300 "$OHIBENCH" dicomweb-get -base "$OHI_URL/datastore/$OHI_DS" -dir "$SERIES_DIR" -accept "$RAW" -n 0 -clients 2 \
	-access-key "$BENCH_AK" -secret "$BENCH_SK" -prefix OHI_FR_COLD -label "ohi, uncompressed, 1,000 frames once (decoded)" -result "$RESULTS"
stop_pid "$OHI_PID"
rm -rf "$BENCH_WORK/stow1"
have_orthanc=0
if [ -f "$PLUGIN" ] && ORTHANC_PLUGINS="\"$PLUGIN\"" start_orthanc "$BENCH_WORK/orthanc"; then
	have_orthanc=1
	one="$BENCH_WORK/one"
	mkdir -p "$one"
	first=$(find "$SERIES_DIR" -name '*.dcm' | sort | awk 'NR == 1')
	cp "$first" "$one/"
	timeout 600 "$OHIBENCH" stow -base "$ORTHANC_URL/dicom-web" -dir "$one" -batch 1 -clients 1 -prefix ORTHANC_STOW -result "$BENCH_WORK/o.env"
	. "$BENCH_WORK/o.env"
	STOW1_FIRST_PATH=$ORTHANC_STOW_FIRST_PATH
	get "$ORTHANC_URL/dicom-web" ORTHANC_FR_STORED "Orthanc-DICOMweb, transfer-syntax=* (stored)" "$STORED"
	get "$ORTHANC_URL/dicom-web" ORTHANC_FR_RAW "Orthanc-DICOMweb, uncompressed" "$RAW"
	timeout 600 "$OHIBENCH" stow -base "$ORTHANC_URL/dicom-web" -dir "$SERIES_DIR" -batch 50 -clients 2 -prefix ORTHANC_STOW_ALL -result "$BENCH_WORK/o.env"
	timeout 300 "$OHIBENCH" dicomweb-get -base "$ORTHANC_URL/dicom-web" -dir "$SERIES_DIR" -accept "$RAW" -n 0 -clients 2 \
		-prefix ORTHANC_FR_COLD -label "Orthanc-DICOMweb, uncompressed, 1,000 frames once" -result "$RESULTS"
	stop_pid "$ORTHANC_PID"
fi
fi
[ -n "${OHI_PID:-}" ] && stop_pid "$OHI_PID"
. "$RESULTS"

have_pg=0
if part C; then
log "C. QIDO-RS on 100,000 instances, SQLite"
q="$BENCH_WORK/qido"
mkdir -p "$q"
timeout 300 "$OHIBENCH" seed-dicomweb -database "$q/ohi.db" -instances 100000 -samples "$q/s.json" -prefix SQSEED -result "$RESULTS"
start_ohi "$q"
timeout 600 "$OHIBENCH" qido -endpoint "$OHI_URL" -samples "$q/s.json" -access-key "$BENCH_AK" -secret "$BENCH_SK" -n "$QN" \
	-prefix QIDO_SQLITE -label SQLite -result "$RESULTS"
stop_pid "$OHI_PID"
rm -rf "$q"
if command -v psql >/dev/null && psql "$ADMIN" -qc 'SELECT 1' >/dev/null 2>&1; then
	have_pg=1
	log "C. QIDO-RS on 100,000 instances, PostgreSQL"
	DB=ohi_dwbench_$$
	PGURL=$(echo "$ADMIN" | sed "s|/postgres?|/$DB?|")
	psql "$ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
	q="$BENCH_WORK/qido-pg"
	mkdir -p "$q"
	timeout 600 "$OHIBENCH" seed-dicomweb -database "$PGURL" -instances 100000 -samples "$q/s.json" -prefix PGSEED -result "$RESULTS"
	psql "$PGURL" -qc "ANALYZE" >/dev/null
	start_ohi "$q" --database "$PGURL"
	timeout 600 "$OHIBENCH" qido -endpoint "$OHI_URL" -samples "$q/s.json" -access-key "$BENCH_AK" -secret "$BENCH_SK" -n "$QN" \
		-prefix QIDO_PG -label PostgreSQL -result "$RESULTS"
	stop_pid "$OHI_PID"
	psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
fi
fi
. "$RESULTS"

echo
echo "==================== bench/dicomweb.sh summary ===================="
echo "date $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -sr), ohi $(git describe --tags --always --dirty 2>/dev/null || echo dev)"
part A && {
echo "A. ingest of 1,000 x 512x512 16-bit CT (${STOW_MB} MB), frames transcoded to verified HTJ2K:"
echo "   import job ${OHI_IMPORT_IPS} instances/s; STOW-RS (50/request, 2 clients) ${STOW_IPS} instances/s = $(ratio "$STOW_IPS" "$OHI_IMPORT_IPS") of the import"
echo "   one ${STOW1_MB} MB STOW-RS request: ${STOW1_IPS} instances/s, server peak RSS ${STOW1_PEAK_RSS_MB} MB"
}
part B && {
printf '%-52s %8s %8s %9s %9s\n' "B. WADO-RS frames/1, 2 clients" "p50 ms" "p99 ms" "req/s" "KB/resp"
row() { printf '%-52s %8s %8s %9s %9s\n' "$@"; }
row "ohi, stored HTJ2K" "$OHI_FR_STORED_P50_MS" "$OHI_FR_STORED_P99_MS" "$OHI_FR_STORED_RPS" "$OHI_FR_STORED_KB"
row "ohi, uncompressed (repeats: decoded cache)" "$OHI_FR_RAW_P50_MS" "$OHI_FR_RAW_P99_MS" "$OHI_FR_RAW_RPS" "$OHI_FR_RAW_KB"
row "ohi, uncompressed, 1,000 frames once (decoded)" "$OHI_FR_COLD_P50_MS" "$OHI_FR_COLD_P99_MS" "$OHI_FR_COLD_RPS" "$OHI_FR_COLD_KB"
if [ "$have_orthanc" = 1 ]; then
	row "Orthanc-DICOMweb, transfer-syntax=*" "$ORTHANC_FR_STORED_P50_MS" "$ORTHANC_FR_STORED_P99_MS" "$ORTHANC_FR_STORED_RPS" "$ORTHANC_FR_STORED_KB"
	row "Orthanc-DICOMweb, uncompressed" "$ORTHANC_FR_RAW_P50_MS" "$ORTHANC_FR_RAW_P99_MS" "$ORTHANC_FR_RAW_RPS" "$ORTHANC_FR_RAW_KB"
	row "Orthanc-DICOMweb, uncompressed, 1,000 frames once" "$ORTHANC_FR_COLD_P50_MS" "$ORTHANC_FR_COLD_P99_MS" "$ORTHANC_FR_COLD_RPS" "$ORTHANC_FR_COLD_KB"
	echo "   ratios ohi/Orthanc req/s: stored $(ratio "$OHI_FR_STORED_RPS" "$ORTHANC_FR_STORED_RPS") (target 2), uncompressed $(ratio "$OHI_FR_RAW_RPS" "$ORTHANC_FR_RAW_RPS") (target 1),"
	echo "   uncompressed with every frame decoded (1,000 frames once) $(ratio "$OHI_FR_COLD_RPS" "$ORTHANC_FR_COLD_RPS")"
else
	echo "   Orthanc with the DICOMweb plugin is not installed: no comparison"
fi
}
part C && echo "C. QIDO-RS mix on 100,000 instances: SQLite p50 ${QIDO_SQLITE_P50_MS} ms, p99 ${QIDO_SQLITE_P99_MS} ms (target p99 <= 20 ms)"
[ "$have_pg" = 1 ] && echo "   PostgreSQL p50 ${QIDO_PG_P50_MS} ms, p99 ${QIDO_PG_P99_MS} ms"
echo "total time ${SECONDS}s; load average at start $LOAD_START, at end $(cut -d" " -f1-3 /proc/loadavg)"
