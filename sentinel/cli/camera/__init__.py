"""`sentinel camera probe | discover | snapshot | urls | calibrate`: the technician's tools for registering
cameras, one module per subcommand.

Every failure is one line on stderr and exit status 1 (2 for a bad invocation or config); a password is
never printed: it is read from the environment variable named by `--password-env` and written into
`cameras.yaml` entries as a `${VAR}` reference.
"""

from __future__ import annotations

import argparse

from sentinel.cli.common import DEFAULT_CONFIG


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `camera` command group to the `sentinel` parser."""
    from sentinel.cli.calibrate import add_calibrate
    from sentinel.cli.camera.discover import add_discover
    from sentinel.cli.camera.probe import add_probe
    from sentinel.cli.camera.snapshot import add_snapshot
    from sentinel.cli.camera.urls import add_urls

    camera = sub.add_parser("camera", help="probe, discover, snapshot and find stream URLs of cameras")
    cam_sub = camera.add_subparsers(dest="camera_command", required=True)
    add_probe(cam_sub)
    add_discover(cam_sub)
    add_snapshot(cam_sub)
    add_urls(cam_sub)
    add_calibrate(cam_sub, DEFAULT_CONFIG)
