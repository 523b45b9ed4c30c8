"""The console's icon: `static/favicon.svg`, linked from the operator page and the sign-in page, served to
anyone (the sign-in page shows it before a login) as an SVG image, and drawn by Chromium under the console's
Content-Security-Policy. On a real uvicorn over a real SQLite file."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import PASSWORD, chromium, console_world
from tests.test_console_browser import sign_in

ICON_LINK = re.compile(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">')


def test_both_pages_link_an_svg_icon_that_is_served(tmp_path: Path) -> None:
    with console_world(tmp_path) as world:
        world.add_user("olga", "operator")
        with world.client(world.token("olga")) as c:
            pages = {"/": c.get("/"), "/login": c.get("/login")}
            hrefs = set()
            for path, page in pages.items():
                assert page.status_code == 200, path
                found = ICON_LINK.findall(page.text)
                assert len(found) == 1, (path, page.text[:400])
                hrefs.add(found[0])
        assert hrefs == {"/static/favicon.svg"}
        with world.client() as anonymous:  # before any login: the sign-in page shows it
            icon = anonymous.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(icon.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox") == "0 0 64 64"


def _icon_size(driver: Any) -> Any:
    """Load the page's linked icon as an image (img-src of the page's CSP applies): its natural size."""
    driver.execute_script(
        "window.iconSize = null; const img = new Image();"
        "img.onload = () => { window.iconSize = [img.naturalWidth, img.naturalHeight]; };"
        "img.onerror = () => { window.iconSize = 'error'; };"
        "img.src = document.querySelector('link[rel=icon]').href;"
    )
    return WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.iconSize"))


def test_chromium_draws_the_icon_on_both_pages(tmp_path: Path) -> None:
    driver: Any = chromium(1000, 800)
    try:
        with console_world(tmp_path) as world:
            world.add_user("olga", "operator")
            driver.get(world.url + "/login")
            assert _icon_size(driver) == [64, 64]
            sign_in(driver, world.url, "olga", PASSWORD)
            WebDriverWait(driver, 10).until(lambda d: not d.current_url.rstrip("/").endswith("/login"))
            assert _icon_size(driver) == [64, 64]
    finally:
        driver.quit()
