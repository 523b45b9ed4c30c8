"""The operator's page in headless Chromium against the real console: sign in, a new alert appears live
(within 2 s, no reload), its snapshot opens full size, confirm it, the case appears on the board with its grid
and grid worker; reject another with a reason. The alerts and snapshots are real: `sentinel replay` of the
default detector over vtest.avi. Set SENTINEL_SCREENSHOT=1 to write the page to docs/console.png."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from sentinel.cases.models import CaseAlertRow
from sentinel.console.models import AlertReviewRow
from tests.support.browser import (
    GRID,
    PASSWORD,
    camera_status,
    chromium,
    console_world,
    replay_alerts,
    vtest_snapshot,
)
from tests.support.footage import REPO_ROOT

pytestmark = pytest.mark.slow
OTHER_GRID = "110101001002003"  # 池畔社区第三网格: 周婷 (zhouting)


@pytest.fixture(scope="module")
def real_alerts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("replay")
    return out, replay_alerts(out)


@pytest.fixture
def driver() -> Any:
    d = chromium(1600, 1200)
    yield d
    d.quit()


def sign_in(driver: Any, url: str, username: str, password: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 10).until(ec.url_contains("/login"))
    driver.find_element(By.ID, "username").clear()
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").clear()
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "submit").click()


def test_operator_reviews_a_live_alert(
    tmp_path: Path, real_alerts: tuple[Path, list[dict[str, Any]]], driver: Any
) -> None:
    replay_dir, alerts = real_alerts
    assert len(alerts) >= 4, "the replay should find several crowds in vtest.avi"
    with console_world(tmp_path) as world:
        world.add_user("wangfang", "operator", name="王芳")
        waiting = []
        for payload in alerts[:-1]:  # stored and filed (a case waiting for review) as the daemon does
            alert = world.record_payload(payload, replay_dir)
            world.file_case(alert)
            waiting.append(alert)
        wait = WebDriverWait(driver, 10)

        sign_in(driver, world.url, "wangfang", "wrong password")
        error = wait.until(ec.visibility_of_element_located((By.ID, "error")))
        assert "用户名或密码错误" in error.text and "Wrong user name or password" in error.text
        sign_in(driver, world.url, "wangfang", PASSWORD)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#queue .alert")) == len(waiting))
        wait.until(lambda d: "on" in (d.find_element(By.ID, "live").get_attribute("class") or ""))
        assert "王芳 · operator" in driver.find_element(By.ID, "me").text
        wait.until(
            lambda d: d.find_elements(By.CSS_SELECTOR, '#board .column[data-states^="pending_review"] .case')
        )

        # a new alert arrives while the page is open
        fresh = world.record_payload(alerts[-1], replay_dir)
        case_id = world.file_case(fresh)
        t0 = time.monotonic()
        world.publish_alert(fresh)
        selector = f'#queue .alert[data-id="{fresh.alert_id}"]'
        WebDriverWait(driver, 2, poll_frequency=0.05).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, selector))
        )
        assert time.monotonic() - t0 < 2.0
        card = driver.find_element(By.CSS_SELECTOR, selector)
        text = card.text
        for needle in ("人员聚集", "Crowd gathering", "北广场 North plaza", "天街社区 · 天街社区第一网格",
                       fresh.detected_at[11:19], "确认立案 Confirm", "驳回 Reject"):  # fmt: skip
            assert needle in text, (needle, text)
        assert driver.find_element(By.ID, "queue-count").text == str(len(alerts))
        links = card.find_elements(By.CSS_SELECTOR, "a.clip")
        if fresh.clip is not None and fresh.clip.state in ("ready", "partial"):  # replay cuts clips too
            href = links[0].get_attribute("href") or ""
            assert href.endswith(fresh.clip.url or "-")
            with world.client(world.token("wangfang")) as c:
                r = c.get(href.removeprefix(world.url), headers={"Range": "bytes=0-15"})
                assert r.status_code == 206 and r.headers["content-type"] == "video/mp4"

        # its snapshot, full size
        card.find_element(By.CSS_SELECTOR, "img.thumb").click()
        viewer = wait.until(ec.visibility_of_element_located((By.ID, "viewer-img")))
        wait.until(
            lambda d: (
                d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", viewer) == 768
            )
        )
        assert (viewer.get_attribute("src") or "").endswith(f"/api/alerts/{fresh.alert_id}/snapshot")
        assert "人员聚集" in driver.find_element(By.ID, "viewer-caption").text
        driver.find_element(By.ID, "viewer").click()
        wait.until(ec.invisibility_of_element_located((By.ID, "viewer")))

        # confirm it: its case moves to the board's handling column with its grid and grid worker
        card.find_element(By.CSS_SELECTOR, "button.confirm").click()
        wait.until(ec.staleness_of(card))
        case = world.engine.get(case_id)
        assert case is not None and case.state == "dispatched" and case.worker_id == "zhangli"
        on_board = f'#board .column[data-states^="dispatched"] .case[data-number="{case.number}"]'
        board_card = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, on_board)))
        board_text = board_card.text
        for needle in (f"#{case.number}", "人员聚集", "已派遣 Dispatched", "天街社区 · 天街社区第一网格",
                       "网格员 Worker: 张丽", "时限 Deadline"):  # fmt: skip
            assert needle in board_text, (needle, board_text)
        with world.deps.sessions() as s:  # the other alerts filed under that case are settled with it
            settled = set(s.scalars(select(CaseAlertRow.alert_id).where(CaseAlertRow.case_id == case_id)))
        wait.until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#queue .alert")) == len(alerts) - len(settled)
        )

        # reject another, with a reason: kept as a false-positive label
        target = next(a for a in waiting if a.alert_id not in settled)
        other = driver.find_element(By.CSS_SELECTOR, f'#queue .alert[data-id="{target.alert_id}"]')
        other.find_element(By.CSS_SELECTOR, "button.reject").click()
        wait.until(ec.visibility_of_element_located((By.ID, "dialog")))
        driver.find_elements(By.CSS_SELECTOR, "#dialog input[name=preset]")[2].click()
        driver.find_element(By.ID, "reject-reason").send_keys("只是路人经过 passers-by")
        driver.find_element(By.ID, "dialog-ok").click()
        wait.until(ec.staleness_of(other))
        with world.deps.sessions() as s:
            review = s.scalars(select(AlertReviewRow).where(AlertReviewRow.alert_id == target.alert_id)).one()
        assert review.label == "false_positive" and review.actor == "user:wangfang"
        assert review.reason == "非治理事件 Not a governance matter; 只是路人经过 passers-by"

        # one more handled case on the board, then a picture of the page
        with world.client(world.token("wangfang")) as c:
            assert c.post(f"/api/cases/{case.number}/actions", json={"action": "accept"}).status_code == 200
        wait.until(ec.visibility_of_element_located(
            (By.CSS_SELECTOR, f'#board .case[data-number="{case.number}"] .st-accepted')
        ))  # fmt: skip
        cell = driver.find_element(By.CSS_SELECTOR, f'#map path.cell[data-code="{GRID}"]')
        assert int(cell.get_attribute("data-open") or 0) >= 1
        time.sleep(1.5)  # the arrival highlight fades
        driver.execute_script("document.querySelectorAll('.toast').forEach((t) => t.remove())")
        shot = tmp_path / "console.png"
        driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
        if os.environ.get("SENTINEL_SCREENSHOT"):
            (REPO_ROOT / "docs").mkdir(exist_ok=True)
            shutil.copyfile(shot, REPO_ROOT / "docs" / "console.png")


CSP_WATCH = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation', "
    "(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
)


def test_the_page_and_the_api_docs_run_under_the_csp(tmp_path: Path, driver: Any) -> None:
    """Under the console's Content-Security-Policy the page works with no violation (the legend's colours too),
    signing out passes the origin check, Swagger UI renders every operation from the console's own copy, and
    the policy is really enforced: an injected inline script does not run."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_WATCH})
    with console_world(tmp_path) as world:
        world.add_user("wangfang", "operator", name="王芳")
        world.file_case(world.record_alert(jpeg=vtest_snapshot()))
        wait = WebDriverWait(driver, 15)
        sign_in(driver, world.url, "wangfang", PASSWORD)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#queue .alert img.thumb"))
        wait.until(lambda d: "on" in (d.find_element(By.ID, "live").get_attribute("class") or ""))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#legend i"))
        swatch = "return getComputedStyle(document.querySelector('#legend i')).backgroundColor"
        assert driver.execute_script(swatch) == "rgb(227, 241, 224)"  # FILLS[0], set through the CSSOM
        assert driver.execute_script("return window.__csp") == []

        driver.get(f"{world.url}/api/docs")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 25)
        assert "Sentinel console API" in driver.find_element(By.CSS_SELECTOR, ".info .title").text
        assert driver.execute_script("return window.__csp") == []

        driver.get(world.url)
        logout = wait.until(ec.element_to_be_clickable((By.ID, "logout")))
        logout.click()
        wait.until(ec.url_contains("/login"))
        with world.client() as c:
            c.cookies.update({k["name"]: k["value"] for k in driver.get_cookies()})
            assert c.get("/api/auth/me").status_code == 401  # the session really ended

        ran = driver.execute_script(
            "const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
            "document.body.append(s); return window.__ran === 1"
        )
        assert ran is False
        wait.until(lambda d: any("script-src" in v for v in d.execute_script("return window.__csp")))


def test_the_map_shows_the_cameras_and_the_kpis_each_worker(tmp_path: Path, driver: Any) -> None:
    """A marker per camera with a position (none for one without), coloured by its state, with a tooltip;
    a click on one narrows the case board to that camera's cases; the KPI table has a row per grid worker."""
    from sentinel.config.models import CameraConfig

    def cam(camera_id: str, **extra: Any) -> CameraConfig:
        return CameraConfig.model_validate({"id": camera_id, "source": "rtsp://127.0.0.1:9/x", **extra})

    statuses = [camera_status("plaza-north"), camera_status("gate-east", "offline", name="东门 East gate")]
    with console_world(tmp_path, statuses=lambda: list(statuses)) as world:
        world.deps.cameras = lambda: [
            cam("plaza-north", name="北广场 North plaza", location={"lon": 116.3975, "lat": 39.9087}),
            cam("gate-east", name="东门 East gate", location={"lon": 116.402, "lat": 39.905}),
            cam("lobby", name="大堂 Lobby", grid=GRID),  # no location
        ]
        world.add_user("wangfang", "operator", name="王芳")
        token = world.token("wangfang")
        here = world.record_alert()
        there = world.record_alert("road_vending", camera_id="gate-east", grid=OTHER_GRID)
        with world.client(token) as c:
            for alert in (here, there):
                assert c.post(f"/api/alerts/{alert.alert_id}/confirm", json={}).status_code == 200
        wait = WebDriverWait(driver, 15)
        sign_in(driver, world.url, "wangfang", PASSWORD)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#board .case")) == 2)
        markers = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#map svg g.camera"))
        assert sorted(m.get_attribute("data-camera") for m in markers) == ["gate-east", "plaza-north"]
        gate = driver.find_element(By.CSS_SELECTOR, '#map g.camera[data-camera="gate-east"]')
        assert (gate.get_attribute("class") or "").split() == ["camera", "down", "busy"]
        tip = gate.find_element(By.TAG_NAME, "title").get_attribute("textContent") or ""
        assert "东门 East gate (gate-east)" in tip and "离线 Offline" in tip and "open cases: 1" in tip
        plaza = driver.find_element(By.CSS_SELECTOR, '#map g.camera[data-camera="plaza-north"]')
        assert "up" in (plaza.get_attribute("class") or "").split()
        # the marker stands inside the map, where its grid cell is drawn
        inside = (
            "const b = arguments[0].getBBox(), v = arguments[0].ownerSVGElement.viewBox.baseVal;"
            "return b.x >= v.x && b.y >= v.y && b.x + b.width <= v.x + v.width && b.y + b.height <= v.y + v.height"
        )
        assert driver.execute_script(inside, plaza.find_element(By.CSS_SELECTOR, "circle.dot")) is True

        gate.find_element(By.CSS_SELECTOR, "circle.dot").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#board .case")) == 1)
        assert "池畔社区第三网格" in driver.find_element(By.CSS_SELECTOR, "#board .case").text
        chip = driver.find_element(By.ID, "board-filter")
        assert chip.is_displayed() and "东门 East gate" in chip.text
        chip.click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#board .case")) == 2)

        rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#worker-kpis tr[data-worker]"))
        cells = {
            r.get_attribute("data-worker"): [td.text for td in r.find_elements(By.TAG_NAME, "td")]
            for r in rows
        }
        assert sorted(cells) == ["zhangli", "zhouting"]
        assert cells["zhangli"][:4] == ["张丽 (zhangli)", "1", "1", "0"]  # one case, open, none closed
        assert cells["zhouting"][0] == "周婷 (zhouting)"


def test_every_case_card_shows_its_worker_deadline_and_lateness(tmp_path: Path, driver: Any) -> None:
    """Pending: the clock starts at dispatch; overdue: marked; suspended: the clock stopped; closed: on time or
    late against the disposal deadline. Every card names the grid worker."""
    from datetime import UTC, datetime, timedelta

    from sentinel.cases.models import CaseRow

    with console_world(tmp_path) as world:
        world.add_user("wangfang", "operator", name="王芳")
        world.add_user("ada", "admin")
        numbers: dict[str, int] = {}
        with world.client(world.token("wangfang")) as c, world.client(world.token("ada")) as admin:
            world.file_case(world.record_alert("road_vending"))  # waits for review: no deadline yet
            for kind, event_type in (("late", "garbage_exposed"), ("suspended", "debris_accumulation"),
                                     ("on_time", "material_clutter"), ("closed_late", "motor_parking")):  # fmt: skip
                alert = world.record_alert(event_type)
                numbers[kind] = c.post(f"/api/alerts/{alert.alert_id}/confirm", json={}).json()["case_number"]
            with world.deps.sessions.begin() as s:  # two deadlines that have passed
                for kind in ("late", "closed_late"):
                    row = s.scalars(select(CaseRow).where(CaseRow.number == numbers[kind])).one()
                    row.deadline_at = row.due_at = datetime.now(UTC) - timedelta(minutes=5)

            def act(kind: str, action: str, who: httpx.Client = c) -> httpx.Response:
                return who.post(f"/api/cases/{numbers[kind]}/actions", json={"action": action})

            assert act("suspended", "suspend").status_code == 200
            for kind in ("on_time", "closed_late"):
                assert [act(kind, a).status_code for a in ("accept", "feedback")] == [200, 200]
                assert act(kind, "close", admin).json()["state"] == "closed"
        wait = WebDriverWait(driver, 15)
        sign_in(driver, world.url, "wangfang", PASSWORD)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#board .case")) == 5)
        cards = {
            c.get_attribute("data-number"): c for c in driver.find_elements(By.CSS_SELECTOR, "#board .case")
        }
        text = {n: card.text for n, card in cards.items()}
        assert all(
            "网格员 Worker: 张丽" in t and ("时限 Deadline" in t or "结案 Closed" in t) for t in text.values()
        ), text
        pending = next(n for n in text if int(n) not in numbers.values())
        assert "派遣后计时 starts at dispatch" in text[pending]
        late = cards[str(numbers["late"])]
        assert "overdue" in (late.get_attribute("class") or "").split()
        assert "超期 Overdue" in late.text and " over" in late.text
        assert "停止计时 suspended, clock stopped" in text[str(numbers["suspended"])]
        assert "按期 On time" in text[str(numbers["on_time"])]
        assert "超期结案 Closed late" in text[str(numbers["closed_late"])]
        assert all(
            "overdue" not in (cards[str(numbers[k])].get_attribute("class") or "")
            for k in ("suspended", "on_time")
        )
