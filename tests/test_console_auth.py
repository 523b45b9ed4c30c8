"""Console login: scrypt password hashes, the session cookie, bearer tokens (stored hashed), throttled logins,
cross-site refusal, user administration, the `sentinel users` CLI and the migration; no password ever shows."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from sentinel.console import passwords
from sentinel.console.auth import SESSION_COOKIE, LoginLimiter
from sentinel.console.models import ApiTokenRow, SessionRow, UserRow
from sentinel.console.users import Users
from sentinel.storage.db import MIGRATIONS, make_engine, migrate, session_factory, sqlite_url
from tests.support.browser import PASSWORD, ConsoleWorld, console_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as w:
        w.add_user("olga", "operator")
        w.add_user("ada", "admin")
        yield w


def login(world: ConsoleWorld, username: str = "olga", password: str = PASSWORD, **kwargs: object) -> object:
    with world.client() as c:
        return c.post("/api/auth/login", json={"username": username, "password": password}, **kwargs)  # type: ignore[arg-type]


def test_passwords_are_salted_scrypt_hashes() -> None:
    one, two = passwords.hash_password("päss wörd 1"), passwords.hash_password("päss wörd 1")
    assert one != two and one.startswith(f"scrypt${passwords.SCRYPT_N}$8$1$")
    assert "päss" not in one
    assert passwords.verify_password("päss wörd 1", one) and passwords.verify_password("päss wörd 1", two)
    assert not passwords.verify_password("päss wörd 2", one)
    assert not passwords.verify_password("x", "plain-text") and not passwords.verify_password(
        "x", "scrypt$1$2$3$!!$!!"
    )
    weaker = one.replace(f"scrypt${passwords.SCRYPT_N}$", "scrypt$1024$")  # as if made with an older cost
    assert passwords.needs_rehash(weaker) and not passwords.needs_rehash(one)
    assert passwords.password_problem("short") and passwords.password_problem("OlgaOlga", "olgaolga")
    token, digest = passwords.new_secret("snt_")
    assert token.startswith("snt_") and len(token) > 40 and digest == passwords.secret_digest(token) != token


def test_login_sets_an_httponly_lax_cookie_that_signs_in_the_page(world: ConsoleWorld) -> None:
    with world.client(follow_redirects=False) as c:
        assert c.get("/").status_code == 303
        r = c.post("/api/auth/login", json={"username": "olga", "password": PASSWORD})
        assert r.status_code == 200 and r.json() == {
            "username": "olga",
            "display_name": "",
            "role": "operator",
            "active": True,
        }
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Secure" not in cookie  # plain http on localhost
        value = c.cookies[SESSION_COOKIE]
        assert c.get("/api/auth/me").json()["username"] == "olga"
        assert c.get("/").status_code == 200 and "Case board" in c.get("/").text
        with world.deps.sessions() as s:  # only a digest of the cookie is stored
            assert [row.id for row in s.scalars(sa.select(SessionRow))] == [passwords.secret_digest(value)]
        # a changing request signed in by cookie must come from the console's own origin
        alert = world.record_alert()
        r = c.post(
            f"/api/alerts/{alert.alert_id}/confirm", json={}, headers={"Origin": "http://evil.example"}
        )
        assert r.status_code == 403 and "cross-site" in r.json()["detail"]
        r = c.post(f"/api/alerts/{alert.alert_id}/confirm", json={}, headers={"Origin": world.url})
        assert r.status_code == 200
        assert c.post("/api/auth/logout", headers={"Origin": world.url}).status_code == 204
        assert c.get("/api/auth/me").status_code == 401
    with world.client() as c:  # the old cookie is dead on the server too
        c.cookies.set(SESSION_COOKIE, value)
        assert c.get("/api/auth/me").status_code == 401


def test_secure_cookie_when_configured(tmp_path: Path) -> None:
    with console_world(tmp_path) as world:
        world.add_user("olga", "operator")
        world.deps.config = world.config.model_copy(
            update={"console": world.config.console.model_copy(update={"secure_cookies": True})}
        )
        r = login(world)
        assert "Secure" in r.headers["set-cookie"]  # type: ignore[attr-defined]


def test_failed_logins_are_throttled_per_ip_and_user(
    world: ConsoleWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(5):
        r = login(world, password="wrong password 1")
        assert r.status_code == 401 and r.json()["detail"] == "wrong user name or password"  # type: ignore[attr-defined]
    unknown = login(world, "nobody", "wrong password 1")
    assert unknown.json() == {"detail": "wrong user name or password"}  # type: ignore[attr-defined]
    r = login(world)  # even the right password waits now
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 200  # type: ignore[attr-defined]
    assert login(world, "ada").status_code == 200  # type: ignore[attr-defined]
    assert "wrong password 1" not in caplog.text and PASSWORD not in caplog.text
    assert "failed login for 'olga'" in caplog.text
    with world.client() as c:
        assert (
            "sentinel_console_login_failures_total 6.0"
            in c.get("/metrics", headers={"Authorization": f"Bearer {world.token('ada')}"}).text
        )


def test_login_limiter_window() -> None:
    now = [1000.0]
    limiter = LoginLimiter(max_failures=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("1.2.3.4", "Olga") is None
        limiter.failed("1.2.3.4", "olga")
    assert limiter.retry_after("1.2.3.4", "OLGA") == pytest.approx(60)
    assert limiter.retry_after("5.6.7.8", "olga") is None  # another place
    now[0] += 30
    assert limiter.retry_after("1.2.3.4", "olga") == pytest.approx(30)
    now[0] += 31
    assert limiter.retry_after("1.2.3.4", "olga") is None
    for name in ("a", "b", "c", "d") * 3:  # guessing across user names: 4 x 3 per IP
        limiter.failed("1.2.3.4", name)
    assert limiter.retry_after("1.2.3.4", "zed") is not None
    limiter.succeeded("1.2.3.4", "a")


def test_tokens_are_stored_hashed_and_can_expire_or_be_revoked(world: ConsoleWorld) -> None:
    clock = [datetime.now(UTC)]
    users = Users(world.deps.sessions, clock=lambda: clock[0])
    token, info = users.create_token("olga", "prometheus", timedelta(days=1))
    with world.deps.sessions() as s:
        row = s.get(ApiTokenRow, info.id)
        assert (
            row is not None
            and row.token_hash == passwords.secret_digest(token)
            and token not in row.token_hash
        )
        assert row.prefix == token[:10]
    assert users.user_for_token(token) is not None
    clock[0] += timedelta(days=1, seconds=1)
    assert users.user_for_token(token) is None  # expired
    forever, info2 = users.create_token("olga", "command platform")
    with world.client(forever) as c:
        assert c.get("/api/auth/me").json()["username"] == "olga"
        users.revoke_token(info2.id)
        r = c.get("/api/auth/me")
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
    third, _ = users.create_token("olga", "x")
    users.update("olga", active=False)
    assert users.user_for_token(third) is None  # a disabled user's tokens stop working
    with world.client() as c:
        r = c.get("/api/alerts", headers={"Authorization": f"Basic {third}"})
        assert r.status_code == 401 and "Bearer" in r.json()["detail"]


def test_admins_manage_users(world: ConsoleWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    new_password = "another good one"
    with world.client(world.token("ada")) as c:
        r = c.post(
            "/api/users",
            json={
                "username": "tom",
                "password": new_password,
                "role": "technician",
                "display_name": "技术员 Tom",
            },
        )
        assert r.status_code == 201 and r.json()["role"] == "technician"
        assert new_password not in r.text
        assert (
            c.post(
                "/api/users", json={"username": "tom", "password": new_password, "role": "operator"}
            ).status_code
            == 409
        )
        assert [u["username"] for u in c.get("/api/users").json()] == ["ada", "olga", "tom"]
        session = login(world, "olga")
        assert session.status_code == 200  # type: ignore[attr-defined]
        r = c.patch("/api/users/olga", json={"active": False})
        assert r.status_code == 200 and r.json()["active"] is False
        assert login(world, "olga").status_code == 401  # type: ignore[attr-defined]
        with world.deps.sessions() as s:  # and her sessions ended
            assert not list(s.scalars(sa.select(SessionRow).join(UserRow).where(UserRow.username == "olga")))
        r = c.patch(
            "/api/users/olga", json={"active": True, "role": "technician", "password": "olga's new one"}
        )
        assert r.json()["role"] == "technician"
        assert login(world, "olga", "olga's new one").status_code == 200  # type: ignore[attr-defined]
        r = c.patch("/api/users/ada", json={"role": "operator"})
        assert r.status_code == 409 and "yourself" in r.json()["detail"]
        assert c.patch("/api/users/nobody", json={"role": "operator"}).status_code == 404
        created = c.post("/api/users/tom/tokens", json={"name": "probe", "expires_days": 30}).json()
        assert created["token"].startswith("snt_") and created["info"]["name"] == "probe"
        listed = c.get("/api/users/tom/tokens").json()
        assert [t["prefix"] for t in listed] == [created["token"][:10]] and "token" not in listed[0]
        assert c.delete(f"/api/tokens/{created['info']['id']}").json()["revoked"] is True
        assert c.delete("/api/tokens/4242").status_code == 404
    assert new_password not in caplog.text and "olga's new one" not in caplog.text


def test_users_cli(tmp_path: Path) -> None:
    config = tmp_path / "sentinel.yaml"
    config.write_text(f"storage:\n  data_dir: {tmp_path / 'var'}\n")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sentinel.cli", "users", *args, "--config", str(config)],
            input=stdin, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    r = run("list")
    assert r.returncode == 0 and "no users" in r.stdout
    r = run("add", "wang", "--role", "admin", "--name", "王伟", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0 and r.stdout.strip() == "added wang (admin)", r.stderr
    r = run("add", "wang", "--role", "operator", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 1 and "exists already" in r.stderr
    r = run("add", "li", "--role", "operator", "--password-stdin", stdin="tiny\n")
    assert r.returncode == 1 and "at least 8 characters" in r.stderr and "tiny" not in r.stderr
    r = run("add", "li", "--role", "operator", stdin="")  # no terminal, no --password-stdin
    assert r.returncode == 1 and "--password-stdin" in r.stderr
    r = run("add", "li", "--role", "boss", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = run("passwd", "wang", "--password-stdin", stdin="the new password\n")
    assert r.returncode == 0 and "the new password" not in r.stdout + r.stderr
    r = run("set", "wang", "--role", "operator")
    assert r.returncode == 0 and "wang: operator, active" in r.stdout
    r = run("list")
    assert "wang" in r.stdout and "operator" in r.stdout and "王伟" in r.stdout
    r = run("token", "wang", "--name", "prometheus")
    assert r.returncode == 0 and "shown this once" in r.stderr
    token = r.stdout.strip()
    assert token.startswith("snt_")
    r = run("token", "--list")
    assert "prometheus" in r.stdout and token not in r.stdout and token[:10] in r.stdout
    engine = make_engine(sqlite_url(tmp_path / "var"))
    users = Users(session_factory(engine))
    assert users.authenticate("wang", "the new password") is not None
    assert users.authenticate("wang", PASSWORD) is None
    user = users.user_for_token(token)
    assert user is not None and user.username == "wang"
    assert run("token", "--revoke", "1").returncode == 0
    assert users.user_for_token(token) is None
    assert run("set", "nobody", "--disable").returncode == 1
    engine.dispose()


def test_migration_0003_up_and_down(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    migrate(engine)
    tables = {"users", "api_tokens", "sessions", "alert_reviews"}
    assert tables <= set(sa.inspect(engine).get_table_names())
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert not tables & set(sa.inspect(engine).get_table_names())
    migrate(engine)
    assert tables <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_sessions_expire_when_idle_and_after_a_week(world: ConsoleWorld) -> None:
    clock = [datetime.now(UTC)]
    users = Users(world.deps.sessions, clock=lambda: clock[0])
    olga = users.get("olga")
    assert olga is not None
    busy = users.create_session(olga, "127.0.0.1", "test")
    idle = users.create_session(olga, "127.0.0.1", "test")
    clock[0] += timedelta(hours=11)
    assert users.user_for_session(busy) is not None  # in use: it lives on
    clock[0] += timedelta(hours=2)
    assert users.user_for_session(idle) is None  # 13 h without a request
    assert users.user_for_session(busy) is not None
    for _ in range(15):  # a request every 11 h, for over a week
        clock[0] += timedelta(hours=11)
        alive = users.user_for_session(busy) is not None
    assert not alive
    assert users.user_for_session("not a session") is None
