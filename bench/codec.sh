#!/usr/bin/env bash
# codec.sh compares package codec's in-process HTJ2K encode and decode with
# OpenJPH's own command-line tools on the same 512x512 12-bit CT-like frame,
# one core each, and prints the throughput ratio (target: encode >= 0.8).
# Each side reports its best run (minimum time): on a shared, loaded machine
# the minimum is the least disturbed estimate of what the code costs.
#
#   bash bench/codec.sh [runs]     (default 20 tool runs; needs openjph-tools)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
command -v ojph_compress >/dev/null || { echo "codec.sh: ojph_compress missing (apt-get install openjph-tools)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pin=()
command -v taskset >/dev/null && pin=(taskset -c 1)

OHI_PHANTOM_PGM="$work/ct.pgm" go test -count=1 -run '^TestPhantomPGM$' ./codec/ >/dev/null
raw=$((512 * 512 * 2))

# ojph_* report "Elapsed time = X" in seconds (file I/O included, process
# start excluded); keep the best of $runs runs.
tool_mbps() {
	local best=1e9 t
	for _ in $(seq "$runs"); do
		t=$("${pin[@]}" "$@" 2>&1 | sed -n 's/.*[Ee]lapsed time = \([0-9.e+-]*\).*/\1/p')
		[ -n "$t" ] || { echo "codec.sh: $1 printed no elapsed time" >&2; exit 1; }
		best=$(awk -v a="$best" -v b="$t" 'BEGIN{print (b < a ? b : a)}')
	done
	awk -v r="$raw" -v s="$best" 'BEGIN{printf "%.1f", r/s/1e6}'
}
enc_tool=$(tool_mbps ojph_compress -i "$work/ct.pgm" -o "$work/ct.j2c" -reversible true -prog_order RPCL -num_decomps 3 -block_size "{64,64}")
dec_tool=$(tool_mbps ojph_expand -i "$work/ct.j2c" -o "$work/back.pgm")
cmp -s <(tail -c "$raw" "$work/ct.pgm") <(tail -c "$raw" "$work/back.pgm") || { echo "codec.sh: ojph round trip differs" >&2; exit 1; }

# Go: $runs benchmark runs of 10 operations each, best MB/s.
bench=$("${pin[@]}" go test -count="$runs" -run '^$' -bench 'EncodeHTJ2K|DecodeHTJ2K' -benchtime 10x -cpu 1 ./codec/)
best_go() { awk -v n="$1" '$1 ~ "^Benchmark"n {for(i=1;i<=NF;i++) if($(i+1)=="MB/s" && $i>b) b=$i} END{print b}' <<<"$bench"; }
enc_go=$(best_go EncodeHTJ2K)
dec_go=$(best_go DecodeHTJ2K)

printf '%-8s %12s %12s %8s\n' "" "ohi MB/s" "ojph MB/s" "ratio"
printf '%-8s %12s %12s %8.2f\n' encode "$enc_go" "$enc_tool" "$(awk -v a="$enc_go" -v b="$enc_tool" 'BEGIN{print a/b}')"
printf '%-8s %12s %12s %8.2f\n' decode "$dec_go" "$dec_tool" "$(awk -v a="$dec_go" -v b="$dec_tool" 'BEGIN{print a/b}')"
