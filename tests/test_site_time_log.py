"""Log lines carry the site's time zone offset (issue 18: the log was UTC while the console showed +08:00)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sentinel.config.site_time import SiteTimeFormatter, use_site_time


def _record(at: datetime) -> logging.LogRecord:
    record = logging.LogRecord("sentinel.test", logging.INFO, __file__, 1, "camera %s up", ("cam-1",), None)
    record.created = at.timestamp()
    return record


def test_asia_shanghai_shows_plus_eight() -> None:
    fmt = SiteTimeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "Asia/Shanghai")
    line = fmt.format(_record(datetime(2026, 12, 4, 11, 2, 11, tzinfo=UTC)))
    assert line == "2026-12-04 19:02:11+08:00 INFO sentinel.test: camera cam-1 up"


def test_other_zone_and_root_handlers() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        use_site_time("Europe/Berlin")
        assert isinstance(handler.formatter, SiteTimeFormatter)
        line = handler.format(_record(datetime(2026, 7, 1, 10, 0, 0, tzinfo=UTC)))
        assert line == "2026-07-01 12:00:00+02:00 camera cam-1 up"
    finally:
        root.removeHandler(handler)
