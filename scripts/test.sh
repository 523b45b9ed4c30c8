#!/bin/sh
# Set up and run the test suite (real mosquitto, real GStreamer RTSP server, real ONNX model and footage),
# then the linters.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh --test
.venv/bin/ruff check sentinel tests bench tools
.venv/bin/mypy sentinel
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
