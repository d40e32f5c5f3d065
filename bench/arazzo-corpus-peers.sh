#!/usr/bin/env bash
# bench/arazzo-corpus-peers.sh: validation agreement on the shared Arazzo
# corpus (../shared/arazzo-corpus) of `ohi workflow validate`, Redocly's
# `redocly lint` (the validator in front of Respect) and pb33f/libopenapi's
# arazzo.Validate, against the expected outcomes INDEX.md and the OAI 1.1
# schema suite state (the rules of TestCorpusValidation, which writes them).
#
# 1. Runs TestCorpusValidation with OHI_CORPUS_VERDICTS set: the expected
#    outcome of every document and ohi's error and warning counts.
# 2. Installs @redocly/cli with npm into .cache/arazzo-respect (as
#    bench/arazzo-respect.sh does) and lints every document, one process per
#    document; a document with an error (exit status 1) is invalid.
# 3. Builds a small Go program in .cache/pb33f-probe against
#    github.com/pb33f/libopenapi (the newest version the module proxy here
#    serves) that parses each document and runs arazzo.Validate.
# 4. Prints, per corpus folder, how many documents each tool judges as
#    expected: valid = no error; invalid = an error; flagged (the OAI
#    characterization tests, a typed criterion without context) = an error
#    or a warning.
#
# Usage: bash bench/arazzo-corpus-peers.sh   (KEEP=1 keeps the work dir)
# Needs: go, node >= 20.19 and npm, python3. No network beyond the package
# registries; the corpus documents' remote sources are not fetched by ohi
# (its test refuses them); redocly lint does not resolve sources.
set -euo pipefail
cd "$(dirname "$0")/.."

REDOCLY_VERSION=${REDOCLY_VERSION:-2.77.0}
PB33F_VERSION=${PB33F_VERSION:-v0.40.0}
CORPUS=../shared/arazzo-corpus
CACHE=.cache

die() { echo "arazzo-corpus-peers: $*" >&2; exit 1; }
[ -f "$CORPUS/INDEX.md" ] || die "the corpus is absent ($CORPUS)"
for c in go node npm python3; do command -v "$c" >/dev/null || die "$c is required"; done

work=$(mktemp -d)
trap '[ "${KEEP:-}" = 1 ] && echo "work dir: $work" >&2 || rm -rf "$work"' EXIT

echo "== ohi (TestCorpusValidation)" >&2
OHI_CORPUS_VERDICTS="$work/ohi.tsv" go test -count=1 -run TestCorpusValidation ./arazzo/ >"$work/ohi-test.log" 2>&1 ||
	die "TestCorpusValidation failed: see $work/ohi-test.log"

REDOCLY=$CACHE/arazzo-respect/node_modules/.bin/redocly
if [ ! -x "$REDOCLY" ] || ! "$REDOCLY" --version 2>/dev/null | grep -qx "$REDOCLY_VERSION"; then
	echo "== installing @redocly/cli@$REDOCLY_VERSION" >&2
	timeout 300 npm install --prefix "$CACHE/arazzo-respect" --no-audit --no-fund --loglevel=error "@redocly/cli@$REDOCLY_VERSION" >&2
fi
echo "== redocly lint $("$REDOCLY" --version)" >&2
: >"$work/redocly.tsv"
cut -f1 "$work/ohi.tsv" | while read -r rel; do
	out=$(timeout 60 "$REDOCLY" lint "$CORPUS/$rel" 2>&1) && rc=0 || rc=$?
	warn=0
	grep -q "warning" <<<"$out" && warn=1
	printf '%s\t%s\t%s\n' "$rel" "$rc" "$warn" >>"$work/redocly.tsv"
done

echo "== pb33f/libopenapi $PB33F_VERSION" >&2
probe=$CACHE/pb33f-probe
mkdir -p "$probe"
cat >"$probe/main.go" <<'EOF'
// Command pb33f-probe validates Arazzo documents with pb33f/libopenapi and
// prints "path<TAB>errors<TAB>warnings" per document (errors -1: does not
// parse).
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/arazzo"
)

func main() {
	root := os.Args[1]
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		rel := sc.Text()
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			fmt.Printf("%s\t-1\t0\n", rel)
			continue
		}
		errs, warns := func() (e, w int) {
			defer func() {
				if recover() != nil {
					e = -1
				}
			}()
			doc, err := libopenapi.NewArazzoDocument(data)
			if err != nil || doc == nil {
				return -1, 0
			}
			res := arazzo.Validate(doc)
			if res == nil {
				return 0, 0
			}
			if res.HasErrors() {
				e = 1
			}
			if res.HasWarnings() {
				w = 1
			}
			return e, w
		}()
		fmt.Printf("%s\t%d\t%d\n", rel, errs, warns)
	}
}
EOF
if [ ! -f "$probe/go.mod" ]; then
	(cd "$probe" && go mod init pb33fprobe >/dev/null 2>&1)
fi
(cd "$probe" && go get "github.com/pb33f/libopenapi@$PB33F_VERSION" >/dev/null 2>&1 && go mod tidy >/dev/null 2>&1 && go build -o probe .) ||
	die "building the pb33f probe failed"
cut -f1 "$work/ohi.tsv" | "$probe/probe" "$CORPUS" >"$work/pb33f.tsv"

python3 - "$work" <<'EOF'
import sys, collections
work = sys.argv[1]
def read(name):
    with open(f"{work}/{name}") as f:
        return {l.split("\t")[0]: l.rstrip("\n").split("\t")[1:] for l in f if l.strip()}
ohi, red, pb = read("ohi.tsv"), read("redocly.tsv"), read("pb33f.tsv")
def agrees(exp, err, warn):
    if exp == "valid": return not err
    if exp == "invalid": return err
    if exp == "flagged": return err or warn
    return None
tally = collections.defaultdict(lambda: collections.Counter())
for path, (exp, oe, ow) in ohi.items():
    if exp == "unknown":
        continue
    g = path.split("/")[0]
    if "/tests/schema/" in path:
        g = "OAI 1.1 schema suite (pass + fail)"
    tally[g]["n"] += 1
    tally["all"]["n"] += 1
    res = {
        "ohi": agrees(exp, int(oe) > 0, int(ow) > 0),
        "redocly": agrees(exp, red[path][0] != "0", red[path][1] == "1"),
        "pb33f": agrees(exp, pb[path][0] != "0", pb[path][1] == "1"),
    }
    for k, v in res.items():
        if v:
            tally[g][k] += 1
            tally["all"][k] += 1
print("| corpus folder | documents | ohi | Respect (redocly lint) | pb33f arazzo.Validate |")
print("|---|---|---|---|---|")
for g in sorted(tally, key=lambda g: (g == "all", g)):
    t = tally[g]
    print(f"| {g} | {t['n']} | {t['ohi']} | {t['redocly']} | {t['pb33f']} |")
EOF
