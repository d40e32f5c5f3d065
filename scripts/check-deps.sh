#!/usr/bin/env bash
# check-deps.sh [--install] verifies that the C/C++ headers and libraries
# package codec links against are installed, and names the Debian package
# for each one missing. With --install, running as root on Debian, it
# installs them (apt-get install -y) instead of failing. `make build` runs it
# with --install; `make setup` installs them too.
set -euo pipefail
missing() {
	local m=()
	[ -f /usr/include/openjph/ojph_codestream.h ] || m+=(libopenjph-dev)
	[ -f /usr/include/gdcm-3.0/gdcmImage.h ] || m+=(libgdcm-dev)
	[ -f /usr/include/openjpeg-2.5/openjpeg.h ] || m+=(libopenjp2-7-dev)
	[ -f /usr/include/charls/charls.h ] || m+=(libcharls-dev)
	command -v g++ >/dev/null || m+=(g++)
	echo "${m[@]:-}"
}
need=$(missing)
if [ -n "$need" ] && [ "${1:-}" = --install ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "ohi: installing the build dependencies: $need" >&2
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get install -y -qq $need >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $need >/dev/null; }
	need=$(missing)
fi
if [ -n "$need" ]; then
	echo "ohi needs the Debian packages: $need" >&2
	echo "install them with: sudo apt-get install -y $need   (or: make setup)" >&2
	exit 1
fi
