"""Rule schedules: windows judged in the site's local time (across midnight, by day of week, through DST),
their config checks (`sentinel check` names FILE:LINE for a bad day, time, empty window, and for a profile
naming an unknown rule or a field its kind lacks), and `sentinel check` describing the schedules in words."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from sentinel.cli.main import main
from sentinel.config.models import CameraConfig
from sentinel.detect.schedule import ArmedWindow, WeekClock, describe_schedule

SHANGHAI = "Asia/Shanghai"  # UTC+8 all year: no DST


def at(day: str, hhmm: str, zone: str = SHANGHAI) -> float:
    """Epoch seconds of local `day` (ISO date) `hhmm` in `zone`."""
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=ZoneInfo(zone)).timestamp()


def window(**kw: object) -> ArmedWindow:
    return ArmedWindow.model_validate(kw)


NIGHT = window(**{"from": "22:00", "to": "06:00"})  # every day


@pytest.mark.parametrize(
    ("day", "hhmm", "armed"),
    [
        ("2026-12-07", "23:30", True),
        ("2026-12-07", "12:00", False),
        ("2026-12-08", "05:59", True),
        ("2026-12-08", "05:59:59", True),
        ("2026-12-08", "06:00", False),
        ("2026-12-07", "21:59:59", False),
        ("2026-12-07", "22:00", True),
        ("2026-12-08", "00:00", True),
    ],
)
def test_a_window_across_midnight(day: str, hhmm: str, armed: bool) -> None:
    assert WeekClock(SHANGHAI).within([NIGHT], at(day, hhmm)) is armed


def test_a_night_window_belongs_to_the_day_it_starts() -> None:
    clock = WeekClock(SHANGHAI)
    friday_night = [window(days=["fri"], **{"from": "22:00", "to": "06:00"})]
    assert clock.within(friday_night, at("2026-12-11", "23:00"))  # Friday
    assert clock.within(friday_night, at("2026-12-12", "05:00"))  # Saturday morning: still Friday's night
    assert not clock.within(friday_night, at("2026-12-11", "05:00"))  # Friday morning: Thursday's night
    assert not clock.within(friday_night, at("2026-12-12", "23:00"))  # Saturday night


def test_day_of_week() -> None:
    clock = WeekClock(SHANGHAI)
    weekdays = [window(days=["mon", "tue", "wed", "thu", "fri"], **{"from": "07:00", "to": "22:00"})]
    assert clock.within(weekdays, at("2026-12-07", "12:00"))  # Monday
    assert clock.within(weekdays, at("2026-12-11", "21:59"))  # Friday
    assert not clock.within(weekdays, at("2026-12-12", "12:00"))  # Saturday
    assert not clock.within(weekdays, at("2026-12-13", "12:00"))  # Sunday
    assert not clock.within(weekdays, at("2026-12-07", "06:59"))
    assert clock.within([], at("2026-12-13", "03:00"))  # no windows: always armed


def test_a_window_follows_local_time_through_daylight_saving() -> None:
    """Berlin is UTC+1 in winter and UTC+2 in summer: the same UTC instant is 06:30 or 07:30 on the clock."""
    berlin = WeekClock("Europe/Berlin")
    day = [window(**{"from": "07:00", "to": "22:00"})]
    winter = datetime.fromisoformat("2026-01-14T05:30:00+00:00").timestamp()
    summer = datetime.fromisoformat("2026-07-15T05:30:00+00:00").timestamp()
    assert not berlin.within(day, winter)  # 06:30 CET
    assert berlin.within(day, summer)  # 07:30 CEST
    # the night DST begins (29 March 2026, 02:00 -> 03:00): 07:00 local is 05:00 UTC, not 06:00
    assert berlin.within(day, datetime.fromisoformat("2026-03-29T05:00:00+00:00").timestamp())
    assert not berlin.within(day, datetime.fromisoformat("2026-03-29T04:59:00+00:00").timestamp())
    # Shanghai has no DST: 05:30 UTC is 13:30 local in both seasons
    shanghai = WeekClock(SHANGHAI)
    assert shanghai.local(winter)[1] == shanghai.local(summer)[1] == 13 * 60 + 30


def test_schedules_in_words() -> None:
    assert describe_schedule([]) == "always"
    assert describe_schedule([NIGHT]) == "every day 22:00-06:00 (into the next day)"
    weekdays = window(days=["mon", "tue", "wed", "thu", "fri"], **{"from": "07:00", "to": "22:00"})
    weekend = window(days=["sun", "sat"], **{"from": "09:00", "to": "24:00"})
    assert describe_schedule([weekdays, weekend]) == "Mon-Fri 07:00-22:00; Sat, Sun 09:00-24:00"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"days": ["monday"], "from": "07:00", "to": "22:00"}, "unknown day 'monday'"),
        ({"from": "25:00", "to": "22:00"}, "not a time of day: '25:00'"),
        ({"from": "07:60", "to": "22:00"}, "not a time of day: '07:60'"),
        ({"from": 700, "to": "22:00"}, "not a time of day: 700"),
        ({"from": "07:00", "to": "07:00"}, "from and to are the same time"),
        ({"from": "00:00", "to": "24:00", "days": []}, "at least 1 item"),
        ({"from": "07:00"}, "Field required"),
    ],
)
def test_bad_windows_are_refused(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ArmedWindow.model_validate(entry)


CAMERAS = """\
cameras:
  - id: cam1
    source: /dev/null
    zones:
      - name: pavement
        polygon: [[0, 0.2], [1, 0.2], [1, 1], [0, 1]]
    rules:
      - kind: count_in_zone
        name: crowd
        event_type: crowd_gathering
        zone: pavement
        min_count: 10
        schedule:
          - {days: [mon, tue, wed, thu, fri], from: "07:00", to: "22:00"}
      - kind: dwell
        name: vending
        event_type: road_vending
        zone: pavement
        classes: [umbrella, dining table]
        with_classes: [person]
        schedule:
          - {from: "22:00", to: "06:00"}
    profiles:
      night:
        schedule: [{from: "19:00", to: "07:00"}]
        rules:
          crowd: {min_count: 8}
"""


def check(tmp_path: Path, cameras: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    (tmp_path / "cameras.yaml").write_text(textwrap.dedent(cameras), encoding="utf-8")
    main_file = tmp_path / "sentinel.yaml"
    model = Path(__file__).resolve().parents[1] / "models" / "nanodet-g-416.yaml"
    main_file.write_text(f"detector: {{model: {model}}}\ncameras_file: cameras.yaml\n", encoding="utf-8")
    code = main(["check", "--config", str(main_file)])
    out = capsys.readouterr()
    return code, out.err + out.out


def test_check_describes_each_cameras_schedules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = check(tmp_path, CAMERAS, capsys)
    assert code == 0, text
    assert "schedules (site time, Asia/Shanghai):" in text
    assert "  cam1: rule crowd (count_in_zone, crowd_gathering) armed Mon-Fri 07:00-22:00" in text
    assert (
        "  cam1: rule vending (dwell, road_vending) armed every day 22:00-06:00 (into the next day)" in text
    )
    assert "  cam1: profile night every day 19:00-07:00 (into the next day): crowd min_count=8" in text


@pytest.mark.parametrize(
    ("old", "new", "line", "where", "message"),
    [
        ("[mon, tue, wed", "[mon, tuesday, wed", 14, "cameras[0].rules[0].schedule[0].days", "unknown day 'tuesday'"),
        ('to: "06:00"', 'to: "6h"', 22, "cameras[0].rules[1].schedule[0].to", "not a time of day: '6h'"),
        ('to: "06:00"', 'to: "22:00"', 22, "cameras[0].rules[1].schedule[0]", "from and to are the same time"),
        ("crowd: {min_count", "crwod: {min_count", 27, "cameras[0].profiles.night.rules.crwod",
         "no rule of this camera is named 'crwod' (named rules: crowd, vending)"),
        ("{min_count: 8}", "{min_count: 8, max_gap: 30}", 27, "cameras[0].profiles.night.rules.crowd.max_gap",
         "rule kind count_in_zone has no parameter 'max_gap'"),
        ("{min_count: 8}", "{min_count: 0}", 27, "cameras[0].profiles.night.rules.crowd.min_count",
         "greater than or equal to 1"),
        ("{min_count: 8}", "{zone: pavement}", 27, "cameras[0].profiles.night.rules.crowd.zone",
         "a profile cannot change zone"),
        ("name: vending", "name: crowd", 2, "cameras[0]", "rule name 'crowd' is used twice"),
    ],
)  # fmt: skip
def test_bad_schedules_and_profiles_name_file_and_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    line: int,
    where: str,
    message: str,
) -> None:
    assert old in CAMERAS
    code, text = check(tmp_path, CAMERAS.replace(old, new, 1), capsys)
    assert code == 2, text
    assert "Traceback" not in text
    assert f"cameras.yaml:{line}: {where}: " in text, text
    assert message in text, text


def test_a_config_built_in_code_checks_profiles_too() -> None:
    with pytest.raises(ValidationError, match="profiles.night.rules.crowd.max_gap: rule kind count_in_zone"):
        CameraConfig.model_validate(
            {
                "id": "c", "source": "x.mp4",
                "rules": [{"kind": "count_in_zone", "name": "crowd", "event_type": "crowd_gathering", "min_count": 3}],
                "profiles": {"night": {"schedule": [{"from": "19:00", "to": "07:00"}], "rules": {"crowd": {"max_gap": 1}}}},
            }
        )  # fmt: skip
