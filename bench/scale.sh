#!/usr/bin/env bash
# bench/scale.sh: SearchImageSets latency at 1,000,000 image sets, on
# PostgreSQL and on SQLite.
#
# For each engine, `ohibench seed-bulk` opens the database with sqlstore.Open
# (so the migrations create the schema), creates one ACTIVE data store through
# the store, then bulk-loads 1,000,000 image sets straight into image_sets and
# image_set_versions: COPY (pgx CopyFrom) on PostgreSQL, multi-row INSERTs on
# SQLite, 100,000 image sets per transaction. The secondary indexes of
# image_sets are dropped for the load and recreated afterwards from their own
# definitions, then ANALYZE runs. The dataset: about 395,000 studies of
# 200,000 patients (every patient has one or more), 1-4 series per study (one
# image set each), study dates over 20 years, creation times over 2 years,
# accession numbers, study ids, study and series UIDs, 5 modalities, ~1%
# non-primary image sets and ~10% at version 2 (updated later).
#
# Then `ohi serve` runs on that database (PostgreSQL: --database URL; SQLite:
# the data directory's ohi.db) and `ohibench search` sends the query mix of
# bench/search.sh: 1,000 sequential SearchImageSets requests per kind (20
# untimed first), Go SDK with SigV4 over loopback, one keep-alive connection.
# BETWEEN createdAt (1 day) gets 200 requests only: on PostgreSQL each takes up
# to 0.7 s (the cached prepared statement switches to a generic plan that
# walks the updatedAt index), so it runs once more with
# plan_cache_mode=force_custom_plan in the database URL, for comparison.
#
# Needs PostgreSQL reachable as ${OHI_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
# (a database is created and dropped) and psql. BENCH_SCALE_N sets the number
# of image sets (default 1000000), BENCH_SEARCH_N the requests per kind,
# BENCH_SCALE_SLOW_N those of BETWEEN createdAt (default 200).
#
# Usage: bash bench/scale.sh   (from anywhere; takes about 5-8 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ADMIN=${OHI_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DB="ohi_scale_$$"
scale_cleanup() {
	bench_cleanup
	psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap scale_cleanup EXIT
SECONDS=0
LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)
N=${BENCH_SEARCH_N:-1000}
N_SLOW=${BENCH_SCALE_SLOW_N:-200}
SETS=${BENCH_SCALE_N:-1000000}
PATIENTS=$((SETS / 5))
command -v psql >/dev/null || die "psql is required"
psql "$ADMIN" -qc 'SELECT 1' >/dev/null || die "PostgreSQL is not reachable at $ADMIN (set OHI_PG_ADMIN)"

bench_init

# search DATASTORE SAMPLES PREFIX ENGINE: the query mix of bench/search.sh
# against $OHI_URL, N requests per kind; BETWEEN createdAt gets N_SLOW
# requests under PREFIX + C (it takes up to 0.7 s a request on PostgreSQL, see
# docs/benchmarks.md).
search() {
	local ds=$1 samples=$2 prefix=$3 engine=$4
	timeout 900 "$OHIBENCH" search -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
		-datastore "$ds" -samples "$samples" -n "$N" -pid "$OHI_PID" \
		-kinds no-filter,patientId-equal,studyUID-equal,studyDate-between-30d-sorted,isPrimary-equal,no-filter-pages-1-20 \
		-prefix "$prefix" -label "$SETS image sets, $engine" -result "$RESULTS"
	timeout 900 "$OHIBENCH" search -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
		-datastore "$ds" -samples "$samples" -n "$N_SLOW" -kinds createdAt-between-1d \
		-prefix "${prefix}C" -label "$SETS image sets, $engine" -result "$RESULTS"
}

log "PostgreSQL: seeding $SETS image sets into database $DB"
psql "$ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
PGURL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$ADMIN" "$DB")
timeout 900 "$OHIBENCH" seed-bulk -database "$PGURL" -image-sets "$SETS" -patients "$PATIENTS" -seed 1 \
	-samples "$BENCH_WORK/pg.json" -prefix PG_SEED -result "$RESULTS"
. "$RESULTS"
PG_DB_MB=$(psql "$PGURL" -Atc "SELECT pg_database_size(current_database()) / 1000000")
PG_VERSION=$(psql "$PGURL" -Atc "SHOW server_version" | cut -d" " -f1)
start_ohi "$BENCH_WORK/pg" --database "$PGURL"
log "PostgreSQL: SearchImageSets on $SETS image sets"
search "$PG_SEED_DATASTORE" "$BENCH_WORK/pg.json" PG "PostgreSQL $PG_VERSION"
stop_pid "$OHI_PID"
# The same createdAt query with custom plans forced on every connection (a
# runtime parameter in the URL): shows what the generic plan of the cached
# prepared statement costs.
sep='?'
case "$PGURL" in *\?*) sep='&' ;; esac
start_ohi "$BENCH_WORK/pg" --database "$PGURL${sep}plan_cache_mode=force_custom_plan"
log "PostgreSQL, plan_cache_mode=force_custom_plan: BETWEEN createdAt"
timeout 600 "$OHIBENCH" search -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
	-datastore "$PG_SEED_DATASTORE" -samples "$BENCH_WORK/pg.json" -n "$N" -kinds createdAt-between-1d \
	-prefix PGW -label "$SETS image sets, PostgreSQL $PG_VERSION, plan_cache_mode=force_custom_plan" -result "$RESULTS"
stop_pid "$OHI_PID"
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null

log "SQLite: seeding $SETS image sets into a fresh data directory"
sqdir="$BENCH_WORK/sqlite"
mkdir -p "$sqdir"
timeout 900 "$OHIBENCH" seed-bulk -database "$sqdir/ohi.db" -image-sets "$SETS" -patients "$PATIENTS" -seed 1 \
	-samples "$BENCH_WORK/sqlite.json" -prefix SQ_SEED -result "$RESULTS"
. "$RESULTS"
SQ_DB_MB=$(du -cb "$sqdir"/ohi.db* | tail -1 | awk '{printf "%.0f", $1 / 1e6}')
start_ohi "$sqdir"
log "SQLite: SearchImageSets on $SETS image sets"
search "$SQ_SEED_DATASTORE" "$BENCH_WORK/sqlite.json" SQ SQLite
stop_pid "$OHI_PID"
. "$RESULTS"

row() { printf '  %-46s %9s %9s %7s   %9s %9s %7s\n' "$@"; }
kind() { # kind LABEL KEY
	local k=$2
	eval "row \"\$1\" \"\$PG_${k}_P50_MS\" \"\$PG_${k}_P99_MS\" \"\$PG_${k}_RPS\" \"\$SQ_${k}_P50_MS\" \"\$SQ_${k}_P99_MS\" \"\$SQ_${k}_RPS\""
}
echo
echo "==================== bench/scale.sh summary ===================="
echo "date $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -sr), ohi $(git describe --tags --always --dirty 2>/dev/null || echo dev)"
echo "$PG_SEED_IMAGE_SETS image sets ($PG_SEED_VERSIONS versions, $PG_SEED_STUDIES studies, $PG_SEED_PATIENTS patients) in one data store"
echo "seeding (load + index rebuild + ANALYZE): PostgreSQL $PG_VERSION ${PG_SEED_S}s (${PG_SEED_LOAD_S} + ${PG_SEED_INDEX_S} + ${PG_SEED_ANALYZE_S}), database $PG_DB_MB MB;"
echo "                                          SQLite ${SQ_SEED_S}s (${SQ_SEED_LOAD_S} + ${SQ_SEED_INDEX_S} + ${SQ_SEED_ANALYZE_S}), ohi.db $SQ_DB_MB MB"
echo "$N sequential SearchImageSets per kind, Go SDK + SigV4 over loopback, default page size (50)"
row "" "PostgreSQL" "" "" "SQLite" "" ""
row "query" "p50 ms" "p99 ms" "req/s" "p50 ms" "p99 ms" "req/s"
kind "no filter (updatedAt DESC)" NO_FILTER
kind "EQUAL DICOMPatientId" PATIENTID_EQUAL
kind "EQUAL DICOMStudyInstanceUID" STUDYUID_EQUAL
row "BETWEEN createdAt (1 day) [$N_SLOW requests]" "$PGC_CREATEDAT_BETWEEN_1D_P50_MS" "$PGC_CREATEDAT_BETWEEN_1D_P99_MS" "$PGC_CREATEDAT_BETWEEN_1D_RPS" \
	"$SQC_CREATEDAT_BETWEEN_1D_P50_MS" "$SQC_CREATEDAT_BETWEEN_1D_P99_MS" "$SQC_CREATEDAT_BETWEEN_1D_RPS"
kind "BETWEEN StudyDateAndTime (30 d), sorted ASC" STUDYDATE_BETWEEN_30D_SORTED
kind "EQUAL isPrimary" ISPRIMARY_EQUAL
kind "no filter, pages 1-20 via nextToken (per page)" NO_FILTER_PAGES_1_20
row "overall, without BETWEEN createdAt" "$PG_ALL_P50_MS" "$PG_ALL_P99_MS" "" "$SQ_ALL_P50_MS" "$SQ_ALL_P99_MS" ""
row "BETWEEN createdAt, PG force_custom_plan [$N]" "$PGW_CREATEDAT_BETWEEN_1D_P50_MS" "$PGW_CREATEDAT_BETWEEN_1D_P99_MS" "$PGW_CREATEDAT_BETWEEN_1D_RPS" "" "" ""
echo "   ohi serve peak RSS: PostgreSQL $PG_PEAK_RSS_MB MB, SQLite $SQ_PEAK_RSS_MB MB (the PostgreSQL server's own memory is not included)"
echo "total time ${SECONDS}s; load average at start $LOAD_START, at end $(cut -d" " -f1-3 /proc/loadavg)"
echo "================================================================"
