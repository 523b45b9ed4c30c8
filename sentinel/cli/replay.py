"""`sentinel replay VIDEO --config PATH [--camera ID] [--out DIR]`: tune a camera on a recording."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sentinel.cli.common import plural


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's subcommands to the `sentinel` parser."""
    p = sub.add_parser(
        "replay",
        help="run a camera's zones and rules over a video file, as fast as possible",
        description="Writes alerts.jsonl, snapshots/, annotated.mp4, contact_sheet.jpg and replay.json into --out. "
        "Alerts are stamped in media time: the file's creation_time metadata, else its mtime minus its "
        "duration, plus each frame's offset.",
    )
    p.add_argument("video", type=Path)
    p.add_argument("--config", type=Path, default=Path("config/sentinel.yaml"))
    p.add_argument(
        "--camera", help="camera id whose zones and rules to use (default: the only one with rules)"
    )
    p.add_argument("--out", type=Path, default=Path("var/replay"))
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--no-video", action="store_true", help="skip annotated.mp4 (faster)")
    p.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from sentinel.cli.main import EXIT_CONFIG, EXIT_RUNTIME, load_checked
    from sentinel.config.loader import ConfigError
    from sentinel.detect.detectors import ModelError, load_detector
    from sentinel.replay.runner import ReplayError, replay

    try:
        config, _ = load_checked(args.config, open_models=True)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG

    def progress(fraction: float, frames: int, alerts: int) -> None:
        if not args.quiet:
            print(
                f"\r{fraction * 100:5.1f} %  {plural(frames, 'frame')}  {plural(alerts, 'alert')}",
                end="",
                file=sys.stderr,
                flush=True,
            )

    try:
        detector = load_detector(config.detector)
    except ModelError as exc:  # checked above; the file changed since, or cannot be read now
        print(f"sentinel replay: detector.model: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        result = replay(
            args.video, config, args.camera, args.out, detector, progress, annotated=not args.no_video
        )
    except ReplayError as exc:
        print(f"sentinel replay: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    if not args.quiet:
        print(file=sys.stderr)
    print(summary(args.video, result.frames, result.media_seconds, result.wall_seconds, len(result.alerts)))
    for event_type, n in sorted(result.by_type().items()):
        print(f"  {event_type}: {n}")
    video = "" if args.no_video else " annotated.mp4,"
    print(f"written to {args.out}/: alerts.jsonl, snapshots/,{video} contact_sheet.jpg, replay.json")
    print(f"alert times are media time from {_origin(result.media_origin, result.origin_source)}")
    return 0


def summary(video: Path, frames: int, media_seconds: float, wall_seconds: float, alerts: int) -> str:
    """The replay's first output line (tests read the frame count from it)."""
    speed = media_seconds / wall_seconds if wall_seconds else 0.0
    return (
        f"{video}: {plural(frames, 'frame')} over {media_seconds:.1f} s of video in {wall_seconds:.1f} s "
        f"({speed:.1f}x real time); {plural(alerts, 'alert')}"
    )


def _origin(epoch: float, source: str) -> str:
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
    return (
        f"{when} (the file's {'creation_time' if source == 'creation_time' else 'mtime minus its duration'})"
    )
