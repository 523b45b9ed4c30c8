"""KPIs from the transition log, against a day worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from sentinel.cases.kpis import KpiReport, compute_kpis
from sentinel.cases.routing import Routing
from sentinel.config.models import CasesConfig
from tests.test_case_engine import GRID, MONDAY_9, OTHER_GRID, ROUTING, World, make_world

ROUTING_B = Routing(OTHER_GRID, OTHER_GRID[:12], OTHER_GRID[:9], "w2", "gl2", "cd1", "sd1")
COMMUNITY = GRID[:12]
assert OTHER_GRID[:12] == COMMUNITY


def build_day(w: World) -> dict[int, str]:
    """Grid A: cases 1-5 (garbage, 4 h wall clock); grid B: case 6 (closed on time), 7 (pending), 8 (rejected)."""
    ids: dict[int, str] = {}
    at = w.clock.at
    for n in range(1, 6):
        ids[n] = w.cases.on_alert(w.alert(camera=f"cam{n}", lon=116.40 + 0.01 * n), ROUTING, False).case_id
    ids[6] = w.cases.on_alert(w.alert(camera="cam6", grid=OTHER_GRID, lon=116.5), ROUTING_B, False).case_id
    for n in (7, 8):
        ids[n] = w.cases.on_alert(
            w.alert("road_vending", camera=f"cam{n}", grid=OTHER_GRID), ROUTING_B, False
        ).case_id
    act = w.cases.act
    at(minutes=20)
    act(ids[8], "reject", "op1")
    at(minutes=30)
    for n in range(1, 6):
        act(ids[n], "accept", "w1")
    at(hours=1)
    act(ids[1], "feedback", "w1")
    act(ids[1], "verify", "op1")  # an operator verifies (核查), then closes
    act(ids[1], "close", "op1")  # on time
    act(ids[6], "accept", "w2")
    act(ids[5], "feedback", "w1")
    at(hours=1, minutes=10)
    act(ids[5], "rework", "op1", "still there")
    at(hours=1, minutes=30)
    act(ids[5], "feedback", "w1")
    at(hours=1, minutes=40)
    act(ids[5], "verify", "op1")
    act(ids[5], "close", "op1")  # on time after one rework
    at(hours=2)
    act(ids[3], "extend", "gl1", extend_by=4 * 3600)  # deferred: still measured by its original 13:00
    at(hours=3)
    act(ids[6], "feedback", "w2")
    at(hours=3, minutes=30)
    act(ids[6], "verify", "op1")
    act(ids[6], "close", "op1")
    at(hours=6)
    act(ids[2], "feedback", "w1")
    act(ids[2], "verify", "op1")
    act(ids[2], "close", "op1")  # late: due 13:00
    at(hours=7)
    act(ids[3], "feedback", "w1")
    act(ids[3], "verify", "op1")
    act(ids[3], "close", "op1")  # late: within the extension, but after the original 13:00
    at(days=1)
    w.cases.tick()  # case 4 (never handled) climbs the grid
    return ids


@pytest.fixture
def report(tmp_path: Path) -> Iterator[KpiReport]:
    w = make_world(tmp_path, config=CasesConfig(camera_verification=False))  # an operator verifies
    build_day(w)
    yield compute_kpis(w.sessions, w.clock.now)
    w.store.engine.dispose()


def test_per_grid(report: KpiReport) -> None:
    a, b = report.by_grid
    assert (a.key, b.key) == (GRID, OTHER_GRID)
    assert (a.cases, a.open, a.closed, a.closure_rate) == (5, 1, 4, 0.8)
    # 2 ÷ 5: the extended case 3 counts, and is late (closed 16:00, after its original 13:00)
    assert (a.due, a.deferred, a.closed_on_time, a.on_time_rate) == (5, 1, 2, 0.4)
    assert (a.rework_count, a.escalated) == (1, 1)
    # accepted: 30 min (1), 5.5 h (2), 1.5 h (3), 30 min (5); case 4 is still there and does not count
    assert a.mean_stage_seconds["accepted"] == 7200
    assert a.mean_stage_seconds["extended"] == 5 * 3600
    assert a.mean_stage_seconds["rework"] == 20 * 60
    # grid B: the pending and the rejected case are not cases yet
    assert (b.cases, b.closed, b.closure_rate, b.due, b.on_time_rate, b.rework_count) == (
        1,
        1,
        1.0,
        1,
        1.0,
        0,
    )
    assert b.mean_stage_seconds == {
        "accepted": 7200, "dispatched": 3600, "feedback": 1800, "pending_review": 1200, "registered": 0,
        "verifying": 0,  # verified and closed in one go
    }  # fmt: skip


def test_per_community_and_overall(report: KpiReport) -> None:
    [c] = report.by_community
    assert c.key == COMMUNITY
    assert (c.cases, c.closed, c.due, c.deferred, c.closed_on_time, c.rework_count) == (6, 5, 6, 1, 3, 1)
    assert c.on_time_rate == pytest.approx(0.5)  # 3 ÷ 6
    assert report.overall.to_dict() == {**c.to_dict(), "key": "all"}
    assert report.to_dict()["at"] == (MONDAY_9 + timedelta(days=1)).astimezone(report.at.tzinfo).isoformat()


def test_not_yet_due_is_not_counted_against_anyone(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    w.cases.on_alert(w.alert(), ROUTING, False)
    w.clock.at(hours=3, minutes=59)
    early = compute_kpis(w.sessions, w.clock.now).overall
    assert (early.cases, early.due, early.on_time_rate, early.closure_rate) == (1, 0, None, 0.0)
    w.clock.at(hours=4)
    late = compute_kpis(w.sessions, w.clock.now).overall
    assert (late.due, late.closed_on_time, late.on_time_rate) == (1, 0, 0.0)
    w.store.engine.dispose()


def test_since_filters_by_creation(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    w.cases.on_alert(w.alert(), ROUTING, False)
    later = compute_kpis(w.sessions, w.clock.now + timedelta(days=2), since=w.clock.now + timedelta(days=1))
    assert (later.overall.cases, later.by_grid, later.overall.closure_rate) == (0, [], None)
    w.store.engine.dispose()


def test_per_worker(report: KpiReport) -> None:
    """Grid A's cases are w1's, grid B's w2's; case 4, escalated past w1 to the grid leader, stays w1's (the
    missed deadline was theirs) and gives gl1 no row; the pending and the rejected case were never held."""
    rows = {r.key: r for r in report.by_worker}
    assert sorted(rows) == ["unassigned", "w1", "w2"]
    w1, w2 = rows["w1"], rows["w2"]
    assert (w1.cases, w1.open, w1.closed, w1.due, w1.closed_on_time, w1.on_time_rate) == (5, 1, 4, 5, 2, 0.4)
    assert (w1.escalated, w1.rework_count, w1.deferred) == (1, 1, 1)
    assert (w2.cases, w2.closed, w2.due, w2.closed_on_time, w2.on_time_rate, w2.escalated) == (
        1,
        1,
        1,
        1,
        1.0,
        0,
    )
    assert rows["unassigned"].cases == 0
    assert report.to_dict()["by_worker"][1] == w1.to_dict()


def test_per_worker_follows_who_held_the_case_at_grid_worker_level(tmp_path: Path) -> None:
    """A case returned and dispatched by name to another worker is theirs; an urgent case, which goes straight
    to the street, is no worker's; a case escalated away and then closed by the leader stays the worker's."""
    w = make_world(tmp_path, config=CasesConfig(camera_verification=False))
    act = w.cases.act
    moved = w.cases.on_alert(w.alert(camera="cam1"), ROUTING, False).case_id
    act(moved, "return", "w1", "not my grid")
    act(moved, "dispatch", "op1", assignee="w3")
    escalated = w.cases.on_alert(w.alert(camera="cam2", lon=116.45), ROUTING, False).case_id
    urgent = w.alert("crowd_gathering", camera="cam3", lon=116.5).model_copy(update={"severity": "urgent"})
    w.cases.on_alert(urgent, ROUTING, False)
    w.clock.at(hours=1)
    act(moved, "accept", "w3")
    act(moved, "feedback", "w3")
    act(moved, "verify", "op1")
    act(moved, "close", "op1")  # on time: due 13:00
    w.clock.at(hours=4)
    w.cases.tick()  # the escalated case's 4 h pass: it goes to the grid leader gl1
    assert w.case(escalated).assignee == "gl1"
    w.clock.at(hours=5)
    act(escalated, "accept", "gl1")
    act(escalated, "feedback", "gl1")
    act(escalated, "verify", "op1")
    act(escalated, "close", "op1")  # late
    rows = {r.key: r for r in compute_kpis(w.sessions, w.clock.now).by_worker}
    assert sorted(rows) == ["unassigned", "w1", "w3"]
    assert (rows["w3"].cases, rows["w3"].closed, rows["w3"].closed_on_time) == (1, 1, 1)
    w1 = rows["w1"]
    assert (w1.cases, w1.closed, w1.due, w1.closed_on_time, w1.escalated) == (1, 1, 1, 0, 1)
    assert (rows["unassigned"].cases, rows["unassigned"].open) == (1, 1)  # the urgent case, at the street
    w.store.engine.dispose()
