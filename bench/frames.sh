#!/usr/bin/env bash
# bench/frames.sh: GetImageFrame latency and throughput of ohi against
# Orthanc's raw frame endpoint, on loopback, for 512x512 16-bit CT frames.
#
# 1. Generates a 250-instance 512x512 16-bit CT series with `ohi synth`
#    (once, cached in .cache/bench/; FRAMES_INSTANCES changes the count).
# 2. Starts `ohi serve` (SigV4 on) on a fresh data directory and imports the
#    series with an import job: every frame is transcoded to lossless HTJ2K.
# 3. `ohibench frames` lists the frames (SearchImageSets, GetImageSetMetadata)
#    and fetches every frame FRAMES_N times (default 4) with GetImageFrame:
#    - sequentially, from one Go SDK client (SigV4, keep-alive, host prefix
#      disabled, the loopback body-race workaround of ohibench);
#    - then the same number of requests from 2 concurrent clients, each on
#      its own keep-alive connection (frames/s);
#    - then one sequential pass that also decodes each HTJ2K frame to pixels
#      in the client (what a viewer pays to get the pixels ohi serves).
#    Every response is checked: Content-Type image/jph, the size the
#    metadata gives, an HTJ2K codestream (SOC, SIZ).
# 4. Stops ohi, starts Orthanc (its own configuration, loopback clients
#    only), uploads the same files, and fetches every instance's frame
#    FRAMES_N times with GET /instances/{id}/frames/0/raw the same two ways
#    (net/http, one keep-alive connection per client). Every response must
#    hold the 524,288 raw bytes of a frame.
#
# The payloads differ: ohi serves the HTJ2K codestream it stores (about
# 190 KB a frame for this synthetic series), Orthanc the raw native pixels
# (512 KB). The clients run on the same 2 CPUs as the servers.
#
# Usage: bash bench/frames.sh   (from anywhere; about 2 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
trap bench_cleanup EXIT
SECONDS=0
LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)
INSTANCES=${FRAMES_INSTANCES:-250}
N=${FRAMES_N:-4}

bench_init
synth_cached "ct-${INSTANCES}x512x512-seed4" "$INSTANCES" --instances "$INSTANCES" --rows 512 --cols 512 --bits 16 --seed 4
FRAMES_DIR=$SYNTH_DIR

log "ohi: import the series (frames transcoded to HTJ2K)"
ohidir="$BENCH_WORK/ohi"
link_input "$FRAMES_DIR" "$ohidir" ct
sync
start_ohi "$ohidir"
timeout 360 "$OHIBENCH" import -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
	-input s3://bench-in/ct/ -dir "$ohidir/buckets/bench-in/ct" -pid "$OHI_PID" -result "$RESULTS"
. "$RESULTS"

log "ohi: GetImageFrame, every frame $N times"
timeout 480 "$OHIBENCH" frames -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
	-datastore "$OHI_DATASTORE" -n "$N" -clients 2 -pid "$OHI_PID" -timeout 7m -result "$RESULTS"
OHI_FRAMES_PEAK_RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$OHI_PID/status")
stop_pid "$OHI_PID"
rm -rf "$ohidir"

have_orthanc=0
sync
if start_orthanc "$BENCH_WORK/orthanc"; then
	have_orthanc=1
	log "Orthanc: upload the same files"
	timeout 360 "$OHIBENCH" orthanc-upload -url "$ORTHANC_URL" -dir "$FRAMES_DIR" -clients 2 -pid "$ORTHANC_PID" \
		-result "$BENCH_WORK/orthanc-upload.env"
	log "Orthanc: GET /instances/{id}/frames/0/raw, every frame $N times"
	timeout 480 "$OHIBENCH" orthanc-frames -url "$ORTHANC_URL" -n "$N" -clients 2 -frame-bytes $((512 * 512 * 2)) \
		-pid "$ORTHANC_PID" -timeout 7m -result "$RESULTS"
	stop_pid "$ORTHANC_PID"
fi
. "$RESULTS"

echo
echo "==================== bench/frames.sh summary ===================="
echo "date $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -sr), ohi $(git describe --tags --always --dirty 2>/dev/null || echo dev)"
echo "input: $OHI_IMPORT_FILES instances, 512x512 16-bit CT (ohi synth --seed 4); each frame fetched $N times"
echo "ohi import of the series: ${OHI_IMPORT_WALL_S} s (${OHI_IMPORT_IPS} instances/s, frames transcoded to HTJ2K)"
printf '%-44s %8s %8s %9s %8s %9s %11s %11s\n' "" "p50 ms" "p99 ms" "frames/s" "MB/s" "KB/frame" "server CPU" "client CPU"
row() { printf '%-44s %8s %8s %9s %8s %9s %8s ms %8s ms\n' "$@"; }
row "ohi GetImageFrame, 1 client" "$OHI_FRAMES_SEQ_P50_MS" "$OHI_FRAMES_SEQ_P99_MS" "$OHI_FRAMES_SEQ_FPS" "$OHI_FRAMES_SEQ_MBPS" "$OHI_FRAMES_SEQ_KB" "$OHI_FRAMES_SEQ_SERVER_CPU_MS" "$OHI_FRAMES_SEQ_CLIENT_CPU_MS"
row "ohi GetImageFrame, 2 clients" "$OHI_FRAMES_PAR_P50_MS" "$OHI_FRAMES_PAR_P99_MS" "$OHI_FRAMES_PAR_FPS" "$OHI_FRAMES_PAR_MBPS" "$OHI_FRAMES_PAR_KB" "$OHI_FRAMES_PAR_SERVER_CPU_MS" "$OHI_FRAMES_PAR_CLIENT_CPU_MS"
row "ohi GetImageFrame + client decode, 1 client" "$OHI_FRAMES_DEC_P50_MS" "$OHI_FRAMES_DEC_P99_MS" "$OHI_FRAMES_DEC_FPS" "$OHI_FRAMES_DEC_MBPS" "$OHI_FRAMES_DEC_KB" "$OHI_FRAMES_DEC_SERVER_CPU_MS" "$OHI_FRAMES_DEC_CLIENT_CPU_MS"
if [ "$have_orthanc" = 1 ]; then
	row "Orthanc frames/0/raw, 1 client" "$ORTHANC_FRAMES_SEQ_P50_MS" "$ORTHANC_FRAMES_SEQ_P99_MS" "$ORTHANC_FRAMES_SEQ_FPS" "$ORTHANC_FRAMES_SEQ_MBPS" "$ORTHANC_FRAMES_SEQ_KB" "$ORTHANC_FRAMES_SEQ_SERVER_CPU_MS" "$ORTHANC_FRAMES_SEQ_CLIENT_CPU_MS"
	row "Orthanc frames/0/raw, 2 clients" "$ORTHANC_FRAMES_PAR_P50_MS" "$ORTHANC_FRAMES_PAR_P99_MS" "$ORTHANC_FRAMES_PAR_FPS" "$ORTHANC_FRAMES_PAR_MBPS" "$ORTHANC_FRAMES_PAR_KB" "$ORTHANC_FRAMES_PAR_SERVER_CPU_MS" "$ORTHANC_FRAMES_PAR_CLIENT_CPU_MS"
	echo "ratios ohi/Orthanc (latency below 1 and frames/s above 1: ohi better):"
	echo "  1 client:  p50 $(ratio "$OHI_FRAMES_SEQ_P50_MS" "$ORTHANC_FRAMES_SEQ_P50_MS"), p99 $(ratio "$OHI_FRAMES_SEQ_P99_MS" "$ORTHANC_FRAMES_SEQ_P99_MS"), frames/s $(ratio "$OHI_FRAMES_SEQ_FPS" "$ORTHANC_FRAMES_SEQ_FPS")"
	echo "  2 clients: p50 $(ratio "$OHI_FRAMES_PAR_P50_MS" "$ORTHANC_FRAMES_PAR_P50_MS"), p99 $(ratio "$OHI_FRAMES_PAR_P99_MS" "$ORTHANC_FRAMES_PAR_P99_MS"), frames/s $(ratio "$OHI_FRAMES_PAR_FPS" "$ORTHANC_FRAMES_PAR_FPS")"
	echo "  with the client's HTJ2K decode (ohi) against raw bytes (Orthanc), 1 client: p50 $(ratio "$OHI_FRAMES_DEC_P50_MS" "$ORTHANC_FRAMES_SEQ_P50_MS"), frames/s $(ratio "$OHI_FRAMES_DEC_FPS" "$ORTHANC_FRAMES_SEQ_FPS")"
	echo "  bytes per frame: $(ratio "$OHI_FRAMES_SEQ_KB" "$ORTHANC_FRAMES_SEQ_KB"); server CPU per frame: $(ratio "$OHI_FRAMES_SEQ_SERVER_CPU_MS" "$ORTHANC_FRAMES_SEQ_SERVER_CPU_MS"); client CPU per frame: $(ratio "$OHI_FRAMES_SEQ_CLIENT_CPU_MS" "$ORTHANC_FRAMES_SEQ_CLIENT_CPU_MS")"
	echo "note: ohi serves the stored lossless HTJ2K codestream (image/jph), Orthanc the raw native"
	echo "      pixels (application/octet-stream, 512 KB); the bytes on the wire differ, and a viewer"
	echo "      must decode ohi's frames (the '+ client decode' row). Clients share the 2 CPUs: the ohi
      client is the AWS SDK (SigV4 signing, middleware), Orthanc's plain net/http; CPU columns
      are per frame (server: /proc/PID/stat; client: getrusage of ohibench)."
else
	echo "Orthanc: not installed, no comparison"
fi
echo "ohi server peak RSS (VmHWM) over import and frames: $((OHI_FRAMES_PEAK_RSS_KB / 1000)) MB"
echo "total time ${SECONDS}s; load average at start $LOAD_START, at end $(cut -d" " -f1-3 /proc/loadavg)"
echo "================================================================="
