#!/bin/sh
# Set up and run the daemon on its embedded defaults: the sample footage (vtest.avi), SQLite under
# var/demo, the built-in MQTT broker on 127.0.0.1:1883 (or a free port if 1883 is taken). Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
exec .venv/bin/sentinel demo "$@"
