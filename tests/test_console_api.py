"""The console's REST API on a real uvicorn (127.0.0.1, free port) over a real SQLite file and the real case
engine: login on every route, roles on every action, clear 422s, alerts, cases, cameras, grid, KPIs, media."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from sentinel.alerts.models import AlertRow
from sentinel.cases.models import CaseRow, CaseTransitionRow
from sentinel.console.app import ROUTERS
from sentinel.console.models import AlertReviewRow
from tests.support.browser import (
    GRID,
    PASSWORD,
    TZ,
    ConsoleWorld,
    camera_status,
    console_world,
    vtest_snapshot,
)
from tests.support.footage import vtest_h264

OTHER_GRID = "110101001002003"  # 池畔社区第三网格: 周婷 (zhouting)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as w:
        w.add_user("olga", "operator", name="值班员 Olga")
        w.add_user("tom", "technician")
        w.add_user("ada", "admin")
        yield w


@pytest.fixture
def tokens(world: ConsoleWorld) -> dict[str, str]:
    return {
        role: world.token(name)
        for role, name in (("operator", "olga"), ("technician", "tom"), ("admin", "ada"))
    }


def _routes(world: ConsoleWorld) -> list[tuple[str, str]]:
    out = []
    for router in ROUTERS:  # what create_app includes
        for route in router.routes:
            if isinstance(route, APIRoute):
                out += [(method, route.path) for method in sorted(route.methods or ())]
    return out


def _fill(path: str) -> str:
    return (
        path.replace("{alert_id}", "00000000-0000-0000-0000-000000000000").replace("{ref}", "1")
        .replace("{camera_id}", "plaza-north").replace("{username}", "olga").replace("{token_id}", "999")
        .replace("{tree}", "snapshots").replace("{day}", "2026-01-01").replace("{name}", "x.jpg")
    )  # fmt: skip


PUBLIC = {
    ("GET", "/healthz"), ("POST", "/api/auth/login"), ("POST", "/api/auth/logout"), ("GET", "/login"),
    ("GET", "/m"), ("GET", "/m/{name}"),  # the phone page's redirect to /m/ and its static files
}  # fmt: skip


def test_every_route_but_health_and_login_needs_a_login(world: ConsoleWorld) -> None:
    routes = _routes(world)
    assert len(routes) >= 25
    with world.client() as c:
        for method, path in routes:
            if (method, path) in PUBLIC:
                continue
            r = c.request(method, _fill(path), json={} if method in ("POST", "PATCH") else None)
            if path in ("/", "/m/"):
                assert r.status_code == 303 and r.headers["location"].startswith("/login")
                continue
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            assert r.json()["detail"] == "login required"
        # a bad token is refused, not ignored
        r = c.get("/api/alerts", headers={"Authorization": "Bearer snt_nope"})
        assert r.status_code == 401 and "invalid" in r.json()["detail"]
        assert c.get("/healthz").status_code == 200
        assert c.get("/static/app.js").status_code == 200
        assert c.get("/login").status_code == 200


# (method, path) → the roles allowed (admin always is); every other route is for any signed-in user
ACTIONS: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/alerts/{alert_id}/confirm"): {"operator"},
    ("POST", "/api/alerts/{alert_id}/reject"): {"operator"},
    ("POST", "/api/cases/{ref}/actions"): {"operator"},  # and field staff, whom the engine checks
    ("POST", "/api/cases/{ref}/evidence"): {"operator"},  # likewise
    ("GET", "/api/cameras/{camera_id}/snapshot"): {"technician"},
    ("GET", "/api/users"): set(),
    ("POST", "/api/users"): set(),
    ("PATCH", "/api/users/{username}"): set(),
    ("GET", "/api/users/{username}/tokens"): set(),
    ("POST", "/api/users/{username}/tokens"): set(),
    ("DELETE", "/api/tokens/{token_id}"): set(),
}
ANY_USER_WRITES = {("POST", "/api/auth/login"), ("POST", "/api/auth/logout"), ("POST", "/api/auth/password")}


def test_roles_are_checked_on_every_action(world: ConsoleWorld, tokens: dict[str, str]) -> None:
    routes = _routes(world)
    writes = {r for r in routes if r[0] != "GET"} - ANY_USER_WRITES
    assert writes <= set(ACTIONS), f"a changing route without a role rule: {writes - set(ACTIONS)}"
    bodies = {
        "/api/alerts/{alert_id}/reject": {"reason": "x"},
        "/api/cases/{ref}/actions": {"action": "accept"},
    }
    for (method, path), allowed in ACTIONS.items():
        for role, token in tokens.items():
            with world.client(token) as c:
                r = c.request(
                    method,
                    _fill(path),
                    json=bodies.get(path, {}) if method != "GET" and method != "DELETE" else None,
                )
            if role == "admin" or role in allowed:
                assert r.status_code != 403, (role, method, path, r.text)
            else:
                assert r.status_code == 403, (role, method, path, r.status_code)
                assert f"you are {role}" in r.json()["detail"]
    for method, path in routes:  # reading is for every role
        if (method, path) in ACTIONS or method != "GET" or "{" in path or path in ("/", "/login", "/m"):
            continue
        for role, token in tokens.items():
            with world.client(token) as c:
                if path == "/api/events":
                    with c.stream("GET", path) as r:
                        assert r.status_code == 200
                    continue
                assert c.get(path).status_code == 200, (role, path)


def test_bad_input_is_422_with_a_clear_message(world: ConsoleWorld, tokens: dict[str, str]) -> None:
    alert = world.record_alert()
    c = world.client(tokens["admin"])

    def bad(r: Any, *needles: str) -> None:
        assert r.status_code == 422, r.text
        body = r.json()
        assert isinstance(body["detail"], str) and body["errors"]
        for needle in needles:
            assert needle in body["detail"], body["detail"]

    bad(c.get("/api/alerts?limit=0"), "query.limit", "greater than or equal to 1")
    bad(c.get("/api/alerts?state=maybe"), "query.state", "'new', 'confirmed' or 'rejected'")
    bad(c.get("/api/alerts?grid=12"), "query.grid")
    bad(c.get("/api/alerts?since=yesterday"), "query.since", "datetime")
    bad(
        c.get("/api/alerts?since=2026-11-23T10:00:00%2B08:00&until=2026-11-23T09:00:00%2B08:00"),
        "until must be after since",
    )
    bad(c.get("/api/cases?state=lost"), "unknown state 'lost'")
    bad(c.get("/api/kpis?since=2026-13-01"), "query.since")
    bad(c.post(f"/api/alerts/{alert.alert_id}/reject", json={}), "body.reason: Field required")
    bad(c.post(f"/api/alerts/{alert.alert_id}/reject", json={"reason": "   "}), "give a reason")
    bad(c.post(f"/api/alerts/{alert.alert_id}/confirm", json={"nope": 1}), "body.nope", "Extra inputs")
    bad(c.post("/api/cases/1/actions", json={"action": "explode"}), "unknown action 'explode'", "dispatch")
    bad(c.post("/api/cases/1/actions", json={"action": "extend", "extend_by": -5}), "body.extend_by")
    bad(
        c.post("/api/users", json={"username": "eve", "password": "short7!", "role": "operator"}),
        "at least 8",
    )
    bad(c.post("/api/users", json={"username": "eve", "password": PASSWORD, "role": "boss"}), "body.role")
    bad(
        c.post("/api/users", json={"username": "bad name!", "password": PASSWORD, "role": "operator"}),
        "user name",
    )
    long_secret = "s3cret-" * 50
    r = c.post("/api/auth/login", json={"username": "olga", "password": long_secret})
    bad(r, "body.password")
    assert "s3cret" not in r.text  # the offending value is not echoed
    r = c.post("/api/users", json={"username": "eve", "password": "eve", "role": "operator"})
    assert r.status_code == 422 and '"eve"' not in r.text.replace('"username"', "")
    c.close()


def test_alerts_filter_and_page(world: ConsoleWorld, tokens: dict[str, str]) -> None:
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
    made = [
        world.record_alert("garbage_exposed", detected_at=t0),
        world.record_alert("garbage_exposed", detected_at=t0 + timedelta(minutes=10), camera_id="gate-east"),
        world.record_alert("road_vending", detected_at=t0 + timedelta(minutes=20), grid=OTHER_GRID),
        world.record_alert("crowd_gathering", detected_at=t0 + timedelta(minutes=30)),
    ]
    with world.client(tokens["operator"]) as c:
        page = c.get("/api/alerts").json()
        assert page["total"] == 4
        assert [a["alert_id"] for a in page["items"]] == [a.alert_id for a in reversed(made)]  # newest first
        first = page["items"][-1]
        assert first["place"] == {
            "grid": GRID, "name": "天街社区第一网格", "community": GRID[:12], "community_name": "天街社区",
            "street": GRID[:9], "street_name": "示例街道",
        }  # fmt: skip
        assert first["name"] == "暴露垃圾" and first["name_en"] == "Exposed garbage"

        def ids(query: str) -> list[str]:
            r = c.get("/api/alerts?" + query)
            assert r.status_code == 200, r.text
            return [a["alert_id"] for a in r.json()["items"]]

        assert ids("type=garbage_exposed") == [made[1].alert_id, made[0].alert_id]
        assert ids("camera=gate-east") == [made[1].alert_id]
        assert ids(f"grid={OTHER_GRID}") == [made[2].alert_id]
        assert len(ids(f"grid={GRID[:9]}")) == 4  # a street code takes in its grids
        assert len(ids(f"grid={GRID[:12]}")) == 3  # a community code too
        # the same instant, written in UTC and in site time, without a zone (= site time)
        assert ids("since=2026-11-23T01:10:00Z&until=2026-11-23T09:30:00%2B08:00") == [
            made[2].alert_id,
            made[1].alert_id,
        ]
        assert ids("since=2026-11-23T09:20:00") == [made[3].alert_id, made[2].alert_id]
        assert ids("state=new&limit=2&offset=1") == [made[2].alert_id, made[1].alert_id]
        assert ids("state=confirmed") == []
        paged = c.get("/api/alerts?limit=1&offset=3").json()
        assert (
            paged["total"] == 4
            and paged["limit"] == 1
            and [a["alert_id"] for a in paged["items"]] == [made[0].alert_id]
        )
        assert c.get("/api/alerts/nope").status_code == 404


def test_confirm_files_a_case_routed_to_the_grid_worker(world: ConsoleWorld, tokens: dict[str, str]) -> None:
    alert = world.record_alert("garbage_exposed", vtest_snapshot())
    with world.client(tokens["operator"]) as c:
        r = c.post(f"/api/alerts/{alert.alert_id}/confirm", json={"note": "垃圾堆在路边"})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["review_state"] == "confirmed" and out["case_number"] == 1
        assert out["review"]["actor"] == "user:olga" and out["review"]["verdict"] == "confirmed"
        case = c.get(f"/api/cases/{out['case_id']}").json()
        assert case["state"] == "dispatched"
        assert case["worker"]["name"] == "张丽" and case["assignee"]["id"] == "zhangli"
        assert case["place"]["name"] == "天街社区第一网格"
        assert [a["alert_id"] for a in case["alerts"]] == [alert.alert_id]
        log = [(t["action"], t["actor"], t["to_state"]) for t in case["transitions"]]
        assert log == [
            ("create", "sentinel", "pending_review"),
            ("confirm", "user:olga", "registered"),
            ("dispatch", "sentinel", "dispatched"),
        ]
        assert case["transitions"][1]["note"] == "垃圾堆在路边"
        again = c.post(f"/api/alerts/{alert.alert_id}/confirm", json={})
        assert again.status_code == 409 and "already confirmed by user:olga" in again.json()["detail"]
        assert c.post("/api/alerts/nope/confirm", json={}).status_code == 404
    with world.deps.sessions() as s:
        row = s.get(AlertRow, alert.alert_id)
        assert row is not None and row.review_state == "confirmed" and row.case_id == out["case_id"]
        case_row = s.scalars(select(CaseRow)).one()
        assert case_row.state == "dispatched" and case_row.assignee == "zhangli"


def test_reject_keeps_the_reason_as_a_false_positive_label(
    world: ConsoleWorld, tokens: dict[str, str]
) -> None:
    plain = world.record_alert("garbage_exposed")
    # an alert the daemon already filed as a case waiting for review
    filed = world.record_alert("road_vending", grid=OTHER_GRID)
    change = world.engine.on_alert(filed, None)
    assert change.state == "pending_review"
    with world.client(tokens["operator"]) as c:
        r = c.post(f"/api/alerts/{plain.alert_id}/reject", json={"reason": "误报：阴影 shadow, not garbage"})
        assert r.status_code == 200, r.text
        assert r.json()["review"] == {
            "verdict": "rejected", "label": "false_positive", "reason": "误报：阴影 shadow, not garbage",
            "actor": "user:olga", "at": r.json()["review"]["at"],
        }  # fmt: skip
        assert c.post(f"/api/alerts/{plain.alert_id}/confirm", json={}).status_code == 409
        r = c.post(f"/api/alerts/{filed.alert_id}/reject", json={"reason": "a parked delivery tricycle"})
        assert r.status_code == 200
        case = c.get(f"/api/cases/{change.case_id}").json()
        assert case["state"] == "rejected"
        assert case["transitions"][-1]["actor"] == "user:olga"
        assert "a parked delivery tricycle" in case["transitions"][-1]["note"]
        assert [a["alert_id"] for a in c.get("/api/alerts?state=rejected").json()["items"]] == [
            filed.alert_id,
            plain.alert_id,
        ]
    with world.deps.sessions() as s:
        labels = {(r.alert_id, r.label, r.reason) for r in s.scalars(select(AlertReviewRow))}
        assert labels == {
            (plain.alert_id, "false_positive", "误报：阴影 shadow, not garbage"),
            (filed.alert_id, "false_positive", "a parked delivery tricycle"),
        }
        assert s.get(AlertRow, plain.alert_id).review_state == "rejected"  # type: ignore[union-attr]


def test_case_actions_are_logged_with_the_user(world: ConsoleWorld, tokens: dict[str, str]) -> None:
    alert = world.record_alert("garbage_exposed")
    with world.client(tokens["operator"]) as c:
        number = c.post(f"/api/alerts/{alert.alert_id}/confirm", json={}).json()["case_number"]
        r = c.post(f"/api/cases/{number}/actions", json={"action": "accept", "note": "张丽 on her way"})
        assert r.status_code == 200 and r.json()["state"] == "accepted"
        r = c.post(f"/api/cases/{number}/actions", json={"action": "close"})
        assert r.status_code == 409 and "needs state verifying" in r.json()["detail"]
        r = c.post(f"/api/cases/{number}/actions", json={"action": "feedback", "note": "cleared"})
        assert r.status_code == 200 and r.json()["state"] == "verifying"  # the camera re-checks
        r = c.post(f"/api/cases/{number}/actions", json={"action": "close", "note": "checked on site"})
        assert r.status_code == 403 and "may not close it too" in r.json()["detail"]  # not her own work
        assert c.post("/api/cases/999/actions", json={"action": "accept"}).status_code == 404
    with world.client(tokens["admin"]) as c:
        r = c.post(f"/api/cases/{number}/actions", json={"action": "close", "note": "checked on site"})
        detail = r.json()
        assert detail["state"] == "closed" and detail["closed_at"]
        assert (
            detail["transitions"][-1]["action"],
            detail["transitions"][-1]["actor"],
            detail["transitions"][-1]["note"],
        ) == ("close", "user:ada", "checked on site")
        log = c.get("/api/transitions?actor=user:olga").json()
        assert [t["action"] for t in log] == ["feedback", "accept", "confirm"]
        assert all(t["case_number"] == number for t in log)
        assert c.get("/api/cases?state=closed").json()["total"] == 1
        assert c.get("/api/cases?open=true").json()["total"] == 0
    with world.deps.sessions() as s:
        actors = list(s.scalars(select(CaseTransitionRow.actor).order_by(CaseTransitionRow.id)))
        assert actors.count("user:olga") == 3


def test_cases_filter_and_mark_the_overdue(world: ConsoleWorld, tokens: dict[str, str]) -> None:
    a = world.record_alert("garbage_exposed")
    b = world.record_alert("road_vending", grid=OTHER_GRID)
    with world.client(tokens["operator"]) as c:
        for alert in (a, b):
            c.post(f"/api/alerts/{alert.alert_id}/confirm", json={})
        with world.deps.sessions.begin() as s:  # case 2's deadline has passed
            late = s.scalars(select(CaseRow).where(CaseRow.number == 2)).one()
            late.deadline_at = datetime.now(UTC) - timedelta(minutes=5)
        assert [x["number"] for x in c.get("/api/cases").json()["items"]] == [2, 1]
        assert [x["number"] for x in c.get(f"/api/cases?grid={OTHER_GRID}").json()["items"]] == [2]
        assert [x["number"] for x in c.get("/api/cases?overdue=true").json()["items"]] == [2]
        assert [x["number"] for x in c.get("/api/cases?overdue=false").json()["items"]] == [1]
        assert [
            x["number"] for x in c.get("/api/cases?type=garbage_exposed&state=dispatched").json()["items"]
        ] == [1]
        assert [x["number"] for x in c.get("/api/cases?assignee=zhouting").json()["items"]] == [2]
        assert c.get("/api/cases/2").json()["overdue"] is True
        grid = c.get("/api/grid").json()
        props = {f["properties"]["code"]: f["properties"] for f in grid["features"]}
        assert props[GRID]["open_cases"] == 1 and props[GRID]["overdue_cases"] == 0
        assert props[OTHER_GRID]["open_cases"] == 1 and props[OTHER_GRID]["overdue_cases"] == 1
        assert props[GRID[:9]]["open_cases"] == 2  # the street counts its grids
        assert props["110101001003001"]["open_cases"] == 0
        assert grid["bbox"] == pytest.approx([116.394, 39.904, 116.404, 39.913])
        kpis = c.get("/api/kpis").json()
        assert kpis["overall"]["cases"] == 2 and kpis["overall"]["open"] == 2
        assert {r["key"]: r["name"] for r in kpis["by_grid"]} == {
            GRID: "天街社区第一网格",
            OTHER_GRID: "池畔社区第三网格",
        }
        # per grid worker, named from the roster
        assert {r["key"]: (r["name"], r["cases"]) for r in kpis["by_worker"]} == {
            "zhangli": ("张丽", 1),
            "zhouting": ("周婷", 1),
        }


def test_the_grid_map_carries_the_positioned_cameras(world: ConsoleWorld, tokens: dict[str, str]) -> None:
    """/api/grid lists each camera that has a location, at that WGS-84 point, with its board state (or why it
    has none) and the cases open at it; a camera without a location is left off."""
    from sentinel.config.models import CameraConfig

    def cam(camera_id: str, **extra: Any) -> CameraConfig:
        return CameraConfig.model_validate({"id": camera_id, "source": "rtsp://127.0.0.1:9/x", **extra})

    world.deps.cameras = lambda: [
        cam("plaza-north", name="北广场 North plaza", location={"lon": 116.3975, "lat": 39.9087}),
        cam("gate-east", name="东门 East gate", location={"lon": 116.402, "lat": 39.905}),
        cam("yard", name="后院 Yard", location={"lon": 116.396, "lat": 39.911}, enabled=False),
        cam("lobby", name="大堂 Lobby", grid=GRID),  # no location: not on the map
    ]
    world.cameras[:] = [camera_status("plaza-north"), camera_status("gate-east", "offline")]
    with world.client(tokens["operator"]) as c:
        for alert in (world.record_alert(), world.record_alert("road_vending", camera_id="gate-east")):
            assert c.post(f"/api/alerts/{alert.alert_id}/confirm", json={}).status_code == 200
        dropped = world.record_alert("motor_parking", zone="kerb")
        world.file_case(dropped)  # filed, then rejected at review: no longer open
        assert c.post(f"/api/alerts/{dropped.alert_id}/reject", json={"reason": "误报"}).status_code == 200
        grid = c.get("/api/grid").json()
    assert grid["cameras"] == [
        {"camera_id": "gate-east", "name": "东门 East gate", "lon": 116.402, "lat": 39.905, "state": "offline",
         "open_cases": 1},
        {"camera_id": "plaza-north", "name": "北广场 North plaza", "lon": 116.3975, "lat": 39.9087,
         "state": "online", "open_cases": 1},
        {"camera_id": "yard", "name": "后院 Yard", "lon": 116.396, "lat": 39.911, "state": "disabled",
         "open_cases": 0},
    ]  # fmt: skip
    with world.client(tokens["operator"]) as c:
        world.cameras.clear()  # no status published yet
        states = {x["camera_id"]: x["state"] for x in c.get("/api/grid").json()["cameras"]}
    assert states == {"gate-east": "unknown", "plaza-north": "unknown", "yard": "disabled"}


def test_snapshots_are_served_to_signed_in_users_only_and_never_outside(
    world: ConsoleWorld, tokens: dict[str, str]
) -> None:
    jpeg = vtest_snapshot()
    alert = world.record_alert("garbage_exposed", jpeg)
    assert alert.snapshot is not None
    secret = world.data_dir / "secret.jpg"
    secret.write_bytes(b"not for you")
    day_dir = next((world.data_dir / "snapshots").iterdir())
    os.symlink(secret, day_dir / "link.jpg")
    with world.client(tokens["technician"]) as c:
        r = c.get(f"/api/alerts/{alert.alert_id}/snapshot")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == jpeg
        r = c.get(alert.snapshot.url)
        assert r.status_code == 200 and r.content == jpeg
        for path in (
            "/media/snapshots/..%2Fsecret.jpg", f"/media/snapshots/{day_dir.name}/..%2F..%2Fsecret.jpg",
            "/media/snapshots/%2E%2E/secret.jpg", f"/media/snapshots/{day_dir.name}/link.jpg",
            "/media/sentinel.db", "/media/snapshots/../sentinel.db",
        ):  # fmt: skip
            r = c.get(path)
            assert r.status_code == 404 and r.content != b"not for you", path
        plain = world.record_alert("garbage_exposed")
        r = c.get(f"/api/alerts/{plain.alert_id}/snapshot")
        assert r.status_code == 404 and "no snapshot" in r.json()["detail"]
    with world.client() as c:
        assert c.get(alert.snapshot.url).status_code == 401


def test_an_alert_clip_is_served_with_byte_ranges(world: ConsoleWorld, tokens: dict[str, str]) -> None:
    alert = world.record_alert("garbage_exposed", vtest_snapshot())
    day = alert.detected_at[:10]
    clip = world.data_dir / "clips" / day / f"{alert.alert_id}.mp4"
    clip.parent.mkdir(parents=True)
    shutil.copyfile(vtest_h264(768, 576, fps=25, gop=25), clip)
    url = f"/media/clips/{day}/{alert.alert_id}.mp4"
    with world.deps.sessions.begin() as s:  # as the intake records a written clip
        row = s.get(AlertRow, alert.alert_id)
        assert row is not None
        row.payload = {
            **row.payload,
            "clip": {"url": url, "sha256": "x", "start": None, "end": None, "state": "ready", "error": None},
        }
    with world.client(tokens["operator"]) as c:
        out = c.get(f"/api/alerts/{alert.alert_id}").json()
        assert out["clip_url"] == url and out["clip_state"] == "ready"
        r = c.get(url, headers={"Range": "bytes=0-99"})
        assert (
            r.status_code == 206
            and r.headers["content-type"] == "video/mp4"
            and r.content == clip.read_bytes()[:100]
        )
        assert c.get(f"/media/clips/{day}/{alert.alert_id}.jpg").status_code == 404
        assert c.get(f"/media/snapshots/{day}/{alert.alert_id}.mp4").status_code == 404
        assert c.get(f"/media/cameras/{day}/{alert.alert_id}.mp4").status_code == 404
    with world.client() as c:
        assert c.get(url).status_code == 401


def test_cameras_status_and_a_fresh_view_with_zones(world: ConsoleWorld, tokens: dict[str, str]) -> None:
    from sentinel.config.models import CameraConfig

    with world.client(tokens["operator"]) as c:
        cams = c.get("/api/cameras").json()
        assert [(x["camera_id"], x["state"], x["up"], x["fps"]) for x in cams] == [
            ("plaza-north", "online", True, 1.0)
        ]
        assert cams[0]["zones"][0]["name"] == "plaza" and cams[0]["last_frame_at"]
    with world.client(tokens["technician"]) as c:
        r = c.get("/api/cameras/plaza-north/snapshot")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (576, 768, 3)
        # the zone (y >= 0.25) is tinted and outlined; above it the frame is as the camera sees it
        line = image[int(0.25 * 575) - 1 : int(0.25 * 575) + 2, 100:600].reshape(-1, 3).mean(axis=0)
        assert line[2] > line[0] + 40  # the zone outline is drawn in a warm colour (BGR)
        assert c.get("/api/cameras/nope/snapshot").status_code == 404
        # a camera that cannot be reached: 503 with the reason, the password masked
        broken = CameraConfig.model_validate(
            {
                "id": "gate",
                "source": "rtsp://admin:hunter2@127.0.0.1:9/x",
                "open_timeout": 2,
                "read_timeout": 2,
            }
        )
        world.cameras.append({"camera_id": "gate", "name": "gate", "state": "offline"})
        world.deps.actions.cameras = lambda: [broken]  # type: ignore[attr-defined]
        r = c.get("/api/cameras/gate/snapshot")
        assert r.status_code == 503, r.text
        assert "camera gate" in r.json()["detail"] and "hunter2" not in r.text
        assert [x["up"] for x in c.get("/api/cameras").json()] == [False, True]


def test_health_metrics_and_the_api_description(world: ConsoleWorld, tokens: dict[str, str]) -> None:
    with world.client() as c:
        health = c.get("/healthz").json()
        assert health == {
            "status": "ok",
            "database": True,
            "broker": True,
            "cameras_online": 1,
            "cameras_total": 1,
            "version": health["version"],
        }
        world.broker_up = False
        assert c.get("/healthz").json()["status"] == "degraded"
        assert c.get("/metrics").status_code == 401
    alert = world.record_alert("garbage_exposed")
    m = world.deps.metrics
    m.alerts.labels("garbage_exposed").inc()
    m.observe_camera("plaza-north", "online", 500, 50)
    m.observe_camera("plaza-north", "online", 800, 80)
    m.observe_camera("plaza-north", "offline", 10, 1)  # the reader restarted: its totals start again
    m.observe_heartbeat(0, 40, 35.0)
    m.observe_heartbeat(0, 60, 30.0)
    with world.client(tokens["operator"]) as c:
        c.post(f"/api/alerts/{alert.alert_id}/confirm", json={})
        text = c.get("/metrics").text
        assert 'sentinel_cases{state="dispatched"} 1.0' in text
        assert 'sentinel_cases{state="closed"} 0.0' in text
        assert 'sentinel_alerts_total{event_type="garbage_exposed"} 1.0' in text
        assert 'sentinel_frames_decoded_total{camera="plaza-north"} 810.0' in text
        assert 'sentinel_camera_up{camera="plaza-north"} 0.0' in text
        assert 'sentinel_frames_analysed_total{worker="0"} 60.0' in text
        assert 'sentinel_inference_seconds_count{worker="0"} 2.0' in text
        assert "sentinel_outbox_depth" in text
        spec = c.get("/api/openapi.json").json()
        for path in (
            "/api/alerts",
            "/api/alerts/{alert_id}/reject",
            "/api/cases/{ref}",
            "/api/cameras",
            "/api/grid",
            "/api/kpis",
            "/api/events",
        ):
            assert path in spec["paths"], path
        assert "RejectIn" in spec["components"]["schemas"]
        assert "swagger" in c.get("/api/docs").text.lower()


def test_without_cases_operators_still_review_alerts(world: ConsoleWorld, tokens: dict[str, str]) -> None:
    from sentinel.console.engine_actions import ReviewOnlyActions

    world.deps.actions = ReviewOnlyActions(cameras=lambda: world.config.cameras)
    a, b = world.record_alert("garbage_exposed"), world.record_alert("road_vending")
    with world.client(tokens["operator"]) as c:
        assert c.post(f"/api/alerts/{a.alert_id}/confirm", json={}).json()["review_state"] == "confirmed"
        r = c.post(f"/api/alerts/{b.alert_id}/reject", json={"reason": "a shadow"})
        assert r.json()["review"]["label"] == "false_positive"
        r = c.post("/api/cases/1/actions", json={"action": "accept"})
        assert r.status_code == 404  # no case 1 (there are no cases)
    with world.deps.sessions() as s:
        assert s.scalars(select(CaseRow)).first() is None
    with pytest.raises(Exception, match="cases are disabled"):
        world.deps.actions.case_action("1", "accept", "user:olga", None)
