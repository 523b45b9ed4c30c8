"""Where an alert's clip lives: `<data_dir>/clips/YYYY-MM-DD/<alert_id>.mp4`, served as `/media/clips/...`,
on the day of the alert (its snapshot's day). The clip itself is cut by the pipeline (`sentinel.pipeline.clips`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


def clip_day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d")


def clip_url(day: str, alert_id: str) -> str:
    return f"/media/clips/{day}/{alert_id}.mp4"


def clip_path(data_dir: Path, day: str, alert_id: str) -> Path:
    return data_dir / "clips" / day / f"{alert_id}.mp4"
