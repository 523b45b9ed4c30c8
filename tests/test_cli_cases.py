"""`sentinel cases list | show | act | kpis` against a real database: output, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import sqlalchemy as sa

from sentinel.cli.main import main
from sentinel.storage.outbox import OutboxRow
from tests.test_case_engine import GRID, OTHER_GRID, ROUTING, SCHEMA, World, make_world

CONFIG = """\
site: {id: demo, timezone: Asia/Shanghai}
storage: {data_dir: var}
cases:
  camera_verification: false
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, World]]:
    """A config file and its database with three cases: 1 dispatched, 2 pending review, 3 in another grid."""
    (tmp_path / "var").mkdir()
    config = tmp_path / "sentinel.yaml"
    config.write_text(CONFIG)
    w = make_world(tmp_path / "var")
    w.cases.on_alert(w.alert(), ROUTING, False)
    w.cases.on_alert(w.alert("road_vending", camera="cam2"), ROUTING, False)
    w.cases.on_alert(w.alert(camera="cam3", grid=OTHER_GRID, lon=117.0), None, True)
    yield config, w
    w.store.engine.dispose()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["cases", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_list_and_filters(site: tuple[Path, World], capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = site
    code, out, _ = run(capsys, "list", "--config", str(config))
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["NO", "STATE", "TYPE", "GRID"]
    assert [line.split()[0] for line in lines[1:]] == ["3", "2", "1"]
    code, out, _ = run(capsys, "list", "--config", str(config), "--state", "pending_review")
    assert [line.split()[:3] for line in out.splitlines()[1:]] == [["2", "pending_review", "road_vending"]]
    code, out, _ = run(capsys, "list", "--config", str(config), "--grid", GRID, "--json")
    payloads = [json.loads(line) for line in out.splitlines()]
    assert [p["number"] for p in payloads] == [2, 1]
    for p in payloads:
        jsonschema.validate(p, SCHEMA)
    code, out, _ = run(capsys, "list", "--config", str(config), "--state", "closed")
    assert (code, out.strip()) == (0, "no cases")


def test_show_has_the_transition_log(site: tuple[Path, World], capsys: pytest.CaptureFixture[str]) -> None:
    config, w = site
    code, out, _ = run(capsys, "show", "1", "--config", str(config))
    assert code == 0
    assert "state      dispatched   next: accept, merge, return, suspend" in out
    assert "assignee   w1 (grid_worker, level 0)" in out
    log = out.split("transitions:\n")[1].splitlines()
    assert [line.split()[2:5] for line in log[1:]] == [
        ["create", "-", "registered"],
        ["dispatch", "registered", "dispatched"],
    ]
    case = w.cases.get("1")
    assert case is not None
    code, out, _ = run(capsys, "show", case.id, "--config", str(config), "--json")
    data = json.loads(out)
    assert [t["action"] for t in data["transitions"]] == ["create", "dispatch"]
    assert data["transitions"][0]["ts"].endswith("+08:00")


def test_act_changes_the_case_and_queues_the_message(
    site: tuple[Path, World], capsys: pytest.CaptureFixture[str]
) -> None:
    config, w = site
    code, out, _ = run(
        capsys, "act", "2", "confirm", "--actor", "op1", "--note", "seen it", "--config", str(config)
    )
    assert code == 0 and out.strip() == "case 2: pending_review → dispatched (confirm by op1); assignee w1"
    code, out, _ = run(capsys, "act", "1", "accept", "--actor", "w1", "--config", str(config))
    assert code == 0
    code, out, _ = run(
        capsys, "act", "1", "extend", "--actor", "gl1", "--extend-by", "2h", "--config", str(config)
    )
    assert code == 0 and "accepted → extended" in out
    with w.sessions() as s:
        last = s.scalars(sa.select(OutboxRow).order_by(OutboxRow.id.desc())).first()
    assert last is not None and json.loads(last.payload)["action"] == "extend" and last.sent_at is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["act", "1", "close", "--actor", "op1"],
            "case 1 is dispatched; 'close' needs state verifying",
        ),
        (["act", "1", "fly", "--actor", "op1"], "unknown action 'fly'"),
        (["act", "99", "accept", "--actor", "w1"], "no case '99'"),
        (["act", "1", "extend", "--actor", "w1", "--extend-by", "soon"], "--extend-by: not a duration"),
        (["act", "1", "merge", "--actor", "op1", "--merge-into", "1"], "cannot merge into case 1"),
        (["show", "nope"], "no case 'nope'"),
    ],
)
def test_runtime_errors_exit_1(
    site: tuple[Path, World], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    config, _ = site
    code, _, err = run(capsys, *argv, "--config", str(config))
    assert code == 1 and err.startswith("sentinel cases: ") and message in err


def test_kpis(site: tuple[Path, World], capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = site
    code, out, _ = run(capsys, "kpis", "--config", str(config))
    assert code == 0 and "BY GRID" in out and "BY COMMUNITY" in out and "mean time per stage" in out
    assert (
        "BY WORKER" in out
        and next(line for line in out.splitlines() if line.startswith("w1 ")).split()[1] == "1"
    )
    row = next(line.split() for line in out.splitlines() if line.startswith(GRID))
    assert row[1:4] == [
        "1",
        "0",
        "0.0%",
    ]  # one case in grid A (the pending one is not a case yet), none closed
    code, out, _ = run(capsys, "kpis", "--config", str(config), "--json")
    data = json.loads(out)
    assert data["overall"]["cases"] == 2 and [r["key"] for r in data["by_grid"]] == [GRID, OTHER_GRID]
    # case 3 (no roster for its grid) waits for a dispatch: no worker has held it
    assert {r["key"]: r["cases"] for r in data["by_worker"]} == {"unassigned": 1, "w1": 1}
    code, out, _ = run(capsys, "kpis", "--config", str(config), "--since", "2999-01-01", "--json")
    assert json.loads(out)["overall"]["cases"] == 0


def test_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "list", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml: file not found" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: {id: demo}\ncases:\n  working_days: [9]\n")
    code, _, err = run(capsys, "list", "--config", str(bad))
    assert code == 2 and "bad.yaml:3: cases.working_days" in err
    env = tmp_path / "env.yaml"
    env.write_text("database: {url: 'postgresql+psycopg://u:${SENTINEL_TEST_UNSET_PW}@db/x'}\n")
    code, _, err = run(capsys, "list", "--config", str(env))
    assert code == 2 and "SENTINEL_TEST_UNSET_PW" in err


def test_no_database_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "sentinel.yaml"
    config.write_text(CONFIG)
    code, _, err = run(capsys, "list", "--config", str(config))
    assert code == 1 and "no database at" in err and "sentinel run" in err
    assert not (tmp_path / "var" / "sentinel.db").exists()  # a read does not create one


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    config = tmp_path / "sentinel.yaml"
    config.write_text(CONFIG)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "sentinel.db").write_text("this is not a database")
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", "cases", "show", "1", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("sentinel cases: cannot open the database: DatabaseError")
