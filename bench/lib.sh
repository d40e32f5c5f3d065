# bench/lib.sh: helpers shared by the bench/*.sh scripts. Source
# it from the repository root. Every process started here is recorded and
# stopped by bench_cleanup (run it from an EXIT trap).

BENCH_CACHE=${BENCH_CACHE:-.cache/bench}
OHI=./bin/ohi
OHIBENCH=./bin/ohibench
BENCH_AK=bench
BENCH_SK=bench-secret
BENCH_PIDS=()
BENCH_WORK=

log() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "bench: $*" >&2; exit 1; }

# bench_init creates the work directory and builds the binaries.
bench_init() {
	command -v go >/dev/null || die "go is required"
	mkdir -p "$BENCH_CACHE"
	BENCH_WORK=$(mktemp -d "$BENCH_CACHE/run.XXXXXX")
	RESULTS="$BENCH_WORK/results.env"
	: >"$RESULTS"
	log "Building bin/ohi and bin/ohibench"
	go build -o "$OHI" ./cmd/ohi
	go build -o "$OHIBENCH" ./bench/cmd/ohibench
}

# stop_pid PID: SIGTERM, then SIGKILL after 15 s.
stop_pid() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	echo "bench: process $pid did not stop on SIGTERM; killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
}

bench_cleanup() {
	local pid
	for pid in "${BENCH_PIDS[@]}"; do stop_pid "$pid"; done
	[ -n "$BENCH_WORK" ] && rm -rf "$BENCH_WORK"
}

# synth_cached NAME FILES SYNTH-ARGS...: runs `ohi synth --out DIR SYNTH-ARGS`
# once into $BENCH_CACHE/NAME and checks that DIR holds FILES .dcm files.
# Sets SYNTH_DIR.
synth_cached() {
	local name=$1 want=$2 n
	shift 2
	SYNTH_DIR="$BENCH_CACHE/$name"
	if [ ! -f "$SYNTH_DIR/.complete" ]; then
		log "Generating $name into $SYNTH_DIR (once)"
		rm -rf "$SYNTH_DIR"
		timeout 600 "$OHI" synth --out "$SYNTH_DIR" "$@"
		touch "$SYNTH_DIR/.complete"
	fi
	n=$(find "$SYNTH_DIR" -name '*.dcm' | wc -l)
	[ "$n" = "$want" ] || die "$SYNTH_DIR holds $n files, want $want (delete it to regenerate)"
}

# ensure_series: a 1,000-instance 512x512 16-bit CT series, generated once
# into the cache. Sets SERIES_DIR.
ensure_series() {
	synth_cached ct-1000x512x512-seed1 1000 --instances 1000 --rows 512 --cols 512 --bits 16 --seed 1
	SERIES_DIR=$SYNTH_DIR
}

# link_input SRC DATADIR NAME: makes SRC readable by an ohi server on
# DATADIR as s3://bench-in/NAME/ (hard links when possible).
link_input() {
	local src=$1 dir=$2 name=$3
	mkdir -p "$dir/buckets/bench-in"
	cp -al "$src" "$dir/buckets/bench-in/$name" 2>/dev/null || cp -r "$src" "$dir/buckets/bench-in/$name"
	rm -f "$dir/buckets/bench-in/$name/.complete"
}

# start_ohi DATADIR [ARGS...]: starts ohi serve on a free loopback port with
# SigV4 on (key pair bench/bench-secret) and any extra serve flags ARGS.
# Sets OHI_PID and OHI_URL.
start_ohi() {
	local dir=$1 logf=$1/server.log
	shift
	mkdir -p "$dir"
	"$OHI" serve --listen 127.0.0.1:0 --data-dir "$dir" --access-key-id "$BENCH_AK" --secret-access-key "$BENCH_SK" \
		--log-format text "$@" >"$logf" 2>&1 &
	OHI_PID=$!
	BENCH_PIDS+=("$OHI_PID")
	OHI_URL=
	for _ in $(seq 1 300); do
		OHI_URL=$(grep -o 'endpoint=http://[0-9.:]*' "$logf" | head -1 | cut -d= -f2 || true)
		[ -n "$OHI_URL" ] && break
		kill -0 "$OHI_PID" 2>/dev/null || { cat "$logf" >&2; die "ohi serve exited"; }
		sleep 0.1
	done
	[ -n "$OHI_URL" ] || { cat "$logf" >&2; die "ohi serve did not start"; }
	echo "ohi serve pid $OHI_PID at $OHI_URL (data dir $dir)"
}

# start_orthanc DIR: starts Orthanc with its own configuration and storage
# in DIR on a free port; HTTP only (DICOM server off), remote access refused.
# Sets ORTHANC_PID and ORTHANC_URL. Returns 1 when Orthanc is not installed.
# ORTHANC_PLUGINS (JSON strings, e.g. the DICOMweb plugin's path) loads plugins.
start_orthanc() {
	local dir=$1 bin port
	bin=$(command -v Orthanc || true)
	[ -n "$bin" ] || [ ! -x /usr/sbin/Orthanc ] || bin=/usr/sbin/Orthanc
	if [ -z "$bin" ]; then
		echo "bench: Orthanc is not installed (apt-get install -y orthanc); skipping the Orthanc comparison" >&2
		return 1
	fi
	mkdir -p "$dir/storage"
	dir=$(cd "$dir" && pwd)
	port=$("$OHIBENCH" freeport)
	cat >"$dir/config.json" <<JSON
{
  "Name": "ohi-bench",
  "StorageDirectory": "$dir/storage",
  "IndexDirectory": "$dir/storage",
  "HttpServerEnabled": true,
  "HttpPort": $port,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomServerEnabled": false,
  "DicomPort": $("$OHIBENCH" freeport),
  "SaveJobs": false,
  "StorageCompression": false,
  "OverwriteInstances": true,
  "StorageAccessOnFind": "Never",
  "KeepAlive": true,
  "TcpNoDelay": true,
  "Plugins": [${ORTHANC_PLUGINS:-}],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/" }
}
JSON
	"$bin" "$dir/config.json" --logdir="$dir" >"$dir/stdout.log" 2>&1 &
	ORTHANC_PID=$!
	BENCH_PIDS+=("$ORTHANC_PID")
	ORTHANC_URL="http://127.0.0.1:$port"
	for _ in $(seq 1 200); do
		curl -fsS --max-time 2 "$ORTHANC_URL/system" >/dev/null 2>&1 && break
		kill -0 "$ORTHANC_PID" 2>/dev/null || { tail -n 20 "$dir/stdout.log" >&2; die "Orthanc exited"; }
		sleep 0.1
	done
	curl -fsS --max-time 2 "$ORTHANC_URL/system" >/dev/null || die "Orthanc did not start"
	echo "Orthanc $("$bin" --version | head -1 | awk '{print $2}') pid $ORTHANC_PID at $ORTHANC_URL (storage $dir/storage)"
}

# ratio A B: A/B with two decimals, or n/a.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
