"""The grid worker's phone page (/m/) in headless Chromium at 390x844 against the real console: 张丽 signs in,
sees only her grid's cases (deadline first), opens one (snapshot, map-app links), accepts it, reports it done
with a photo taken "on the phone" and a note; a new case appears live; the operator's console then shows the
photo in the case log; her direct URL to another grid's case says not found. No CSP violation on the way.
SENTINEL_SCREENSHOTS=1 writes docs/img/phone-cases.png and docs/img/phone-case.png."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from sentinel.console.models import EvidenceRow
from tests.support.browser import GRID, PASSWORD, ConsoleWorld, chromium, console_world, vtest_snapshot
from tests.support.footage import REPO_ROOT

pytestmark = pytest.mark.slow
OTHER_GRID = "110101001002003"  # 池畔社区第三网格: 周婷
CSP_WATCH = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation', "
    "(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
)


@pytest.fixture
def driver() -> Any:
    d = chromium(500, 900)  # headless Chromium's narrowest window: the phone's viewport is emulated
    d.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    d.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True})
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_WATCH})
    yield d
    d.quit()


def dispatched(world: ConsoleWorld, grid: str, camera: str, event_type: str = "garbage_exposed") -> str:
    """A case confirmed by the operator through the console's actions (announced live, as in the daemon)."""
    alert = world.record_alert(event_type, jpeg=vtest_snapshot(), grid=grid, camera_id=camera)
    case_id = world.file_case(alert)
    world.deps.actions.case_action(case_id, "confirm", "user:olga", None)
    return case_id


def sign_in(driver: Any, url: str, username: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 10).until(ec.url_contains("/login"))
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "submit").click()


def phone_photo(path: Path) -> Path:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    pixels[100:380, 200:440] = (40, 160, 60)  # something to see in the thumbnail
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", exif=Image.Exif().tobytes())
    path.write_bytes(buf.getvalue())
    return path


def loaded(driver: Any, element: Any) -> bool:
    return bool(
        driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", element)
    )


def shoot(driver: Any, tmp_path: Path, name: str) -> None:
    driver.execute_script("document.querySelectorAll('.toast').forEach((t) => t.remove())")
    shot = tmp_path / name
    driver.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SENTINEL_SCREENSHOTS"):
        (REPO_ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, REPO_ROOT / "docs" / "img" / name)


def test_a_grid_worker_handles_a_case_on_the_phone(tmp_path: Path, driver: Any) -> None:
    with console_world(tmp_path) as world:
        world.add_user("olga", "operator", name="值班员")
        world.add_user("zl", "grid_worker", name="张丽", roster_id="zhangli")
        crowd = dispatched(world, GRID, "plaza-north", "crowd_gathering")  # 30 min: the nearest deadline
        garbage = dispatched(world, GRID, "east-gate")
        theirs = dispatched(world, OTHER_GRID, "pond-south")
        wait = WebDriverWait(driver, 15)

        sign_in(driver, f"{world.url}/m/", "zl")  # the page sends her to sign in, and back
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cases .mcase")) == 2)
        assert driver.current_url == f"{world.url}/m/"
        assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [390, 844]
        cards = driver.find_elements(By.CSS_SELECTOR, "#cases .mcase")
        assert [c.get_attribute("data-id") for c in cards] == [crowd, garbage]  # deadline first, no 池畔 case
        text = cards[1].text
        for needle in ("暴露垃圾", "示例街道 / 天街社区 / 天街社区第一网格", "已派遣", "时限"):
            assert needle in text, (needle, text)
        assert "张丽" in driver.find_element(By.ID, "me").text
        wait.until(lambda d: all(loaded(d, i) for i in d.find_elements(By.CSS_SELECTOR, "#cases img.thumb")))
        wait.until(lambda d: "on" in (d.find_element(By.ID, "live").get_attribute("class") or ""))
        manifest = driver.find_element(By.CSS_SELECTOR, "link[rel=manifest]").get_attribute("href")
        assert manifest == f"{world.url}/m/manifest.webmanifest"
        wait.until(lambda d: d.execute_script(
            "return navigator.serviceWorker.getRegistration('/m/').then((r) => !!(r && (r.active || r.installing"
            " || r.waiting)))"
        ))  # fmt: skip
        shoot(driver, tmp_path, "phone-cases.png")

        # open the garbage case: snapshot, where it is, accept
        cards[1].click()
        snapshot = wait.until(ec.visibility_of_element_located((By.ID, "snapshot")))
        wait.until(lambda d: loaded(d, snapshot))
        assert (
            driver.find_element(By.ID, "map-app").get_attribute("href") or ""
        ) == "geo:39.908700,116.397500"
        assert (driver.find_element(By.ID, "amap").get_attribute("href") or "").startswith(
            "https://uri.amap.com/marker?position="
        )
        driver.find_element(By.ID, "accept").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "case-state"), "已签收"))
        assert world.engine.get(garbage).state == "accepted"  # type: ignore[union-attr]

        # report it done: a photo from the camera and a note
        driver.find_element(By.ID, "photos").send_keys(str(phone_photo(tmp_path / "IMG_0001.jpg")))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".previews img"))
        driver.find_element(By.ID, "note").send_keys("垃圾已清运 cleared")
        driver.find_element(By.ID, "send-feedback").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".log .a-feedback .evidence-thumb"))
        state = world.engine.get(garbage).state  # type: ignore[union-attr]
        assert state in ("feedback", "verifying")
        thumb = driver.find_element(By.CSS_SELECTOR, ".log .a-feedback .evidence-thumb")
        wait.until(lambda d: loaded(d, thumb))
        assert "垃圾已清运 cleared" in driver.find_element(By.CSS_SELECTOR, ".log .a-feedback").text
        with world.deps.sessions() as s:
            (row,) = s.query(EvidenceRow).filter(EvidenceRow.case_id == garbage).all()
            assert row.actor == "zhangli" and row.transition_id is not None
        driver.execute_script("window.scrollTo(0, 0)")
        shoot(driver, tmp_path, "phone-case.png")

        # back to the list: a new case of her grid arrives while the page is open
        driver.find_element(By.ID, "back").click()
        wait.until(ec.visibility_of_element_located((By.ID, "cases")))
        fresh = dispatched(world, GRID, "north-gate", "material_clutter")
        WebDriverWait(driver, 10).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, f'#cases .mcase[data-id="{fresh}"]')
        )
        dispatched(world, OTHER_GRID, "pond-north", "material_clutter")  # not hers: never shows
        assert not driver.find_elements(By.CSS_SELECTOR, f'#cases .mcase[data-id="{theirs}"]')

        # another grid's case by its URL: not found
        driver.get(f"{world.url}/m/#/case/{theirs}")
        wait.until(ec.visibility_of_element_located((By.ID, "not-found")))
        assert "未找到该案件" in driver.find_element(By.ID, "not-found").text
        assert not driver.find_elements(By.ID, "snapshot")
        assert driver.execute_script("return window.__csp") == []

        # the operator's console: the photo in the case log
        driver.find_element(By.ID, "logout").click()
        wait.until(ec.url_contains("/login"))
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.set_window_size(1400, 1000)
        sign_in(driver, world.url, "olga")
        number = world.engine.get(garbage).number  # type: ignore[union-attr]
        card = wait.until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, f'#board .case[data-number="{number}"]'))
        )
        card.click()
        photo = wait.until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, "#dialog .log .evidence-thumb"))
        )
        wait.until(lambda d: loaded(d, photo))
        assert (photo.get_attribute("src") or "").endswith(f"/api/evidence/{row.id}")
        assert "垃圾已清运 cleared" in driver.find_element(By.CSS_SELECTOR, "#dialog .log").text
        assert driver.execute_script("return window.__csp") == []
