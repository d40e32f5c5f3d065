#!/usr/bin/env bash
# bench/bigfile.sh: peak memory of `ohi serve` while it imports ONE large
# multi-frame file (target: peak RSS under 300 MB).
#
# 1. Checks that the file system of .cache/bench has at least 10 GB free
#    (the file, its hard link in the bucket and the stored HTJ2K frames);
#    otherwise it prints why and exits 0 without measuring.
# 2. Generates one Enhanced CT instance of BIGFILE_FRAMES (default 4,000)
#    512x512 16-bit frames with `ohi synth --frames N` (about 2.1 GB) in the
#    run directory; it is deleted at the end with everything else.
# 3. Starts `ohi serve` on a fresh data directory with GODEBUG=gctrace=1
#    and imports the file with an import job (StartDICOMImportJob from
#    s3://bench-in/big/, a hard link). The peak RSS is VmHWM from
#    /proc/PID/status when the job has COMPLETED (the process started
#    fresh, so it covers start-up and the import); the largest Go heap
#    comes from the gctrace lines of the server log (live heap after each
#    GC, and the heap size that triggered it).
#
# Usage: bash bench/bigfile.sh   (from anywhere; about 2-6 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
trap bench_cleanup EXIT
SECONDS=0
LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)
FRAMES=${BIGFILE_FRAMES:-4000}
TARGET_MB=300

mkdir -p "$BENCH_CACHE"
free_kb=$(df -Pk "$BENCH_CACHE" | awk 'NR == 2 {print $4}')
if [ "$free_kb" -lt $((10 * 1000 * 1000)) ]; then
	echo "bench/bigfile.sh: only $((free_kb / 1000)) MB free on the file system of $BENCH_CACHE; 10 GB are needed. Skipped."
	exit 0
fi

bench_init
log "Generating one instance of $FRAMES frames of 512x512 16-bit"
src="$BENCH_WORK/big-src"
timeout 600 "$OHI" synth --out "$src" --instances 1 --frames "$FRAMES" --rows 512 --cols 512 --bits 16 --seed 6 --workers 1
bigfile=$(find "$src" -name '*.dcm')
[ "$(echo "$bigfile" | wc -l)" = 1 ] || die "synth wrote $(echo "$bigfile" | wc -l) files, want 1"
FILE_MB=$(stat -c %s "$bigfile" | awk '{printf "%.0f", $1 / 1e6}')

log "ohi: import job of the $FILE_MB MB file"
ohidir="$BENCH_WORK/ohi"
link_input "$src" "$ohidir" big
rm -rf "$src"
sync
GODEBUG=gctrace=1 start_ohi "$ohidir"
timeout 1200 "$OHIBENCH" import -endpoint "$OHI_URL" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
	-input s3://bench-in/big/ -dir "$ohidir/buckets/bench-in/big" -pid "$OHI_PID" -timeout 19m -result "$RESULTS"
. "$RESULTS"
# gctrace: "gc N @t s P%: ... A->B->C MB, D MB goal, ..." (A heap at GC start,
# C live heap after it).
read -r GC_COUNT HEAP_PEAK_MB LIVE_PEAK_MB < <(grep -o '[0-9]*->[0-9]*->[0-9]* MB' "$ohidir/server.log" |
	awk -F'[->]+' '{ n++; a = $1 + 0; c = $3 + 0; if (a > ha) ha = a; if (c > hc) hc = c } END { print n + 0, ha + 0, hc + 0 }')
stop_pid "$OHI_PID"
STORED_MB=$(du -sb "$ohidir/blobs" | awk '{printf "%.0f", $1 / 1e6}')
rm -rf "$ohidir"

verdict="under the $TARGET_MB MB target"
[ "$OHI_IMPORT_PEAK_RSS_MB" -lt "$TARGET_MB" ] || verdict="OVER the $TARGET_MB MB target"
echo
echo "==================== bench/bigfile.sh summary ===================="
echo "date $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -sr), ohi $(git describe --tags --always --dirty 2>/dev/null || echo dev)"
echo "input: one Enhanced CT instance, $OHI_IMPORT_FRAMES frames of 512x512 16-bit, $FILE_MB MB ($OHI_IMPORT_PIXEL_MB MB of pixel data)"
echo "import job: $OHI_IMPORT_WALL_S s wall, $OHI_IMPORT_CPU_S s server CPU ($OHI_IMPORT_CORES cores), $OHI_IMPORT_PIXEL_MBPS MB/s of pixel data;" \
	"stored $STORED_MB MB"
echo "ohi serve peak RSS (VmHWM): $OHI_IMPORT_PEAK_RSS_MB MB, $verdict"
echo "Go heap (gctrace, $GC_COUNT GCs): largest heap at a GC start $HEAP_PEAK_MB MB, largest live heap after a GC $LIVE_PEAK_MB MB"
echo "total time ${SECONDS}s; load average at start $LOAD_START, at end $(cut -d" " -f1-3 /proc/loadavg)"
echo "=================================================================="
