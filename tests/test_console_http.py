"""The console's HTTP layer on a real uvicorn (127.0.0.1, free port) over a real SQLite file: request bodies are
limited before anything reads them, X-Forwarded-* count only from trusted proxies, failed logins are counted
per address and per account in the database (shared by every console over it), every response carries a
Content-Security-Policy and the pages load nothing from elsewhere, cookie-signed writes need the console's own
Origin, and the session cookie is Secure behind TLS."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from ipaddress import ip_network
from pathlib import Path

import httpx
import pydantic
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from sentinel.config.sections import ConsoleConfig
from sentinel.console.app import create_app
from sentinel.console.auth import SESSION_COOKIE
from sentinel.console.deps import ConsoleDeps
from sentinel.console.forwarded import forwarded_client
from sentinel.console.login_limit import DatabaseFailures, LoginLimiter
from sentinel.console.models import LoginFailureRow, SessionRow
from sentinel.console.server import ConsoleServer
from sentinel.storage.db import MIGRATIONS, make_engine, migrate, session_factory, sqlite_url
from tests.support.browser import PASSWORD, ConsoleWorld, console_world

MiB = 1024 * 1024


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as w:
        w.add_user("olga", "operator")
        w.add_user("ada", "admin")
        yield w


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[ConsoleWorld]:
    """The console behind a reverse proxy on this host: 127.0.0.1 is a trusted proxy."""
    with console_world(tmp_path, console={"trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]}) as w:
        w.add_user("olga", "operator")
        w.add_user("ada", "admin")
        yield w


def login(
    c: httpx.Client, username: str = "olga", password: str = PASSWORD, **headers: str
) -> httpx.Response:
    return c.post("/api/auth/login", json={"username": username, "password": password}, headers=headers)


# ---------------------------------------------------------------- 1. request bodies


def _raw_request(port: int, head: str, body: bytes = b"", timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_a_declared_oversized_body_is_refused_at_once_unread(world: ConsoleWorld) -> None:
    """Content-Length says 300 MB: 413 comes back while the client has sent only the headers and 1 KiB."""
    t0 = time.monotonic()
    answer = _raw_request(
        world.server.port,
        "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {300 * MiB}\r\n",
        b"{" + b" " * 1024,
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - t0 < 3
    assert b"console.max_body" in answer or b"content-length" in answer.lower()
    with world.client() as c:  # the server is fine afterwards
        assert login(c).status_code == 200


def test_a_streamed_oversized_body_is_cut_off_early(world: ConsoleWorld) -> None:
    """A chunked body (no Content-Length) is counted as it comes: 413 long before the client is done."""
    sent = 0
    total = 64 * MiB

    def body() -> Iterator[bytes]:
        nonlocal sent
        chunk = b"x" * (64 * 1024)
        while sent < total:
            sent += len(chunk)
            yield chunk

    with world.client() as c:
        r = c.post("/api/auth/login", content=body(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, (r.status_code, r.text[:200])
    assert "console.max_body" in r.json()["detail"]
    assert sent < 16 * MiB, f"the client got to send {sent / MiB:.0f} MiB"


def test_bodies_under_the_limit_pass_and_the_limit_is_configurable(tmp_path: Path) -> None:
    assert ConsoleConfig().max_body == MiB
    assert ConsoleConfig.model_validate({"max_body": "2MB"}).max_body == 2 * MiB
    with console_world(tmp_path, console={"max_body": "4KB"}) as world:
        world.add_user("olga", "operator")
        with world.client() as c:
            padded = {"username": "olga", "password": PASSWORD, "pad": " " * 2000}
            r = c.post("/api/auth/login", json=padded)
            assert r.status_code in (200, 422), r.text  # read and judged, not refused for its size
            padded["pad"] = " " * 5000
            r = c.post("/api/auth/login", json=padded)
            assert r.status_code == 413 and "4 KiB" in r.json()["detail"]


# ---------------------------------------------------------------- 2. X-Forwarded-For


def test_rotating_x_forwarded_for_does_not_reset_the_login_limit(world: ConsoleWorld) -> None:
    """No trusted proxies (the default): the header is ignored, every try counts for 127.0.0.1."""
    with world.client() as c:
        for n in range(5):
            r = login(c, password="wrong password 1", **{"X-Forwarded-For": f"198.51.100.{n + 1}"})
            assert r.status_code == 401
        r = login(c, **{"X-Forwarded-For": "203.0.113.77"})
        assert r.status_code == 429, r.text
    with world.deps.sessions() as s:
        assert not list(s.scalars(sa.select(SessionRow)))


def test_a_trusted_proxy_names_the_client(behind_proxy: ConsoleWorld) -> None:
    with behind_proxy.client() as c:
        assert login(c, **{"X-Forwarded-For": "1.2.3.4, 203.0.113.9, 10.1.2.3"}).status_code == 200
    with behind_proxy.deps.sessions() as s:  # the right-most address that is not a trusted proxy
        assert [row.ip for row in s.scalars(sa.select(SessionRow))] == ["203.0.113.9"]


def test_forwarded_client_walks_from_the_right() -> None:
    trusted = (ip_network("10.0.0.0/8"), ip_network("::1/128"))
    assert forwarded_client("192.0.2.1", "1.1.1.1", trusted) == "192.0.2.1"  # the peer is no proxy
    assert forwarded_client("10.0.0.1", None, trusted) == "10.0.0.1"
    assert forwarded_client("10.0.0.1", "1.1.1.1, 2.2.2.2", trusted) == "2.2.2.2"
    assert forwarded_client("::1", "1.1.1.1, 2.2.2.2, 10.9.9.9", trusted) == "2.2.2.2"
    assert forwarded_client("::ffff:10.0.0.1", "2.2.2.2", trusted) == "2.2.2.2"
    assert forwarded_client("10.0.0.1", "10.0.0.2", trusted) == "10.0.0.2"  # all proxies: the farthest
    assert forwarded_client("10.0.0.1", "forged, 2.2.2.2", trusted) == "2.2.2.2"
    assert forwarded_client("10.0.0.1", "1.1.1.1, garbage", trusted) == "garbage"
    assert ConsoleConfig().trusted_proxies == []
    with pytest.raises(pydantic.ValidationError, match="not an IP address or CIDR"):
        ConsoleConfig.model_validate({"trusted_proxies": ["proxy.example"]})


# ---------------------------------------------------------------- 3. the login limit, shared


def test_failures_on_one_console_count_on_another_over_the_same_database(world: ConsoleWorld) -> None:
    engine = make_engine(sqlite_url(world.data_dir))  # a second instance: its own engine, app and server
    other = ConsoleServer(create_app(ConsoleDeps(engine, world.config, world.deps.actions)), "127.0.0.1", 0)
    other.start()
    try:
        second = httpx.Client(base_url=other.url, timeout=30)
        with world.client() as first, second:
            for c in (first, second, first, second, first):
                assert login(c, password="wrong password 1").status_code == 401
            for c in (first, second):
                r = login(c)
                assert r.status_code == 429 and int(r.headers["retry-after"]) > 200, r.text
            assert login(second, "ada").status_code == 200
    finally:
        other.stop()
        engine.dispose()
    with world.deps.sessions() as s:
        keys = {row.key for row in s.scalars(sa.select(LoginFailureRow))}
    assert keys == {"ip-user:127.0.0.1 olga", "ip:127.0.0.1", "user:olga"}


def test_an_account_locks_across_rotating_addresses(behind_proxy: ConsoleWorld) -> None:
    """Each try from another (believed) address: the per-address counts never fill, the account's does."""
    with behind_proxy.client() as c:
        for n in range(20):
            r = login(c, password="wrong password 1", **{"X-Forwarded-For": f"198.51.100.{n + 1}"})
            assert r.status_code == 401, (n, r.text)
        r = login(c, **{"X-Forwarded-For": "203.0.113.1"})
        assert r.status_code == 429 and "too many failed logins" in r.json()["detail"]
        r = login(c, "OLGA", **{"X-Forwarded-For": "203.0.113.2"})  # the name's case changes nothing
        assert r.status_code == 429
        assert login(c, "ada", **{"X-Forwarded-For": "203.0.113.3"}).status_code == 200


def test_the_database_limiter_forgets_old_failures(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    migrate(engine)
    now = [1_800_000_000.0]
    limiter = LoginLimiter(3, 60, clock=lambda: now[0], store=DatabaseFailures(session_factory(engine)))
    for _ in range(3):
        assert limiter.retry_after("1.2.3.4", "olga") is None
        limiter.failed("1.2.3.4", "Olga")
    assert limiter.retry_after("1.2.3.4", "OLGA") == pytest.approx(60)
    assert limiter.retry_after("5.6.7.8", "olga") is None
    now[0] += 61
    assert limiter.retry_after("1.2.3.4", "olga") is None
    limiter.failed("9.9.9.9", "tom")  # a new failure drops the old rows
    with session_factory(engine)() as s:
        assert {row.key for row in s.scalars(sa.select(LoginFailureRow))} == {
            "ip-user:9.9.9.9 tom", "ip:9.9.9.9", "user:tom",
        }  # fmt: skip
    limiter.succeeded("9.9.9.9", "tom")
    engine.dispose()


def test_migration_0006_up_and_down(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    migrate(engine)
    assert "login_failures" in sa.inspect(engine).get_table_names()
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    assert "login_failures" not in sa.inspect(engine).get_table_names()
    migrate(engine)
    assert "login_failures" in sa.inspect(engine).get_table_names()
    engine.dispose()


# ---------------------------------------------------------------- 4. Content-Security-Policy


def _directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def _check_headers(r: httpx.Response) -> dict[str, list[str]]:
    assert r.headers["x-content-type-options"] == "nosniff", r.url
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] in ("same-origin", "no-referrer")
    policy = _directives(r.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"], r.url  # nothing from elsewhere, nothing inline
    for values in policy.values():
        assert not any(v.startswith(("http:", "https:", "*")) or "." in v for v in values), (r.url, values)
    return policy


def test_every_response_carries_the_security_headers(world: ConsoleWorld) -> None:
    token = world.token("olga")
    with world.client() as c:
        for path in (
            "/login",
            "/healthz",
            "/static/app.js",
            "/no-such-page",
            "/static/swagger-ui/swagger-ui.css",
        ):
            _check_headers(c.get(path))
        assert _check_headers(c.get("/api/alerts"))  # 401
        assert login(c).status_code == 200
        page = c.get("/")
        assert page.status_code == 200 and "Case board" in page.text
        assert _check_headers(page)["style-src"] == ["'self'"]
        docs = c.get("/api/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert _check_headers(docs)["style-src"] == ["'self'"]
    with world.client(token) as c:
        _check_headers(c.get("/api/alerts"))
        _check_headers(c.get("/api/openapi.json"))
    _check_headers(httpx.post(f"{world.url}/api/auth/login", content=b"x" * (2 * MiB)))  # 413


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "style" in a or any(k.startswith("on") for k in a):
            self.inline.append(f"<{tag} {a}>")
        if tag == "script":
            if a.get("src"):
                self.refs.append(a["src"] or "")
            else:
                self._in_script = True
        if tag == "link" and a.get("href"):
            self.refs.append(a["href"] or "")
        if tag == "style":
            self.inline.append("<style>")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False if tag == "script" else self._in_script

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip()[:80])


def test_no_page_loads_anything_from_another_origin(world: ConsoleWorld) -> None:
    """The login page, the operator's page and the API docs: every script and stylesheet is the console's own
    (and is there); no inline script or style attribute the policy would block."""
    with world.client() as c:
        assert login(c).status_code == 200
        pages = {path: c.get(path) for path in ("/login", "/", "/api/docs")}
        for path, r in pages.items():
            assert r.status_code == 200, path
            parser = _Refs()
            parser.feed(r.text)
            assert parser.refs, path
            assert not parser.inline, (path, parser.inline)
            for ref in parser.refs:
                assert ref.startswith("/") and not ref.startswith("//"), (path, ref)
                asset = c.get(ref)
                assert asset.status_code == 200, (path, ref)
                if ref.endswith(".css"):
                    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", asset.text), ref
        # only the Swagger UI files the docs page uses are served from the package
        assert c.get("/static/swagger-ui/index.html").status_code == 404
        assert c.get("/static/swagger-ui/swagger-initializer.js").status_code == 404


# ---------------------------------------------------------------- 5. Origin


def test_cookie_signed_writes_need_the_consoles_own_origin(world: ConsoleWorld) -> None:
    alert = world.record_alert()
    confirm = f"/api/alerts/{alert.alert_id}/confirm"
    with world.client() as c:
        assert login(c).status_code == 200  # no cookie yet: nothing to forge, no Origin needed
        for headers in ({}, {"Origin": "null"}, {"Origin": "http://evil.example"}, {"Referer": "http://evil.example/x"},
                        {"Origin": "null", "Referer": f"{world.url}/"}):  # fmt: skip
            r = c.post(confirm, json={}, headers=headers)
            assert r.status_code == 403 and "cross-site" in r.json()["detail"], (headers, r.text)
            r = c.post("/api/auth/logout", headers=headers)
            assert r.status_code == 403, headers
        assert c.get("/api/auth/me").status_code == 200  # still signed in: the forged logout did nothing
        assert c.post(confirm, json={}, headers={"Referer": f"{world.url}/"}).status_code == 200
        assert c.post("/api/auth/logout", headers={"Origin": world.url}).status_code == 204
        assert c.get("/api/auth/me").status_code == 401


def test_bearer_token_calls_need_no_origin(world: ConsoleWorld) -> None:
    alert = world.record_alert()
    with world.client(world.token("olga")) as c:
        c.cookies.set(SESSION_COOKIE, "stale")  # a cookie beside the token changes nothing
        assert c.post(f"/api/alerts/{alert.alert_id}/confirm", json={}).status_code == 200
        assert c.post("/api/auth/logout").status_code == 204


# ---------------------------------------------------------------- 6. Secure cookies


def _cookie(r: httpx.Response) -> str:
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    return cookie


def test_the_session_cookie_is_secure_behind_tls(behind_proxy: ConsoleWorld) -> None:
    with behind_proxy.client() as c:
        assert "Secure" not in _cookie(login(c))  # plain http
    with behind_proxy.client() as c:
        r = login(c, **{"X-Forwarded-Proto": "https"})
        assert "Secure" in _cookie(r) and "HttpOnly" in _cookie(r)
        r = c.post("/api/auth/logout", headers={"Origin": behind_proxy.url, "X-Forwarded-Proto": "https"})
        assert r.status_code == 204 and "Secure" in _cookie(r)  # the cookie is cleared as it was set


def test_an_untrusted_x_forwarded_proto_is_ignored_and_config_forces_secure(world: ConsoleWorld) -> None:
    with world.client() as c:
        assert "Secure" not in _cookie(login(c, **{"X-Forwarded-Proto": "https"}))
    world.deps.config = world.config.model_copy(
        update={"console": world.config.console.model_copy(update={"secure_cookies": True})}
    )
    with world.client() as c:
        assert "Secure" in _cookie(login(c))
        assert "Secure" in _cookie(c.post("/api/auth/logout", headers={"Origin": world.url}))
