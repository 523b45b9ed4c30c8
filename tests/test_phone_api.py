"""Field users (grid_worker) on the real console: bound to a roster person, they see only the cases their
roster grants cover (404 for any other, by id or number), get 403 on the monitoring room's routes, act
through the case engine's authority, and report with photos that are checked, re-encoded without EXIF and
shown in the case log. Real uvicorn, real SQLite, the real case engine and the sample roster."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import ExifTags, Image
from sqlalchemy import select

from sentinel.cases.models import CaseRow, CaseTransitionRow
from sentinel.console.evidence import MAX_PHOTO_BYTES
from sentinel.console.models import EvidenceRow
from sentinel.console.scope import event_visible
from sentinel.console.users import UserError
from tests.support.browser import GRID, PASSWORD, ConsoleWorld, console_world, vtest_snapshot

OTHER_GRID = "110101001002003"  # 池畔社区第三网格: 周婷 (zhouting)
NEIGHBOUR = "110101001001002"  # 天街社区第二网格: 刘芳; 王建国 leads the community (天街社区)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as w:
        w.add_user("olga", "operator")
        w.add_user("tom", "technician")
        w.add_user("zl", "grid_worker", name="张丽", roster_id="zhangli")
        w.add_user("zt", "grid_worker", name="周婷", roster_id="zhouting")
        w.add_user("wjg", "grid_worker", name="王建国", roster_id="wangjianguo")
        yield w


def dispatched_case(world: ConsoleWorld, grid: str, jpeg: bytes | None = None) -> tuple[str, int]:
    """A confirmed case at `grid`, routed by the roster to its grid worker: (case id, number)."""
    alert = world.record_alert(grid=grid, jpeg=jpeg, camera_id=f"cam-{grid[-6:]}")  # one camera a grid
    case_id = world.file_case(alert)
    if world.engine.get(case_id).state == "pending_review":  # type: ignore[union-attr]
        world.engine.act(case_id, "confirm", "user:olga")
    case = world.engine.get(case_id)
    assert case is not None and case.state == "dispatched"
    return case_id, case.number


def photo(width: int = 320, height: int = 200, fmt: str = "JPEG", exif: bool = True) -> bytes:
    """A picture as a phone takes it: EXIF with the maker, a GPS position and an orientation."""
    rng = np.random.default_rng(7)
    img = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    buf = io.BytesIO()
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "SecretPhone"  # Make
        tags[0x0112] = 6  # Orientation: turn 90° clockwise to view
        tags[ExifTags.IFD.GPSInfo] = {1: "N", 2: (39.0, 54.0, 31.3), 3: "E", 4: (116.0, 23.0, 51.0)}
        img.save(buf, fmt, exif=tags.tobytes())
    else:
        img.save(buf, fmt)
    return buf.getvalue()


def upload(c: Any, ref: str | int, files: list[tuple[str, bytes]], **data: str) -> Any:
    return c.post(
        f"/api/cases/{ref}/evidence",
        files=[("photos", (name, body, "image/jpeg")) for name, body in files],
        data=data,
    )


def test_a_grid_worker_sees_only_the_cases_of_their_grids(world: ConsoleWorld) -> None:
    mine, my_number = dispatched_case(world, GRID)
    theirs, their_number = dispatched_case(world, OTHER_GRID)
    neighbours, _ = dispatched_case(world, NEIGHBOUR)
    with world.client(world.token("zl")) as c:
        page = c.get("/api/my/cases").json()
        assert [i["case_id"] for i in page["items"]] == [mine]
        assert page["person"]["name"] == "张丽" and page["roles"] == ["grid_worker"]
        item = page["items"][0]
        assert item["roles"] == ["grid_worker"] and item["worker"]["id"] == "zhangli"
        assert item["place_path"] == "示例街道 / 天街社区 / 天街社区第一网格"
        assert [i["case_id"] for i in c.get("/api/cases").json()["items"]] == [mine]
        assert c.get(f"/api/cases/{my_number}").json()["case_id"] == mine
        for ref in (theirs, str(their_number), neighbours):  # exists, but not for her: as if it did not
            r = c.get(f"/api/cases/{ref}")
            assert r.status_code == 404 and r.json()["detail"] == f"no case {ref!r}"
            assert c.post(f"/api/cases/{ref}/actions", json={"action": "accept"}).status_code == 404
        assert c.get("/api/cases/99999").json()["detail"] == "no case '99999'"  # the same answer
    with world.deps.sessions.begin() as s:  # the neighbour's case went past its deadline: up to the leader
        s.get(CaseRow, neighbours).escalation_level = 1  # type: ignore[union-attr]
    with world.client(world.token("wjg")) as c:  # 王建国 leads 天街社区: both of its grids, not 池畔
        page = c.get("/api/my/cases").json()
        assert {i["case_id"] for i in page["items"]} == {mine, neighbours}
        assert {i["case_id"]: i["escalated"] for i in page["items"]} == {mine: False, neighbours: True}
        assert "grid_leader" in page["roles"] and "community" in page["roles"]
        assert c.get(f"/api/cases/{theirs}").status_code == 404
    with world.client(world.token("olga")) as c:  # operators: everything, as before
        assert c.get("/api/cases").json()["total"] == 3
        assert len(c.get("/api/my/cases").json()["items"]) == 3


def test_my_cases_come_nearest_deadline_first_with_place_map_and_media(world: ConsoleWorld) -> None:
    first, _ = dispatched_case(world, GRID, jpeg=vtest_snapshot())
    second, _ = dispatched_case(world, GRID)  # same type, same place, still open: joins the first
    assert second == first
    third = world.file_case(world.record_alert("crowd_gathering", grid=GRID, camera_id=f"cam-{GRID[-6:]}"))
    world.engine.act(third, "confirm", "user:olga")
    with world.client(world.token("zl")) as c:
        items = c.get("/api/my/cases").json()["items"]
        deadlines = [i["deadline_at"] for i in items]
        assert len(items) == 2 and deadlines == sorted(deadlines)
        case = next(i for i in items if i["case_id"] == first)
        assert case["map"]["geo"] == "geo:39.908700,116.397500"
        # AMap draws GCJ-02: the marker is shifted from the WGS-84 position (some 100-700 m in Beijing)
        amap = case["map"]["amap"]
        assert amap.startswith("https://uri.amap.com/marker?position=116.40")
        lon, lat = (float(v) for v in amap.split("position=")[1].split("&")[0].split(","))
        assert 0.001 < abs(lon - 116.3975) + abs(lat - 39.9087) < 0.02
        snapshot = c.get(case["snapshot_url"])
        assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "image/jpeg"
        media = c.get(c.get(f"/api/cases/{first}").json()["alerts"][0]["snapshot_url"])
        assert media.status_code == 200
    theirs, _ = dispatched_case(world, OTHER_GRID, jpeg=vtest_snapshot())
    with world.client(world.token("olga")) as c:
        alert = c.get(f"/api/cases/{theirs}").json()["alerts"][0]
    with world.client(world.token("zl")) as c:  # another grid's snapshot: not found, by either URL
        assert c.get(alert["snapshot_url"]).status_code == 404
        stored = world.deps.engine.connect().exec_driver_sql(
            "SELECT payload FROM alerts WHERE id = ?", (alert["alert_id"],)
        )
        url = __import__("json").loads(stored.scalar())["snapshot"]["url"]
        assert c.get(url).status_code == 404
    with world.client(world.token("olga")) as c:
        assert c.get(url).status_code == 200


def test_field_users_get_403_on_the_monitoring_rooms_routes(world: ConsoleWorld) -> None:
    alert = world.record_alert()
    with world.client(world.token("zl")) as c:
        for method, path in [
            ("GET", "/api/alerts"), ("GET", f"/api/alerts/{alert.alert_id}"),
            ("POST", f"/api/alerts/{alert.alert_id}/confirm"), ("POST", f"/api/alerts/{alert.alert_id}/reject"),
            ("GET", "/api/users"), ("POST", "/api/users"), ("GET", "/api/cameras"),
            ("GET", "/api/cameras/plaza-north/snapshot"), ("GET", "/api/transitions"), ("GET", "/api/kpis"),
            ("GET", "/api/grid"), ("GET", "/api/nodes"), ("GET", "/metrics"), ("GET", "/api/openapi.json"),
        ]:  # fmt: skip
            r = c.request(method, path, json={"reason": "x"} if method == "POST" else None)
            assert r.status_code == 403, (method, path, r.status_code)
            assert "you are grid_worker" in r.json()["detail"]
        me = c.get("/api/auth/me").json()
        assert me["role"] == "grid_worker" and me["roster_id"] == "zhangli"
        assert c.get("/api/site").status_code == 200
    with world.client(world.token("tom")) as c:  # a technician still may not act on cases
        mine, _ = dispatched_case(world, GRID)
        assert c.post(f"/api/cases/{mine}/actions", json={"action": "accept"}).status_code == 403
        assert upload(c, mine, [("a.jpg", photo())]).status_code == 403


def test_a_grid_worker_acts_as_their_roster_person_and_the_engine_decides(world: ConsoleWorld) -> None:
    mine, number = dispatched_case(world, GRID)
    with world.client(world.token("zl")) as c:
        r = c.post(f"/api/cases/{number}/actions", json={"action": "accept", "note": "在路上"})
        assert r.status_code == 200 and r.json()["state"] == "accepted"
        assert r.json()["transitions"][-1]["actor"] == "zhangli"  # the roster person, as over MQTT
        r = c.post(f"/api/cases/{mine}/actions", json={"action": "close", "note": "done"})
        assert r.status_code == 403 and "zhangli (grid_worker) may not 'close'" in r.json()["detail"]


def test_feedback_with_photos_stores_clean_jpegs_in_the_case_log(world: ConsoleWorld) -> None:
    mine, _ = dispatched_case(world, GRID)
    with world.client(world.token("zl")) as c:
        c.post(f"/api/cases/{mine}/actions", json={"action": "accept"})
        phone_photo = photo()
        assert b"SecretPhone" in phone_photo
        png = photo(fmt="PNG", exif=False)
        r = upload(
            c, mine, [("IMG_0001.jpg", phone_photo), ("shot.png", png)], note="已清理完毕", feedback="true"
        )
        assert r.status_code == 201, r.text
        case = r.json()
    assert case["state"] in ("feedback", "verifying")
    feedback = next(t for t in case["transitions"] if t["action"] == "feedback")
    assert feedback["note"] == "已清理完毕" and feedback["actor"] == "zhangli"
    assert [e["transition_id"] for e in case["evidence"]] == [feedback["id"], feedback["id"]]
    first = case["evidence"][0]
    assert (first["width"], first["height"]) == (200, 320)  # turned upright by its EXIF orientation
    with world.client(world.token("olga")) as c:  # the operator's case log shows them
        shown = c.get(f"/api/cases/{mine}").json()["evidence"]
        assert [e["id"] for e in shown] == [e["id"] for e in case["evidence"]]
        stored = c.get(first["url"])
    assert stored.status_code == 200 and stored.headers["content-type"] == "image/jpeg"
    assert b"SecretPhone" not in stored.content and b"Exif" not in stored.content
    assert dict(Image.open(io.BytesIO(stored.content)).getexif()) == {}  # no GPS, no maker, nothing
    import hashlib

    assert (
        hashlib.sha256(stored.content).hexdigest() == first["sha256"] and len(stored.content) == first["size"]
    )
    with world.deps.sessions() as s:
        rows = list(s.scalars(select(EvidenceRow).where(EvidenceRow.case_id == mine)))
        log = s.get(CaseTransitionRow, feedback["id"])
    assert len(rows) == 2 and {r.username for r in rows} == {"zl"} and log is not None
    files = sorted((world.data_dir / "evidence").rglob("*.jpg"))
    assert len(files) == 2 and all(oct(f.stat().st_mode)[-3:] == "600" for f in files)
    with world.client(world.token("zt")) as c:  # another grid's worker: not found
        assert c.get(first["url"]).status_code == 404


def test_bad_photos_are_refused_with_a_clear_4xx_and_leave_nothing(world: ConsoleWorld) -> None:
    mine, _ = dispatched_case(world, GRID)
    with world.client(world.token("zl")) as c:
        c.post(f"/api/cases/{mine}/actions", json={"action": "accept"})
        r = upload(c, mine, [("notes.jpg", b"this is not a picture at all")], feedback="true")
        assert (
            r.status_code == 415
            and r.json()["detail"] == "photo 1 (notes.jpg) is not a JPEG, PNG or WebP image"
        )
        r = upload(c, mine, [("ok.jpg", photo()), ("cut.jpg", photo()[:600])], feedback="true")
        assert r.status_code == 415 and "photo 2 (cut.jpg) cannot be read as an image" in r.json()["detail"]
        huge = photo() + b"\0" * (MAX_PHOTO_BYTES + 1)
        r = upload(c, mine, [("huge.jpg", huge)], feedback="true")
        assert (
            r.status_code == 413
            and "photo 1 (huge.jpg) is 10.0 MB: a photo may have at most 10.0 MB" in (r.json()["detail"])
        )
        r = upload(c, mine, [(f"{i}.jpg", photo(40, 30)) for i in range(7)], feedback="true")
        assert r.status_code == 422 and "7 photos: at most 6" in r.json()["detail"]
        r = upload(c, mine, [("", b"")], note="x", feedback="true")  # the form's file input left empty
        assert r.status_code == 422 and "add at least one photo" in r.json()["detail"]
        r = c.post(f"/api/cases/{mine}/evidence", data={"note": "x", "feedback": "true"})
        assert r.status_code == 422 and "multipart/form-data" in r.json()["detail"]
        r = c.post(f"/api/cases/{mine}/evidence", json={"photos": []})
        assert r.status_code == 422 and "multipart/form-data" in r.json()["detail"]
        r = upload(c, mine, [("a.jpg", photo())], note="x" * 1001)
        assert r.status_code == 422 and "at most 1000" in r.json()["detail"]
        assert c.get(f"/api/cases/{mine}").json()["state"] == "accepted"  # no feedback happened
    assert not (world.data_dir / "evidence").exists() or not list(
        (world.data_dir / "evidence").rglob("*.jpg")
    )
    with world.deps.sessions() as s:
        assert s.scalars(select(EvidenceRow)).first() is None


def test_photos_without_feedback_and_a_refused_feedback(world: ConsoleWorld) -> None:
    mine, _ = dispatched_case(world, GRID)
    with world.client(world.token("zl")) as c:
        r = upload(c, mine, [("a.jpg", photo())], feedback="true")  # not accepted yet: no feedback
        assert r.status_code == 409, r.text
        assert not list((world.data_dir / "evidence").rglob("*.jpg"))
        r = upload(c, mine, [("before.jpg", photo())], note="到场照片")  # photos alone, on the way
        assert r.status_code == 201 and r.json()["state"] == "dispatched"
        (only,) = r.json()["evidence"]
        assert only["transition_id"] is None and only["note"] == "到场照片"


def test_the_live_feed_gives_field_users_only_their_cases() -> None:
    from sentinel.cases.authority import Actor, Grant, Role

    worker = Actor("zhangli", (Grant(Role.grid_worker, GRID),))
    mine = {"grid": {"grid": GRID}, "assignee": "zhangli", "routing": {"grid_worker": "zhangli"}}
    theirs = {"grid": {"grid": OTHER_GRID}, "assignee": "zhouting", "routing": {"grid_worker": "zhouting"}}
    sent_to_her = {
        "grid": {"grid": OTHER_GRID},
        "assignee": "zhangli",
        "routing": {"grid_worker": "zhouting"},
    }
    assert event_visible(worker, "case", mine) and event_visible(worker, "case", sent_to_her)
    assert not event_visible(worker, "case", theirs)
    assert not event_visible(worker, "alert", mine) and not event_visible(worker, "camera", {})
    assert event_visible(None, "alert", {})  # staff: everything


def test_users_are_bound_to_roster_people(world: ConsoleWorld, tmp_path: Path) -> None:
    users = world.deps.users
    assert users.get("zl").roster_id == "zhangli"  # type: ignore[union-attr]
    with world.client(world.token("olga")) as c:  # only admins manage users
        assert c.post("/api/users", json={}).status_code == 403
    world.add_user("ada", "admin")
    with world.client(world.token("ada")) as c:
        body = {"username": "ghost", "password": PASSWORD, "role": "grid_worker", "roster_id": "nobody"}
        r = c.post("/api/users", json=body)
        assert r.status_code == 422 and "'nobody' is not a person of the roster" in r.json()["detail"]
        r = c.post("/api/users", json=body | {"roster_id": None})
        assert r.status_code == 422 and "needs the roster person" in r.json()["detail"]
        r = c.post("/api/users", json=body | {"roster_id": "liufang"})
        assert r.status_code == 201 and r.json()["roster_id"] == "liufang"
        r = c.patch("/api/users/olga", json={"roster_id": "liufang"})
        assert r.status_code == 422 and "field staff only" in r.json()["detail"]
    with pytest.raises(UserError):
        users.add("x", PASSWORD, "boss")


def test_users_cli_binds_a_grid_worker_to_the_roster(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1] / "config"
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        f"storage:\n  data_dir: {tmp_path / 'var'}\n"
        f"grid:\n  cells: {root / 'grid.geojson'}\n  roster: {root / 'roster.yaml'}\n"
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sentinel.cli", "users", *args, "--config", str(config), "--password-stdin"],
            input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    r = run("add", "zl", "--role", "grid_worker", "--roster-id", "nobody")
    assert r.returncode == 1 and "'nobody' is not a person of the roster" in r.stderr and not r.stdout
    r = run("add", "zl", "--role", "grid_worker")
    assert r.returncode == 1 and "needs the roster person" in r.stderr
    r = run("add", "zl", "--role", "grid_worker", "--roster-id", "zhangli", "--name", "张丽")
    assert r.returncode == 0 and r.stdout.strip() == "added zl (grid_worker, roster person zhangli)", r.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "sentinel.cli", "users", "list", "--config", str(config)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "zl    grid_worker  zhangli" in listed.stdout


def test_migration_0009_adds_roster_ids_and_evidence_and_goes_down_again(db_url: str) -> None:
    """Users, their tokens and sessions survive 0009 both ways (a table copy on SQLite would have cascaded
    their deletion). On SQLite and on PostgreSQL."""
    import sqlalchemy as sa

    from sentinel.console.users import Users
    from sentinel.storage.db import make_engine, migrate, session_factory
    from tests.support.browser import FAST_HASHES
    from tests.test_console_auth import _alembic

    engine = make_engine(db_url)
    with engine.begin() as conn:
        _alembic(conn, "upgrade", "0008")
    migrate(engine)
    users = Users(session_factory(engine), password_cost=FAST_HASHES)
    users.add("olga", PASSWORD, "operator")
    users.create_token("olga", "probe")
    users.add("zl", PASSWORD, "grid_worker", roster_id="zhangli")
    inspect = sa.inspect(engine)
    assert "roster_id" in {c["name"] for c in inspect.get_columns("users")}
    assert "transition_id" in {c["name"] for c in inspect.get_columns("case_evidence")}
    with engine.begin() as conn:
        _alembic(conn, "downgrade", "0008")
    inspect = sa.inspect(engine)
    assert "roster_id" not in {c["name"] for c in inspect.get_columns("users")}
    assert "case_evidence" not in inspect.get_table_names()
    migrate(engine)
    assert len(users.tokens("olga")) == 1 and users.get("zl").roster_id is None  # type: ignore[union-attr]
    engine.dispose()


def test_the_phone_page_is_served_and_installable(world: ConsoleWorld) -> None:
    import json

    with world.client(follow_redirects=False) as c:
        r = c.get("/m/")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/m/"
        assert c.get("/m").headers["location"] == "/m/"
        manifest = c.get("/m/manifest.webmanifest")
        assert manifest.headers["content-type"] == "application/manifest+json"
        app = json.loads(manifest.text)
        assert app["start_url"] == "/m/" and app["display"] == "standalone" and app["lang"] == "zh-CN"
        for icon in app["icons"]:
            got = c.get(icon["src"])
            assert got.status_code == 200 and got.headers["content-type"] == icon["type"]
        sw = c.get("/m/sw.js")
        assert sw.status_code == 200 and sw.headers["service-worker-allowed"] == "/m/"
        assert c.get("/m/app.js").status_code == 404  # only the phone page's own files
    with world.client(world.token("zl"), follow_redirects=False) as c:
        assert c.get("/").headers["location"] == "/m/"  # the console sends field staff to their page
        page = c.get("/m/")
        assert page.status_code == 200 and '<html lang="zh-CN">' in page.text
    with world.client(world.token("olga"), follow_redirects=False) as c:
        assert c.get("/").status_code == 200
