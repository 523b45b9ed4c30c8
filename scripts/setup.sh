#!/bin/sh
# Set up Sentinel on Debian 12 (bookworm) with Python 3.11: system packages, then a virtualenv in .venv.
#   scripts/setup.sh          what the daemon needs (plus the demo footage and mosquitto_sub to watch it)
#   scripts/setup.sh --test   also what the test suite needs (mosquitto, GStreamer RTSP server, ffmpeg)
# Safe to run again: it installs only what is missing.
set -eu
cd "$(dirname "$0")/.."

# mosquitto_sub: watch the demo; libgl1, libglib2.0-0: opencv-python, which rapidocr_onnxruntime (OCR) pulls in
RUNTIME_DEBS="python3 python3-venv python3-pip opencv-doc mosquitto-clients libgl1 libglib2.0-0"
TEST_DEBS="mosquitto ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
gstreamer1.0-plugins-bad gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 python3-gi chromium chromium-driver fonts-noto-cjk"

debs="$RUNTIME_DEBS"
extras="."
if [ "${1:-}" = "--test" ]; then
    debs="$debs $TEST_DEBS"
    extras=".[test]"
fi

missing=""
for pkg in $debs; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Sentinel needs Python 3.11 or newer")'
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e "$extras"
echo "setup: ready (.venv)"
