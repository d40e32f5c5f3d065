#!/usr/bin/env bash
# setup.sh installs what ohi's tests need on a Debian machine, idempotently:
# the codec libraries and tools (apt-get) and the offline DICOM test corpora
# (scripts/install-corpora.sh). It needs root
# for apt-get the first time; later runs find everything installed and
# return at once.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v go >/dev/null || { echo "setup: Go is required (https://go.dev/dl)" >&2; exit 1; }
command -v python3 >/dev/null || need+=(python3)
command -v npm >/dev/null || need+=(npm)
# Codec libraries (package codec: OpenJPH for HTJ2K, CharLS for JPEG-LS, GDCM
# for JPEG and as the second JPEG-LS and JPEG 2000 decoder, OpenJPEG for JPEG
# 2000) and the independent tools of its tests: OpenJPEG's (JPEG 2000),
# DCMTK's and GDCM's (JPEG-LS encoders and decoders, big endian conversion)
# and numpy for pydicom, the independent reader of the pixel data tests.
# Chromium drives the web console (and the viewer) in the e2e browser tests.
# Orthanc with its DICOMweb plugin: the peer of the DICOMweb tests and
# benchmarks (e2e/orthanc_test.go, bench/dicomweb.sh).
for pkg in libopenjph-dev openjph-tools libgdcm-dev libopenjp2-7-dev libopenjp2-tools libcharls-dev dcmtk libgdcm-tools python3-numpy chromium orthanc orthanc-dicomweb; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "setup: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${need[@]}"; }
fi
bash scripts/install-corpora.sh
bash scripts/install-arazzo-mock.sh
