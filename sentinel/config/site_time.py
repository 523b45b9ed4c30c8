"""Log lines in the site's time zone: ISO 8601 with the site offset (`2026-12-04 19:02:11+08:00`), so the log
reads like the console and the MQTT payloads instead of mixing UTC with local times."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo


class SiteTimeFormatter(logging.Formatter):
    """`%(asctime)s` in `zone`, with its UTC offset; everything else as `logging.Formatter`."""

    def __init__(self, fmt: str | None, zone: str) -> None:
        super().__init__(fmt)
        self.zone = ZoneInfo(zone)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        moment = datetime.fromtimestamp(record.created, self.zone)
        if datefmt:
            return moment.strftime(datefmt)
        return moment.isoformat(sep=" ", timespec="seconds")


def use_site_time(zone: str) -> None:
    """Give the root logger's handlers (set up by `logging.basicConfig`) the site-time formatter."""
    for handler in logging.getLogger().handlers:
        fmt = handler.formatter._fmt if handler.formatter is not None else None
        handler.setFormatter(SiteTimeFormatter(fmt, zone))
