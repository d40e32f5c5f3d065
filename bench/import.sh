#!/usr/bin/env bash
# bench/import.sh: import throughput of ohi against Orthanc on this machine.
#
# 1. Generates a 1,000-instance 512x512 16-bit CT series with `ohi synth`
#    (once, cached in .cache/bench/).
# 2. Starts `ohi serve` on a fresh data directory (SigV4 on, loopback, free
#    port), creates a data store and imports the series with
#    StartDICOMImportJob from s3://bench-in/ct/ (= DATADIR/buckets/bench-in/ct,
#    hard links to the cached files). Timed from the StartDICOMImportJob call
#    until GetDICOMImportJob (polled every 20 ms) reports COMPLETED; the
#    server's peak RSS is its VmHWM at that moment.
#    Every frame is transcoded to verified lossless HTJ2K on the way in, so
#    the job also reports MB/s of pixel data (decoded bytes) and MB of pixel
#    data per CPU second of the server (user + system from /proc/PID/stat).
# 3. Times SearchImageSets on that one-series data store.
# 4. `ohibench pixels` takes 50 frames spread over the series and, on one
#    core, times package codec's per-frame steps (decode, then
#    codec.Transcode: HTJ2K encode, verifying decode, checksums, min/max;
#    and the encode alone) and OpenJPH's ojph_compress
#    encoding the same frames from PGM files with the same parameters (its
#    own "Elapsed time", which is CPU time, file I/O included; median of 3
#    passes), on one thread and with 2 at once (as the import runs). The import's pixel MB
#    per server CPU second is then compared with OpenJPH's encode MB per CPU
#    second. Steps 2 and 4 alternate for ROUNDS rounds (default 3) and the
#    median round's ratio is reported, so that the drift in CPU speed of a
#    shared machine does not land in the ratio.
# 5. Stops ohi, starts Orthanc with its own configuration on a free loopback
#    port, uploads the same files with POST /instances from 2 parallel
#    keep-alive clients (ohi's import job also reads 2 files at a time: one
#    per CPU), and times /tools/find on the same data.
#
# The two imports are not the same operation: ohi's job reads the files from
# its local bucket directory, while Orthanc receives every file over HTTP
# from a client that shares the same 2 CPUs. The summary says so.
#
# Usage: [ROUNDS=3] bash bench/import.sh   (from anywhere; takes about 1-2 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
trap bench_cleanup EXIT
SECONDS=0
LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)

bench_init
ensure_series

have_ojph=0
ojph=$(command -v ojph_compress || true)
[ -n "$ojph" ] && have_ojph=1 || echo "bench: ojph_compress missing (apt-get install openjph-tools); no OpenJPH comparison" >&2

# The import and OpenJPH's encode are timed in alternation, ROUNDS times, and
# the ratio of each round is kept: on a shared machine the CPU speed drifts
# by tens of percent within a minute, which a single pair of measurements
# taken a minute apart would fold into the ratio. The median round is
# reported.
ROUNDS=${ROUNDS:-3}
round_ratios=()
codec_ratios=()
for round in $(seq "$ROUNDS"); do
	log "round $round/$ROUNDS: ohi import job of the series"
	# Each round imports into a data directory of its own, and none is
	# deleted before the script ends: on ext4 without a journal (this VM's
	# root file system) the allocator skips inodes freed in the last few
	# minutes one by one, so creating files right after deleting thousands
	# costs several times more kernel time than on a server that keeps its
	# data (5% of the import's CPU time, measured with perf).
	ohidir="$BENCH_WORK/ohi-$round"
	link_input "$SERIES_DIR" "$ohidir" ct
	sync
	start_ohi "$ohidir"
	timeout 360 "$OHIBENCH" import -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
		-input s3://bench-in/ct/ -dir "$ohidir/buckets/bench-in/ct" -pid "$OHI_PID" \
		-samples "$BENCH_WORK/series.json" -result "$RESULTS"
	. "$RESULTS"
	if [ "$round" = 1 ]; then
		log "ohi: SearchImageSets on the imported series (1 patient, 1 study, 1 image set)"
		timeout 300 "$OHIBENCH" search -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
			-datastore "$OHI_DATASTORE" -samples "$BENCH_WORK/series.json" -kinds no-filter,patientId-equal,studyUID-equal \
			-n 1000 -prefix OHI_SMALL -label "1,000-instance series" -result "$RESULTS"
	fi
	stop_pid "$OHI_PID"
	OHI_STORED_MB=$(du -sb "$ohidir/blobs" | awk '{printf "%.0f", $1 / 1e6}')
	echo "OHI_IMPORT_ROUND_${round}_MB_PER_CPU_S=$OHI_IMPORT_PIXEL_MB_PER_CPU_S" >>"$RESULTS"

	log "round $round/$ROUNDS: codec steps and OpenJPH's ojph_compress on 50 frames of the series"
	timeout 300 "$OHIBENCH" pixels -dir "$SERIES_DIR" -sample 50 -passes 3 -ojph "$ojph" -result "$RESULTS"
	. "$RESULTS"
	if [ "$have_ojph" = 1 ]; then
		round_ratios+=("$(ratio "$OHI_IMPORT_PIXEL_MB_PER_CPU_S" "$OJPH_ENCODE_MBPS_PAR")")
		codec_ratios+=("$(ratio "$CODEC_PIPELINE_MBPS_PAR" "$OJPH_ENCODE_MBPS_PAR")")
		echo "round $round: import ${OHI_IMPORT_PIXEL_MB_PER_CPU_S} MB per CPU s, ojph_compress ${OJPH_ENCODE_MBPS_PAR} MB/s per process," \
			"ratio ${round_ratios[-1]} (codec steps ${codec_ratios[-1]})"
	fi
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

have_orthanc=0
sync
if start_orthanc "$BENCH_WORK/orthanc"; then
	have_orthanc=1
	log "Orthanc: POST /instances of the same files, 2 keep-alive clients"
	timeout 360 "$OHIBENCH" orthanc-upload -url "$ORTHANC_URL" -dir "$SERIES_DIR" -clients 2 -pid "$ORTHANC_PID" -result "$RESULTS"
	log "Orthanc: /tools/find on the same series"
	timeout 300 "$OHIBENCH" orthanc-find -url "$ORTHANC_URL" -samples "$BENCH_WORK/series.json" -n 1000 \
		-label "1,000-instance series" -result "$RESULTS"
	stop_pid "$ORTHANC_PID"
	ORTHANC_STORED_MB=$(du -sb "$BENCH_WORK/orthanc/storage" | awk '{printf "%.0f", $1 / 1e6}')
fi
. "$RESULTS"

echo
echo "==================== bench/import.sh summary ===================="
echo "date $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -sr), ohi $(git describe --tags --always --dirty 2>/dev/null || echo dev)"
echo "input: $OHI_IMPORT_FILES instances, 512x512 16-bit CT, $OHI_IMPORT_MB MB (ohi synth --seed 1)"
printf '%-34s %9s %8s %8s %9s %8s %9s\n' "" "inst/s" "MB/s" "wall s" "peakRSS" "CPU s" "stored"
printf '%-34s %9s %8s %8s %6s MB %8s %6s MB\n' "ohi import job (local bucket dir)" "$OHI_IMPORT_IPS" "$OHI_IMPORT_MBPS" \
	"$OHI_IMPORT_WALL_S" "$OHI_IMPORT_PEAK_RSS_MB" "$OHI_IMPORT_CPU_S" "$OHI_STORED_MB"
if [ "$have_orthanc" = 1 ]; then
	printf '%-34s %9s %8s %8s %6s MB %8s %6s MB\n' "Orthanc POST /instances (HTTP, 2c)" "$ORTHANC_UPLOAD_IPS" "$ORTHANC_UPLOAD_MBPS" \
		"$ORTHANC_UPLOAD_WALL_S" "$ORTHANC_UPLOAD_PEAK_RSS_MB" "$ORTHANC_UPLOAD_CPU_S" "$ORTHANC_STORED_MB"
	echo "ratio ohi/Orthanc, instances/s: $(ratio "$OHI_IMPORT_IPS" "$ORTHANC_UPLOAD_IPS")  (peak RSS: $(ratio "$OHI_IMPORT_PEAK_RSS_MB" "$ORTHANC_UPLOAD_PEAK_RSS_MB"))"
	echo "note: ohi reads the files from its local bucket directory; Orthanc receives them over HTTP"
	echo "      from a client on the same 2 CPUs. Not the same operation; Orthanc's figure is as measured."
else
	echo "Orthanc: not installed, no comparison"
fi
echo "pixel data (decoded): $OHI_IMPORT_FRAMES frames, $OHI_IMPORT_PIXEL_MB MB, stored as HTJ2K in $OHI_STORED_MB MB"
echo "  ohi import: $OHI_IMPORT_PIXEL_MBPS MB/s of pixel data over the wall time, using $OHI_IMPORT_CORES cores on average"
echo "  ohi import per core: $OHI_IMPORT_PIXEL_MB_PER_CPU_S MB of pixel data per server CPU second (read, parse, decode,"
echo "    HTJ2K encode, verifying decode + checksums, min/max, blob writes + fsync, metadata, SQLite)"
echo "  package codec on 50 sample frames, CPU time: encode alone $CODEC_ENCODE_MBPS MB/s, Transcode (encode + verifying decode"
echo "    + checksums + min/max) $CODEC_TRANSCODE_MBPS MB/s, decode + Transcode $CODEC_PIPELINE_MBPS MB/s on 1 thread, $CODEC_PIPELINE_MBPS_PAR MB/s per thread with 2 at once;" \
	"$CODEC_HTJ2K_KB KB a frame"
if [ "$have_ojph" = 1 ]; then
	echo "  OpenJPH ojph_compress, same frames and parameters, its CPU time: $OJPH_ENCODE_MBPS MB/s in 1 process," \
		"$OJPH_ENCODE_MBPS_PAR MB/s per process with 2 at once ($OJPH_HTJ2K_KB KB a frame)"
	echo "  ratio to OpenJPH's encode per core, 2 at once (target >= 0.8), median of $ROUNDS rounds: import $(median "${round_ratios[@]}")" \
		"(rounds: ${round_ratios[*]}), codec steps $(median "${codec_ratios[@]}") (rounds: ${codec_ratios[*]})"
	echo "  last round: encode alone $(ratio "$CODEC_ENCODE_MBPS_PAR" "$OJPH_ENCODE_MBPS_PAR") with 2 at once," \
		"$(ratio "$CODEC_ENCODE_MBPS" "$OJPH_ENCODE_MBPS") on 1 thread; codec steps on 1 thread $(ratio "$CODEC_PIPELINE_MBPS" "$OJPH_ENCODE_MBPS")"
fi
echo "lookups on this one series, 1,000 sequential requests each, p50 / p99 ms:"
printf '  %-44s %13s\n' "ohi SearchImageSets no filter" "$OHI_SMALL_NO_FILTER_P50_MS / $OHI_SMALL_NO_FILTER_P99_MS"
printf '  %-44s %13s\n' "ohi SearchImageSets EQUAL DICOMPatientId" "$OHI_SMALL_PATIENTID_EQUAL_P50_MS / $OHI_SMALL_PATIENTID_EQUAL_P99_MS"
printf '  %-44s %13s\n' "ohi SearchImageSets EQUAL StudyInstanceUID" "$OHI_SMALL_STUDYUID_EQUAL_P50_MS / $OHI_SMALL_STUDYUID_EQUAL_P99_MS"
if [ "$have_orthanc" = 1 ]; then
	printf '  %-44s %13s\n' "Orthanc /tools/find Study, no filter" "$ORTHANC_FIND_STUDY_ALL_P50_MS / $ORTHANC_FIND_STUDY_ALL_P99_MS"
	printf '  %-44s %13s\n' "Orthanc /tools/find Study by PatientID" "$ORTHANC_FIND_STUDY_BY_PATIENTID_P50_MS / $ORTHANC_FIND_STUDY_BY_PATIENTID_P99_MS"
	printf '  %-44s %13s\n' "Orthanc /tools/find Series by StudyInstUID" "$ORTHANC_FIND_SERIES_BY_STUDYUID_P50_MS / $ORTHANC_FIND_SERIES_BY_STUDYUID_P99_MS"
	echo "  ratio ohi/Orthanc p50 (below 1: ohi faster): no filter $(ratio "$OHI_SMALL_NO_FILTER_P50_MS" "$ORTHANC_FIND_STUDY_ALL_P50_MS")," \
		"patient $(ratio "$OHI_SMALL_PATIENTID_EQUAL_P50_MS" "$ORTHANC_FIND_STUDY_BY_PATIENTID_P50_MS")," \
		"study $(ratio "$OHI_SMALL_STUDYUID_EQUAL_P50_MS" "$ORTHANC_FIND_SERIES_BY_STUDYUID_P50_MS")"
fi
echo "total time ${SECONDS}s; load average at start $LOAD_START, at end $(cut -d" " -f1-3 /proc/loadavg)"
echo "================================================================="
