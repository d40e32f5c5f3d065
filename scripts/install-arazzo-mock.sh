#!/usr/bin/env bash
# install-arazzo-mock.sh installs Prism (@stoplight/prism-cli), the mock
# server that TestCorpusExecution starts on loopback for each OpenAPI
# description of the shared Arazzo corpus, into .cache/arazzo-mock (no
# global install). Idempotent: returns at once when it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PRISM_VERSION=${PRISM_VERSION:-5.16.0}
dir=.cache/arazzo-mock
if [ -x "$dir/node_modules/.bin/prism" ] && grep -q "\"version\": \"$PRISM_VERSION\"" "$dir/node_modules/@stoplight/prism-cli/package.json" 2>/dev/null; then
	exit 0
fi
command -v npm >/dev/null || { echo "install-arazzo-mock: npm is required" >&2; exit 1; }
mkdir -p "$dir"
echo "install-arazzo-mock: installing @stoplight/prism-cli@$PRISM_VERSION into $dir"
npm install --prefix "$dir" --no-audit --no-fund --silent "@stoplight/prism-cli@$PRISM_VERSION" >/dev/null
[ -x "$dir/node_modules/.bin/prism" ] || { echo "install-arazzo-mock: prism did not install" >&2; exit 1; }
