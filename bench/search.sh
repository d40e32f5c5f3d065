#!/usr/bin/env bash
# bench/search.sh: SearchImageSets latency of ohi, and lookups on Orthanc.
#
# Part A, 100,000 image sets (ohi only): `ohibench seed` writes a data store
# with 100,000 image sets (about 40,000 studies of 20,000 patients, study dates
# over 16 years, creation times over 2 years, ~1% non-primary, ~10% with a
# second version) straight into DATADIR/ohi.db through sqlstore, before the
# server starts; then `ohi serve` runs on that directory and `ohibench search`
# sends 1,000 sequential SearchImageSets requests per query kind with the Go
# SDK (SigV4): no filter; EQUAL DICOMPatientId; EQUAL DICOMStudyInstanceUID;
# BETWEEN createdAt (1 day); BETWEEN DICOMStudyDateAndTime (30 days) sorted by
# it; EQUAL isPrimary; and 50 walks of pages 1-20 with nextToken.
#
# Part B, the same small dataset on both servers: 4,000 instances (1,000
# studies x 2 series x 2 instances of 64x64, 200 patients) imported into ohi
# with an import job and uploaded to Orthanc with POST /instances; then
# 1,000 sequential lookups per kind on each: ohi SearchImageSets (no filter,
# by patient, by study) against Orthanc /tools/find (Study level, Study by
# PatientID, Series by StudyInstanceUID; Expand, Limit 50).
#
# Usage: bash bench/search.sh   (from anywhere; takes about 3-4 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
trap bench_cleanup EXIT
SECONDS=0
LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)
N=${BENCH_SEARCH_N:-1000}

bench_init

log "A. Seeding 100,000 image sets into a fresh ohi database"
bigdir="$BENCH_WORK/ohi-100k"
mkdir -p "$bigdir"
timeout 300 "$OHIBENCH" seed -db "$bigdir/ohi.db" -image-sets 100000 -patients 20000 -seed 1 \
	-samples "$BENCH_WORK/big.json" -result "$RESULTS"
. "$RESULTS"
start_ohi "$bigdir"
log "A. SearchImageSets on 100,000 image sets"
timeout 480 "$OHIBENCH" search -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
	-datastore "$SEED_DATASTORE" -samples "$BENCH_WORK/big.json" -n "$N" -pid "$OHI_PID" \
	-prefix OHI_SEARCH -label "100,000 image sets" -result "$RESULTS"
stop_pid "$OHI_PID"
rm -rf "$bigdir"

log "B. The same 4,000-instance dataset on ohi and on Orthanc"
MID_DIR="$BENCH_CACHE/mid-1000x2x2-64-seed2"
if [ ! -f "$MID_DIR/.complete" ]; then
	rm -rf "$MID_DIR"
	timeout 120 "$OHI" synth --out "$MID_DIR" --studies 1000 --series 2 --instances 2 --rows 64 --cols 64 --patients 200 --seed 2
	touch "$MID_DIR/.complete"
fi
middir="$BENCH_WORK/ohi-mid"
mkdir -p "$middir/buckets/bench-in"
cp -al "$MID_DIR" "$middir/buckets/bench-in/mid" 2>/dev/null || cp -r "$MID_DIR" "$middir/buckets/bench-in/mid"
rm -f "$middir/buckets/bench-in/mid/.complete"
sync
start_ohi "$middir"
(
	# Only the lookups are reported from this run; keep the import figures apart.
	RESULTS="$BENCH_WORK/mid-import.env"
	timeout 300 "$OHIBENCH" import -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
		-input s3://bench-in/mid/ -dir "$middir/buckets/bench-in/mid" -pid "$OHI_PID" \
		-samples "$BENCH_WORK/mid.json" -result "$RESULTS"
)
. "$BENCH_WORK/mid-import.env"
timeout 300 "$OHIBENCH" search -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
	-datastore "$OHI_DATASTORE" -samples "$BENCH_WORK/mid.json" -kinds no-filter,patientId-equal,studyUID-equal \
	-n "$N" -prefix OHI_MID -label "4,000 instances, 2,000 image sets" -result "$RESULTS"
stop_pid "$OHI_PID"
rm -rf "$middir"

have_orthanc=0
if start_orthanc "$BENCH_WORK/orthanc"; then
	have_orthanc=1
	timeout 300 "$OHIBENCH" orthanc-upload -url "$ORTHANC_URL" -dir "$MID_DIR" -clients 2 -pid "$ORTHANC_PID" \
		-result "$BENCH_WORK/mid-orthanc.env"
	timeout 300 "$OHIBENCH" orthanc-find -url "$ORTHANC_URL" -samples "$BENCH_WORK/mid.json" -n "$N" \
		-label "4,000 instances, 2,000 series" -result "$RESULTS"
	stop_pid "$ORTHANC_PID"
fi
. "$RESULTS"
[ "$have_orthanc" = 0 ] || . "$BENCH_WORK/mid-orthanc.env"

row() { printf '  %-46s %8s %8s %7s\n' "$@"; }
echo
echo "==================== bench/search.sh summary ===================="
echo "date $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -sr), ohi $(git describe --tags --always --dirty 2>/dev/null || echo dev)"
echo "A. ohi SearchImageSets, $SEED_IMAGE_SETS image sets ($SEED_STUDIES studies, $SEED_PATIENTS patients; seeded in ${SEED_S}s),"
echo "   $N sequential requests per kind, Go SDK + SigV4 over loopback, 50 results per page"
row "query" "p50 ms" "p99 ms" "req/s"
row "no filter (updatedAt DESC)" "$OHI_SEARCH_NO_FILTER_P50_MS" "$OHI_SEARCH_NO_FILTER_P99_MS" "$OHI_SEARCH_NO_FILTER_RPS"
row "EQUAL DICOMPatientId" "$OHI_SEARCH_PATIENTID_EQUAL_P50_MS" "$OHI_SEARCH_PATIENTID_EQUAL_P99_MS" "$OHI_SEARCH_PATIENTID_EQUAL_RPS"
row "EQUAL DICOMStudyInstanceUID" "$OHI_SEARCH_STUDYUID_EQUAL_P50_MS" "$OHI_SEARCH_STUDYUID_EQUAL_P99_MS" "$OHI_SEARCH_STUDYUID_EQUAL_RPS"
row "BETWEEN createdAt (1 day)" "$OHI_SEARCH_CREATEDAT_BETWEEN_1D_P50_MS" "$OHI_SEARCH_CREATEDAT_BETWEEN_1D_P99_MS" "$OHI_SEARCH_CREATEDAT_BETWEEN_1D_RPS"
row "BETWEEN StudyDateAndTime (30 d), sorted ASC" "$OHI_SEARCH_STUDYDATE_BETWEEN_30D_SORTED_P50_MS" "$OHI_SEARCH_STUDYDATE_BETWEEN_30D_SORTED_P99_MS" "$OHI_SEARCH_STUDYDATE_BETWEEN_30D_SORTED_RPS"
row "EQUAL isPrimary" "$OHI_SEARCH_ISPRIMARY_EQUAL_P50_MS" "$OHI_SEARCH_ISPRIMARY_EQUAL_P99_MS" "$OHI_SEARCH_ISPRIMARY_EQUAL_RPS"
row "no filter, pages 1-20 via nextToken (per page)" "$OHI_SEARCH_NO_FILTER_PAGES_1_20_P50_MS" "$OHI_SEARCH_NO_FILTER_PAGES_1_20_P99_MS" "$OHI_SEARCH_NO_FILTER_PAGES_1_20_RPS"
row "overall" "$OHI_SEARCH_ALL_P50_MS" "$OHI_SEARCH_ALL_P99_MS" ""
echo "   server peak RSS: $OHI_SEARCH_PEAK_RSS_MB MB"
echo "B. same dataset on both: $OHI_IMPORT_FILES instances, $OHI_IMPORT_IMAGE_SETS series/image sets, 1,000 studies, 200 patients"
echo "   (a different, smaller dataset than A), $N sequential requests per kind, one keep-alive connection"
row "query" "p50 ms" "p99 ms" "req/s"
row "ohi SearchImageSets no filter" "$OHI_MID_NO_FILTER_P50_MS" "$OHI_MID_NO_FILTER_P99_MS" "$OHI_MID_NO_FILTER_RPS"
row "ohi SearchImageSets EQUAL DICOMPatientId" "$OHI_MID_PATIENTID_EQUAL_P50_MS" "$OHI_MID_PATIENTID_EQUAL_P99_MS" "$OHI_MID_PATIENTID_EQUAL_RPS"
row "ohi SearchImageSets EQUAL StudyInstanceUID" "$OHI_MID_STUDYUID_EQUAL_P50_MS" "$OHI_MID_STUDYUID_EQUAL_P99_MS" "$OHI_MID_STUDYUID_EQUAL_RPS"
if [ "$have_orthanc" = 1 ]; then
	row "Orthanc /tools/find Study, no filter" "$ORTHANC_FIND_STUDY_ALL_P50_MS" "$ORTHANC_FIND_STUDY_ALL_P99_MS" "$ORTHANC_FIND_STUDY_ALL_RPS"
	row "Orthanc /tools/find Study by PatientID" "$ORTHANC_FIND_STUDY_BY_PATIENTID_P50_MS" "$ORTHANC_FIND_STUDY_BY_PATIENTID_P99_MS" "$ORTHANC_FIND_STUDY_BY_PATIENTID_RPS"
	row "Orthanc /tools/find Series by StudyInstanceUID" "$ORTHANC_FIND_SERIES_BY_STUDYUID_P50_MS" "$ORTHANC_FIND_SERIES_BY_STUDYUID_P99_MS" "$ORTHANC_FIND_SERIES_BY_STUDYUID_RPS"
	echo "   ratio ohi/Orthanc p50 (below 1: ohi faster): no filter $(ratio "$OHI_MID_NO_FILTER_P50_MS" "$ORTHANC_FIND_STUDY_ALL_P50_MS")," \
		"patient $(ratio "$OHI_MID_PATIENTID_EQUAL_P50_MS" "$ORTHANC_FIND_STUDY_BY_PATIENTID_P50_MS")," \
		"study $(ratio "$OHI_MID_STUDYUID_EQUAL_P50_MS" "$ORTHANC_FIND_SERIES_BY_STUDYUID_P50_MS")," \
		"overall $(ratio "$OHI_MID_ALL_P50_MS" "$ORTHANC_FIND_ALL_P50_MS")"
	echo "   loading this dataset (4,000 files of 10 KB, 2,000 series): ohi import job $OHI_IMPORT_IPS inst/s" \
		"(peak RSS $OHI_IMPORT_PEAK_RSS_MB MB), Orthanc POST /instances x2 $ORTHANC_UPLOAD_IPS inst/s" \
		"(peak RSS $ORTHANC_UPLOAD_PEAK_RSS_MB MB); ratio ohi/Orthanc $(ratio "$OHI_IMPORT_IPS" "$ORTHANC_UPLOAD_IPS")"
else
	echo "   Orthanc: not installed, no comparison"
fi
echo "total time ${SECONDS}s; load average at start $LOAD_START, at end $(cut -d" " -f1-3 /proc/loadavg)"
echo "================================================================="
