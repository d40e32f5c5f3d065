#!/usr/bin/env bash
# install-ohif.sh installs the OHIF viewer that `ohi serve` serves at
# /viewer: the built dist/ of the @ohif/app npm package, at the pinned
# version, into DEST (default bin/viewer, where `ohi serve` looks next to
# bin/ohi). The package is fetched with `npm pack` into the user cache once
# per version; DEST is replaced only when it holds another version. The
# viewer is never committed. OHIF_APP_VERSION overrides the version.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${OHIF_APP_VERSION:-3.13.2}"
dest="${1:-bin/viewer}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/ohi/ohif"
stamp="$dest/.ohi-ohif-version"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -f "$dest/index.html" ]; then
	exit 0
fi
command -v npm >/dev/null || { echo "install-ohif: npm is required to install the viewer (apt-get install npm)" >&2; exit 1; }
mkdir -p "$cache"
tgz="$cache/ohif-app-$version.tgz"
if [ ! -s "$tgz" ]; then
	echo "install-ohif: fetching @ohif/app@$version"
	tmp="$(mktemp -d "$cache/pack.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "@ohif/app@$version" >/dev/null)
	mv "$tmp"/ohif-app-*.tgz "$tgz"
fi
work="$(mktemp -d "${dest%/}.new.XXXXXX")"
tar -xzf "$tgz" -C "$work" package/dist
[ -f "$work/package/dist/index.html" ] || { echo "install-ohif: @ohif/app@$version has no dist/index.html" >&2; rm -rf "$work"; exit 1; }
echo "$version" > "$work/package/dist/.ohi-ohif-version"
rm -rf "$dest"
mv "$work/package/dist" "$dest"
rm -rf "$work"
echo "install-ohif: OHIF viewer $version installed in $dest"
