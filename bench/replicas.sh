#!/usr/bin/env bash
# bench/replicas.sh: import throughput with 1, 2 and 3 `ohi serve` replicas
# sharing one PostgreSQL database and one S3-compatible service (moto_server),
# all on this machine.
#
# Input: 1,000 instances of 256x256, 16-bit (10 series of 100, one study),
# generated once with `ohi synth` into .cache/bench/. For each replica count R:
#   1. a fresh moto_server on a free loopback port (buckets ohi-storage,
#      bench-in, bench-out) and a fresh PostgreSQL database;
#   2. the input uploaded to s3://bench-in/replicas/ with the AWS CLI;
#   3. R replicas started with --database, --blob-store s3://ohi-storage/ohi/
#      and --s3-endpoint, default import workers (one per CPU each);
#   4. `ohibench import` on replica 1: CreateDatastore, StartDICOMImportJob,
#      GetDICOMImportJob every 20 ms until COMPLETED, then a check that all
#      1,000 instances are in the image sets. The wall time runs from the
#      StartDICOMImportJob call until COMPLETED is seen.
#   5. CPU time (user + system, /proc/PID/stat) of the replicas, moto_server
#      and every PostgreSQL process over the job, and the machine's busy time
#      (/proc/stat), which includes anything else running on the machine.
#
# All replicas, moto_server and PostgreSQL share the same CPUs (2 here), so
# more replicas cannot add CPU: one replica already reads 2 files at a time.
# The figures show what coordination across replicas costs or gains on one
# machine, not the scale-out of separate machines.
#
# Needs: PostgreSQL reachable as ${OHI_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres},
# psql, moto_server, the AWS CLI and python3. BENCH_REPLICAS sets the replica
# counts (default "1 2 3").
#
# Usage: bash bench/replicas.sh   (from anywhere; takes about 3-5 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ADMIN=${OHI_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DBS=()
replicas_cleanup() {
	bench_cleanup
	local db
	for db in "${DBS[@]}"; do psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
}
trap replicas_cleanup EXIT
SECONDS=0
LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)
COUNTS=${BENCH_REPLICAS:-1 2 3}
for c in psql moto_server aws python3; do
	command -v "$c" >/dev/null || die "$c is required"
done
psql "$ADMIN" -qc 'SELECT 1' >/dev/null || die "PostgreSQL is not reachable at $ADMIN (set OHI_PG_ADMIN)"

bench_init

INPUT="$BENCH_CACHE/replicas-10x100x256-seed3"
if [ ! -f "$INPUT/.complete" ]; then
	log "Generating 1,000 instances of 256x256 into $INPUT (once)"
	rm -rf "$INPUT"
	timeout 300 "$OHI" synth --out "$INPUT" --series 10 --instances 100 --rows 256 --cols 256 --bits 16 --seed 3
	touch "$INPUT/.complete"
fi
FILES=$(find "$INPUT" -name '*.dcm' | wc -l)
[ "$FILES" = 1000 ] || die "$INPUT holds $FILES files, want 1000 (delete it to regenerate)"
INPUT_MB=$(du -cb $(find "$INPUT" -name '*.dcm') | tail -1 | awk '{printf "%.1f", $1 / 1e6}')

# AWS SDK settings of the replicas and the AWS CLI: moto accepts any key.
export AWS_ACCESS_KEY_ID=replicas AWS_SECRET_ACCESS_KEY=replicas-secret AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

# ticks PID...: user + system clock ticks of the processes (0 for gone ones).
ticks() {
	local p t=0 v
	for p in "$@"; do
		v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)
		t=$((t + v))
	done
	echo "$t"
}
# pg_ticks: ticks of every PostgreSQL process (pid:ticks per line).
pg_ticks() {
	local p
	for p in $(pgrep -x postgres || true); do echo "$p:$(ticks "$p")"; done
}
# pg_delta BEFORE AFTER: ticks used between two pg_ticks samples (processes
# that started in between count fully).
pg_delta() {
	awk -F: 'NR == FNR { b[$1] = $2; next } { d += $2 - ($1 in b ? b[$1] : 0) } END { print d + 0 }' <(echo "$1") <(echo "$2")
}
# busy: busy clock ticks of the whole machine (all CPUs).
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
HZ=$(getconf CLK_TCK)

run() { # run R: one measurement with R replicas; sets R<R>_* variables
	local r=$1 port s3 db url i p
	log "$r replica(s): fresh PostgreSQL database and moto_server"
	port=$("$OHIBENCH" freeport)
	s3="http://127.0.0.1:$port"
	moto_server -H 127.0.0.1 -p "$port" >"$BENCH_WORK/moto-$r.log" 2>&1 &
	MOTO_PID=$!
	BENCH_PIDS+=("$MOTO_PID")
	for _ in $(seq 1 100); do curl -fs -o /dev/null "$s3/" && break; sleep 0.1; done
	curl -fs -o /dev/null "$s3/" || die "moto_server did not start"
	for b in ohi-storage bench-in bench-out; do aws --endpoint-url "$s3" s3 mb "s3://$b" >/dev/null; done
	db="ohi_replicas_bench_$$_$r"
	DBS+=("$db")
	psql "$ADMIN" -qc "CREATE DATABASE $db" >/dev/null
	url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$ADMIN" "$db")
	log "$r replica(s): uploading the input to s3://bench-in/replicas/"
	aws --endpoint-url "$s3" s3 cp --recursive --quiet --exclude .complete "$INPUT" s3://bench-in/replicas/
	local pids=() urls=()
	for i in $(seq 1 "$r"); do
		start_ohi "$BENCH_WORK/r$r-$i" --database "$url" --blob-store s3://ohi-storage/ohi/ --s3-endpoint "$s3"
		pids+=("$OHI_PID")
		urls+=("$OHI_URL")
	done
	echo "replicas: ${urls[*]} (pids ${pids[*]}), moto_server pid $MOTO_PID at $s3"
	log "$r replica(s): import of $FILES files through replica 1"
	local t_ohi t_moto t_pg t_busy t0
	t_ohi=$(ticks "${pids[@]}")
	t_moto=$(ticks "$MOTO_PID")
	t_pg=$(pg_ticks)
	t_busy=$(busy)
	t0=$(date +%s.%N)
	: >"$BENCH_WORK/import-$r.env"
	timeout 600 "$OHIBENCH" import -endpoint "${urls[0]}" -access-key "$BENCH_AK" -secret "$BENCH_SK" \
		-input s3://bench-in/replicas/ -dir "$INPUT" -pid "${pids[0]}" -timeout 9m -result "$BENCH_WORK/import-$r.env"
	local d_ohi d_moto d_pg d_busy
	d_ohi=$(($(ticks "${pids[@]}") - t_ohi))
	d_moto=$(($(ticks "$MOTO_PID") - t_moto))
	d_pg=$(pg_delta "$t_pg" "$(pg_ticks)")
	d_busy=$(($(busy) - t_busy))
	t0=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	. "$BENCH_WORK/import-$r.env"
	local tasks=()
	for i in $(seq 1 "$r"); do tasks+=("$(grep -c 'msg="import task done"' "$BENCH_WORK/r$r-$i/server.log" || true)"); done
	local per
	per=$(IFS=/; echo "${tasks[*]}")
	eval "R${r}_WALL=$OHI_IMPORT_WALL_S R${r}_IPS=$OHI_IMPORT_IPS R${r}_TASKS=$per"
	eval "R${r}_CPU_OHI=$(awk -v t="$d_ohi" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')"
	eval "R${r}_CPU_MOTO=$(awk -v t="$d_moto" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')"
	eval "R${r}_CPU_PG=$(awk -v t="$d_pg" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')"
	eval "R${r}_CPU_ALL=$(awk -v t="$((d_ohi + d_moto + d_pg))" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')"
	eval "R${r}_BUSY=$(awk -v t="$d_busy" -v hz="$HZ" -v w="$t0" 'BEGIN { printf "%.2f", t / hz / w }')"
	eval "R${r}_IPCS_OHI=$(awk -v n="$FILES" -v t="$d_ohi" -v hz="$HZ" 'BEGIN { printf "%.0f", n / (t / hz) }')"
	eval "R${r}_IPCS=$(awk -v n="$FILES" -v t="$((d_ohi + d_moto + d_pg))" -v hz="$HZ" 'BEGIN { printf "%.1f", n / (t / hz) }')"
	echo "import task done per replica: $per"
	for p in "${pids[@]}" "$MOTO_PID"; do stop_pid "$p"; done
	psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
}

for r in $COUNTS; do run "$r"; done

row() { printf '  %-9s %7s %8s %8s %8s %-10s %6s %6s %6s %8s %8s %6s\n' "$@"; }
echo
echo "==================== bench/replicas.sh summary ===================="
echo "date $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -sr), ohi $(git describe --tags --always --dirty 2>/dev/null || echo dev)"
echo "input: $FILES instances of 256x256 16-bit in 10 series ($INPUT_MB MB), imported from moto S3 into moto S3 + PostgreSQL"
echo "every replica, moto_server and PostgreSQL run on the same $(nproc) CPUs: more replicas add no CPU"
row "replicas" "wall s" "inst/s" "speedup" "inst/s" "tasks per" "CPU s" "CPU s" "CPU s" "inst per" "inst per" "busy"
row "" "" "" "vs 1" "per CPU" "replica" "ohi" "moto" "PG" "CPU s" "ohi CPU s" "CPUs"
base=
for r in $COUNTS; do
	eval "wall=\$R${r}_WALL ips=\$R${r}_IPS tasks=\$R${r}_TASKS cohi=\$R${r}_CPU_OHI cmoto=\$R${r}_CPU_MOTO cpg=\$R${r}_CPU_PG ipcs=\$R${r}_IPCS ipcso=\$R${r}_IPCS_OHI bsy=\$R${r}_BUSY"
	[ -n "$base" ] || base=$ips
	row "$r" "$wall" "$ips" "$(ratio "$ips" "$base")" "$(awk -v a="$ips" -v n="$(nproc)" 'BEGIN { printf "%.1f", a / n }')" \
		"$tasks" "$cohi" "$cmoto" "$cpg" "$ipcs" "$ipcso" "$bsy"
done
echo "  inst/s per CPU = inst/s / $(nproc) CPUs of the machine; inst per CPU s = instances / CPU seconds of ohi + moto + PostgreSQL"
echo "  (inst per ohi CPU s: of the replicas alone); CPU and busy figures span the whole ohibench run (data store creation,"
echo "  import, and the check walk); busy CPUs = the machine's busy time over that run, including any other work on the machine"
echo "total time ${SECONDS}s; load average at start $LOAD_START, at end $(cut -d" " -f1-3 /proc/loadavg)"
echo "=================================================================="
