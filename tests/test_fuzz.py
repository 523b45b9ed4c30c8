"""Bad input never crashes Sentinel (hypothesis).

* `sentinel check` on random YAML-ish documents and on mutations of the shipped sample config: exit 0 or 2,
  never an exception, and every line of the error output is `FILE:LINE: ...` or `FILE: ...`.
* Inbound case commands (`CaseCommands.handle_command`) with random bytes, random JSON and random topics:
  always one `Reply` that serialises, never an internal error; payloads over 64 KiB refused as `too_large`.

Examples are bounded (and the database is SQLite in a temp dir) so the file runs in well under a minute.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from sentinel.alerts.schema import Alert, AlertGrid, AlertLocation
from sentinel.alerts.store import AlertStore
from sentinel.cases.commands import FIELDS, MAX_PAYLOAD, CaseCommands, Reply
from sentinel.cases.engine import CaseEngine
from sentinel.cases.routing import Routing
from sentinel.cli.main import main
from sentinel.config.event_types import default_event_types
from sentinel.storage.db import make_engine, migrate, session_factory
from tests.support.roster import case_roster

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "config"
set_hypothesis_home_dir(str(REPO / "var" / "cache" / "hypothesis"))  # its caches stay out of the work tree
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)

# ---------------------------------------------------------------- sentinel check


@pytest.fixture(scope="module")
def config_dir() -> Iterator[Path]:
    """A copy of the sample config (the model is linked: the card's relative path must still resolve)."""
    root = Path(tempfile.mkdtemp(prefix="sentinel-fuzz-"))
    shutil.copytree(SAMPLE, root / "config")
    (root / "models").symlink_to(REPO / "models")
    (root / "var").mkdir()
    yield root / "config"
    shutil.rmtree(root, ignore_errors=True)


ISSUE_LINE = re.compile(r"^(?P<file>/[^:\n]+?)(?::(?P<line>\d+))?: \S")


def run_check(config: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", "--config", str(config)])  # an exception here fails the example
    return code, out.getvalue(), err.getvalue()


def assert_clear(code: int, out: str, err: str, files: set[Path]) -> None:
    assert code in (0, 2), (code, out, err)
    if code == 0:
        assert out.rstrip().endswith(("rule", "rules")) and ": OK: site " in out, out
        return
    lines = err.rstrip("\n").split("\n")
    assert lines and lines[0], "exit 2 with no message"
    for line in lines:
        m = ISSUE_LINE.match(line)
        assert m is not None, f"not FILE:LINE: ... or FILE: ...: {line!r}\n{err}"
        assert Path(m["file"]) in files or Path(m["file"]).parent.parent == files_root(files), line
        assert "Traceback" not in line


def files_root(files: set[Path]) -> Path:
    return next(iter(files)).parent.parent


KEYS = [
    "site", "id", "name", "timezone", "mqtt", "url", "username", "password", "tls_ca", "tls_insecure",
    "topic_prefix", "keepalive", "database", "storage", "data_dir", "detector", "model", "score_threshold",
    "grid", "cells", "roster", "cases", "escalation", "working_hours", "holidays", "console", "host", "port",
    "event_types", "deadline", "severity", "workers", "cameras_file", "cameras", "source", "decode",
    "analyze_fps", "stall_timeout", "location", "lon", "lat", "homography", "image", "ground", "zones",
    "polygon", "rules", "kind", "event_type", "zone", "classes", "min_count", "min_duration", "cooldown",
]  # fmt: skip
SCALARS = st.one_of(
    st.sampled_from(
        [
            "", "0", "-1", "1e309", "nan", ".inf", "true", "null", "~", "yes", "5m", "30s", "2h", "-5s", "1 h",
            "count_in_zone", "dwell", "crowd_gathering", "person", "keyframes", "mqtt://127.0.0.1:1",
            "mqtts://h", "rtsp://u:${NOPE}@h/x", "${HOME}", "${UNSET_VAR_X}", "/dev/null", "../x.yaml",
            "110101001001001", "[[0, 0], [1, 0], [1, 1]]", "[[0,0],[1,1]]", "{lon: 500, lat: 1}", "Asia/Nowhere",
            "'unterminated", '"also', "&a [1]", "*a", "!!python/object:os.system", "!!binary AAAA", "|", ">-",
            "{", "[", "]", "}", "- -", ": :", "\t", "? x", "%YAML 1.1", "---", "...", "@", "`",
            "09:00-08:00", "[1, 2, 3, 4]", "9" * 40,
        ]
    ),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)  # fmt: skip


@st.composite
def yamlish(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 14))):
        indent = " " * draw(st.sampled_from([0, 0, 2, 4, 6, 8, 3]))
        key = draw(st.sampled_from(KEYS))
        form = draw(
            st.sampled_from(["key: value", "key:", "- key: value", "- value", "value", "key: [v, v]"])
        )
        value = draw(SCALARS)
        line = form.replace("key", key).replace("value", value).replace("v, v", f"{value}, {draw(SCALARS)}")
        lines.append(indent + line)
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


@FUZZ
@given(main_text=yamlish(), cameras_text=st.none() | yamlish())
def test_check_random_documents(config_dir: Path, main_text: str, cameras_text: str | None) -> None:
    main_file, cameras_file = config_dir / "fuzz.yaml", config_dir / "fuzz-cameras.yaml"
    if cameras_text is not None:
        main_text += "\ncameras_file: fuzz-cameras.yaml\n"
        cameras_file.write_text(cameras_text, encoding="utf-8")
    main_file.write_text(main_text, encoding="utf-8")
    assert_clear(*run_check(main_file), files={main_file, cameras_file})


def _mutate(text: str, ops: list[tuple[str, int, int, str]]) -> str:
    lines = text.split("\n")
    for op, i, j, token in ops:
        if not lines:
            lines = [token]
            continue
        i, j = i % len(lines), j % len(lines)
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(j, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "value":  # replace what follows the first ': ' (or the line) with a token
            head, sep, _ = lines[i].partition(": ")
            lines[i] = f"{head}{sep}{token}" if sep else token
        elif op == "indent":
            lines[i] = " " * (j % 5) + lines[i].lstrip(" ")
        elif op == "insert":
            lines.insert(i, " " * (j % 7) + token)
        elif op == "char":  # flip one character
            line = lines[i]
            if line:
                k = j % len(line)
                lines[i] = line[:k] + (token[:1] or "#") + line[k + 1 :]
        elif op == "truncate":
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: j % (len(lines[-1]) + 1)]
    return "\n".join(lines)


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "duplicate", "swap", "value", "indent", "insert", "char", "truncate"]),
        st.integers(0, 200),
        st.integers(0, 200),
        SCALARS,
    ),
    min_size=1,
    max_size=4,
)


@FUZZ
@given(which=st.sampled_from(["sentinel.yaml", "cameras.yaml", "both"]), ops=MUTATIONS, more=MUTATIONS)
def test_check_mutated_sample_config(config_dir: Path, which: str, ops: list[Any], more: list[Any]) -> None:
    main_file, cameras_file = config_dir / "mutated.yaml", config_dir / "mutated-cameras.yaml"
    main_text = (SAMPLE / "sentinel.yaml").read_text(encoding="utf-8")
    main_text = main_text.replace("cameras_file: cameras.yaml", "cameras_file: mutated-cameras.yaml")
    cameras_text = (SAMPLE / "cameras.yaml").read_text(encoding="utf-8")
    if which in ("sentinel.yaml", "both"):
        main_text = _mutate(main_text, ops)
    if which in ("cameras.yaml", "both"):
        cameras_text = _mutate(cameras_text, more if which == "both" else ops)
    main_file.write_text(main_text, encoding="utf-8", errors="surrogatepass")
    cameras_file.write_text(cameras_text, encoding="utf-8", errors="surrogatepass")
    others = {config_dir / "grid.geojson", config_dir / "roster.yaml"}
    assert_clear(*run_check(main_file), files={main_file, cameras_file, *others})


def test_sample_config_is_fine(config_dir: Path) -> None:
    code, out, err = run_check(config_dir / "sentinel.yaml")
    assert code == 0, err


def test_binary_garbage_config(config_dir: Path) -> None:
    path = config_dir / "garbage.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    code, out, err = run_check(path)
    assert code == 2 and err.startswith(f"{path}: cannot read: "), err  # not UTF-8
    assert_clear(code, out, err, files={path})


# ---------------------------------------------------------------- inbound MQTT case commands

TZ = ZoneInfo("Asia/Shanghai")
PREFIX = "sentinel/demo"
GRID = "110101001002003"


@pytest.fixture(scope="module")
def commands() -> Iterator[tuple[CaseCommands, str]]:
    """A case engine on SQLite with one open case, and the command handler in front of it."""
    root = Path(tempfile.mkdtemp(prefix="sentinel-fuzz-db-"))
    db = make_engine(f"sqlite:///{root / 'sentinel.db'}")
    migrate(db)
    types = default_event_types()
    types["garbage_exposed"] = types["garbage_exposed"].model_copy(update={"auto_register": True})
    now = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
    engine = CaseEngine(session_factory(db), types, lambda: now, PREFIX, tz=TZ)
    et = types["garbage_exposed"]
    alert = Alert(
        alert_id="00000000-0000-4000-8000-000000000001", site="demo", event_type=et.id, code=et.code,
        name=et.name, name_en=et.name_en, severity=et.severity.value, camera_id="cam1", camera_name="cam1",
        zone="z1", started_at=now.isoformat(), detected_at=now.isoformat(), confidence=0.9, count=1,
        objects=[], location=AlertLocation(lon=116.4, lat=39.9, method="camera"),
        grid=AlertGrid(street=GRID[:9], community=GRID[:12], grid=GRID, name=None), snapshot=None,
    )  # fmt: skip
    AlertStore(db).record(alert, f"{PREFIX}/alerts/garbage_exposed/cam1", None)
    case = engine.on_alert(alert, Routing(GRID, GRID[:12], GRID[:9], "w1", "gl1", "cd1", "sd1"))
    yield CaseCommands(engine, PREFIX, case_roster()), case.case_id
    db.dispose()
    shutil.rmtree(root, ignore_errors=True)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ACTIONS = st.sampled_from(
    ["accept", "feedback", "extend", "merge", "dispatch", "close", "reject", "suspend", "resume", "return",
     "confirm", "verify", "rework", "escalate", "remind", "", "ACCEPT", "accept\x00", "x" * 100]
)  # fmt: skip
VALUES = (
    JSON | ACTIONS | st.sampled_from(["w1", "gl1", "op1", "command-platform", "2h", "-1", "1e999", "nan"])
)


@st.composite
def command_body(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if draw(st.booleans()):
        body["action"] = draw(ACTIONS | JSON)
    for key in draw(st.lists(st.sampled_from([*FIELDS, "extra", "__proto__"]), max_size=5, unique=True)):
        body[key] = draw(VALUES)
    return body


def topics(case_id: str) -> st.SearchStrategy[str]:
    head = f"{PREFIX}/commands/cases/"
    return st.one_of(
        st.just(head + case_id),
        st.sampled_from(["1", "999", "0", "-1", "1e3", "١"]).map(lambda c: head + c),
        st.text(max_size=70).map(lambda c: head + c),
        st.text(max_size=40),
    )


def check_reply(reply: Any, payload: bytes) -> Reply:
    assert isinstance(reply, Reply)
    assert reply.error != "internal", reply  # an internal error is an exception the handler had to catch
    assert reply.ok == (reply.error is None)
    decoded = json.loads(reply.to_json())
    assert decoded["schema"] == "sentinel.case_reply/1" and decoded["ok"] is reply.ok
    if not reply.ok:
        assert reply.reason, reply
    return reply


@FUZZ
@given(data=st.data())
def test_commands_random_bytes(commands: tuple[CaseCommands, str], data: st.DataObject) -> None:
    handler, case_id = commands
    topic = data.draw(topics(case_id))
    payload = data.draw(st.binary(max_size=300))
    check_reply(handler.handle_command(topic, payload), payload)


@settings(FUZZ, max_examples=500)
@given(data=st.data())
def test_commands_random_json(commands: tuple[CaseCommands, str], data: st.DataObject) -> None:
    handler, case_id = commands
    topic = data.draw(topics(case_id))
    body = data.draw(command_body() | JSON)
    payload = json.dumps(body, allow_nan=True).encode()
    reply = check_reply(handler.handle_and_queue(topic, payload), payload)
    if reply.ok:
        assert isinstance(body, dict) and body.get("action") == reply.action


@settings(FUZZ, max_examples=20)
@given(extra=st.integers(1, 200_000), filler=st.sampled_from([b" ", b"x", b"\xff"]))
def test_oversized_commands_refused(commands: tuple[CaseCommands, str], extra: int, filler: bytes) -> None:
    handler, case_id = commands
    body = json.dumps({"action": "accept", "actor": "w1", "note": ""}).encode()
    payload = body[:-2] + filler * (MAX_PAYLOAD - len(body) + extra) + b'"}'
    assume(len(payload) > MAX_PAYLOAD)
    reply = check_reply(handler.handle_command(f"{PREFIX}/commands/cases/{case_id}", payload), payload)
    assert (reply.ok, reply.error) == (False, "too_large")
    assert str(MAX_PAYLOAD) in (reply.reason or "")


# ---------------------------------------------------------------- found by the fuzzers (fixed)


def test_control_character_in_config_is_one_clear_line(config_dir: Path) -> None:
    path = config_dir / "control.yaml"
    path.write_text("site:\n  name: a\x1fb\n", encoding="utf-8")
    code, out, err = run_check(path)
    assert code == 2
    assert_clear(code, out, err, files={path})


def test_impossible_date_in_config_is_reported(config_dir: Path) -> None:
    path = config_dir / "date.yaml"
    path.write_text("cases:\n  holidays: [2026-13-01]\n", encoding="utf-8")
    code, out, err = run_check(path)
    assert code == 2 and ("holidays" in err or "month" in err), err
    assert_clear(code, out, err, files={path})


def test_superscript_case_number_is_an_unknown_case(commands: tuple[CaseCommands, str]) -> None:
    handler, _ = commands
    payload = json.dumps({"action": "accept", "actor": "w1"}).encode()
    reply = handler.handle_command(f"{PREFIX}/commands/cases/\u00b2", payload)
    assert (reply.ok, reply.error) == (False, "unknown_case"), reply
