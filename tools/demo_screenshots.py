"""Screenshots of the demo as a newcomer sees it: `sentinel demo` runs for `--after` seconds, then headless
Chromium signs in as `demo` (the console, docs/console.png) and as the demo's grid worker on a phone-sized
viewport (/m/, docs/img/demo-phone.png). The pictures in the README come from here, not from test fixtures.

    .venv/bin/python tools/demo_screenshots.py [--after 90]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.support.browser import chromium  # noqa: E402
from tests.support.servers import free_port  # noqa: E402


def logins(path: Path) -> dict[str, str]:
    """user -> password from the demo's login file."""
    found, user = {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("user: "):
            user = line.removeprefix("user: ").strip()
        elif line.startswith("password: ") and user:
            found[user] = line.removeprefix("password: ").strip()
    return found


def sign_in(driver: object, url: str, user: str, password: str) -> None:
    driver.get(url)  # type: ignore[attr-defined]
    WebDriverWait(driver, 15).until(ec.url_contains("/login"))
    driver.find_element(By.ID, "username").send_keys(user)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "password").send_keys(password)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "submit").click()  # type: ignore[attr-defined]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--after", type=float, default=90.0, help="seconds of demo before the pictures")
    args = ap.parse_args()
    port, mqtt_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demo"
        env = {**os.environ, "SENTINEL_DEMO_DATA": str(data), "PYTHONPATH": str(REPO)}
        cmd = [
            sys.executable,
            "-m",
            "sentinel.cli",
            "demo",
            "--port",
            str(port),
            "--mqtt-port",
            str(mqtt_port),
        ]
        log = (Path(tmp) / "demo.log").open("w+")
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=log)
        try:
            time.sleep(args.after)
            accounts = logins(data / "demo-login.txt")
            base = f"http://127.0.0.1:{port}"
            desk = chromium(1600, 1100)
            try:
                sign_in(desk, base + "/", "demo", accounts["demo"])
                time.sleep(6)  # the page's first fetches and the live feed
                desk.save_screenshot(str(REPO / "docs" / "console.png"))
            finally:
                desk.quit()
            phone = chromium(500, 900)
            try:
                phone.execute_cdp_cmd(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
                )
                user = next(u for u in accounts if u != "demo")
                sign_in(phone, base + "/m/", user, accounts[user])
                time.sleep(5)
                phone.save_screenshot(str(REPO / "docs" / "img" / "demo-phone.png"))
            finally:
                phone.quit()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
            log.seek(0)
            print("".join(log.readlines()[-15:]))
    print("wrote docs/console.png and docs/img/demo-phone.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
