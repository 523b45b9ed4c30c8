"""Console login: scrypt password hashes, the session cookie, bearer tokens (stored hashed), throttled logins,
cross-site refusal, user administration, the `sentinel users` CLI and the migration; no password ever shows."""

from __future__ import annotations

import base64
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from sentinel.config.loader import ConfigError, load_config
from sentinel.console import passwords
from sentinel.console.auth import SESSION_COOKIE, LoginLimiter
from sentinel.console.models import ApiTokenRow, SessionRow, UserRow
from sentinel.console.tokens import TokenRefused
from sentinel.console.users import HASHES_AT_ONCE, UserError, Users
from sentinel.storage.db import MIGRATIONS, make_engine, migrate, session_factory, sqlite_url
from tests.support.browser import FAST_HASHES, PASSWORD, ConsoleWorld, console_world


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
    one, two = (passwords.hash_password("päss wörd 1", FAST_HASHES) for _ in range(2))
    assert one != two and one.startswith("scrypt$1024$8$1$")
    assert "päss" not in one
    assert passwords.verify_password("päss wörd 1", one) and passwords.verify_password("päss wörd 1", two)
    assert not passwords.verify_password("päss wörd 2", one)
    assert not passwords.verify_password("x", "plain-text") and not passwords.verify_password(
        "x", "scrypt$1$2$3$!!$!!"
    )
    assert passwords.needs_rehash(one) and not passwords.needs_rehash(one, FAST_HASHES)
    assert passwords.needs_rehash(one.replace("$8$1$", "$4$1$"), FAST_HASHES)  # a weaker r is weaker too
    assert passwords.password_problem("short") and passwords.password_problem("OlgaOlga", "olgaolga")
    token, digest = passwords.new_secret("snt_")
    assert token.startswith("snt_") and len(token) > 40 and digest == passwords.secret_digest(token) != token


def test_a_stored_hash_asking_for_absurd_memory_is_refused_without_computing() -> None:
    good = passwords.hash_password("a good password", FAST_HASHES)
    salt_and_digest = good.split("$", 4)[4]
    started = time.perf_counter()
    for n, r, p in ((2**30, 8, 1), (2**17, 1024, 1), (1000, 8, 1), (0, 8, 1), (1024, 0, 1), (1024, 8, 0)):
        assert passwords.parse_hash(f"scrypt${n}${r}${p}${salt_and_digest}") is None, (n, r, p)
        assert not passwords.verify_password("a good password", f"scrypt${n}${r}${p}${salt_and_digest}")
    assert time.perf_counter() - started < 0.5
    assert passwords.parse_hash(good) == passwords.StoredHash(
        FAST_HASHES, *(base64.b64decode(x) for x in salt_and_digest.split("$"))
    )


def test_the_real_cost_is_2_17_and_a_login_rehashes_an_older_hash(tmp_path: Path) -> None:
    """On the production cost (no FAST_HASHES here): a user whose hash was made at N=2^15, the cost before
    this one, still signs in, and the login replaces the hash with one at 2^17 (which needs OpenSSL's
    maxmem raised: 128 MiB of work space)."""
    assert passwords.ScryptCost(2**17, 8, 1) == passwords.SCRYPT_COST
    engine = make_engine(sqlite_url(tmp_path))
    migrate(engine)
    old = Users(session_factory(engine), password_cost=passwords.ScryptCost(2**15, 8, 1))
    old.add("olga", PASSWORD, "operator")
    users = Users(session_factory(engine))  # the default: what the daemon and the CLI use

    def stored() -> str:
        with users._session() as s:
            return s.scalars(sa.select(UserRow.password_hash)).one()

    before = stored()
    assert before.startswith("scrypt$32768$8$1$")
    assert users.authenticate("olga", "wrong password") is None and stored() == before
    started = time.perf_counter()
    assert users.authenticate("olga", PASSWORD) is not None
    took = time.perf_counter() - started
    after = stored()
    assert after.startswith("scrypt$131072$8$1$") and after != before
    assert passwords.verify_password(PASSWORD, after) and not passwords.needs_rehash(after)
    assert users.authenticate("olga", PASSWORD) is not None and stored() == after  # no second rehash
    print(f"login with rehash from 2^15 to 2^17: {took:.2f} s")
    engine.dispose()


def test_hashes_are_computed_a_few_at_a_time(world: ConsoleWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each hash at the real cost takes 128 MiB: a burst of logins waits its turn instead of taking
    40 x 128 MiB at once."""
    running, most = [0], [0]
    lock = threading.Lock()
    real = passwords._scrypt

    def slow(password: str, salt: bytes, cost: passwords.ScryptCost) -> bytes:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.1)
        with lock:
            running[0] -= 1
        return real(password, salt, cost)

    monkeypatch.setattr(passwords, "_scrypt", slow)
    users = world.deps.users
    threads = [
        threading.Thread(target=users.authenticate, args=(name, PASSWORD))
        for name in ["olga", "ada", "nobody"] * 4
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == HASHES_AT_ONCE


def test_login_sets_an_httponly_lax_cookie_that_signs_in_the_page(world: ConsoleWorld) -> None:
    with world.client(follow_redirects=False) as c:
        assert c.get("/").status_code == 303
        r = c.post("/api/auth/login", json={"username": "olga", "password": PASSWORD})
        assert r.status_code == 200 and r.json() == {
            "username": "olga",
            "display_name": "",
            "role": "operator",
            "active": True,
            "roster_id": None,
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
    users = Users(world.deps.sessions, clock=lambda: clock[0], password_cost=FAST_HASHES)
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
    with pytest.raises(TokenRefused) as refused:
        users.token_user(token)
    assert refused.value.what == "expired" and refused.value.at == info.expires_at
    lasting, info2 = users.create_token("olga", "command platform")
    with world.client(lasting) as c:
        assert c.get("/api/auth/me").json()["username"] == "olga"
        users.revoke_token(info2.id)
        r = c.get("/api/auth/me")
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        assert "revoked on request" in r.json()["detail"]
    third, _ = users.create_token("olga", "x")
    users.update("olga", active=False)
    assert users.user_for_token(third) is None  # a disabled user's tokens stop working
    with world.client() as c:
        r = c.get("/api/alerts", headers={"Authorization": f"Basic {third}"})
        assert r.status_code == 401 and "Bearer" in r.json()["detail"]
        r = c.get("/api/alerts", headers={"Authorization": "Bearer snt_not-a-token"})
        assert r.status_code == 401 and r.json()["detail"] == "invalid API token"


def test_every_token_expires_after_the_configured_lifetime_at_most(tmp_path: Path) -> None:
    with console_world(tmp_path, console={"token_lifetime": "30d"}) as world:
        world.add_user("olga", "operator")
        world.add_user("ada", "admin")
        users = world.deps.users
        assert users.token_lifetime == timedelta(days=30)
        before = datetime.now(UTC)
        token, info = users.create_token("olga", "default life")
        assert before + timedelta(days=30) <= info.expires_at <= datetime.now(UTC) + timedelta(days=30)
        _, short = users.create_token("olga", "shorter", timedelta(hours=2))
        assert short.expires_at - short.created_at == timedelta(hours=2)
        with pytest.raises(UserError, match=r"at most 30 days \(console.token_lifetime\); asked for 31 days"):
            users.create_token("olga", "longer", timedelta(days=31))
        with pytest.raises(UserError, match="positive"):
            users.create_token("olga", "none", timedelta(0))
        with world.client(world.token("ada")) as c:
            r = c.post("/api/users/olga/tokens", json={"name": "probe", "expires_days": 31})
            assert r.status_code == 422 and "at most 30 days" in r.json()["detail"]
            r = c.post("/api/users/olga/tokens", json={"name": "probe"})
            assert r.status_code == 201
            created = r.json()["info"]
            expires = datetime.fromisoformat(created["expires_at"])
            assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)
            assert created["state"] == "valid" and created["expired"] is False
        # an expired token is refused with 401, saying when it expired (in the site's time zone)
        clock = [datetime.now(UTC) + timedelta(days=30, seconds=1)]
        world.deps.users._clock = lambda: clock[0]
        with world.client(token) as c:
            r = c.get("/api/alerts")
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            detail = r.json()["detail"]
            when = info.expires_at.astimezone(world.deps.tz).isoformat(timespec="seconds")
            assert detail == (
                f"this API token expired at {when}; an admin can make a new one (sentinel users token)"
            )
            assert when.endswith("+08:00")
        assert [t.state for t in users.tokens("olga")][:2] == ["expired", "expired"]


def _signed_in(world: ConsoleWorld, password: str) -> tuple[httpx.Client, str]:
    """olga signed in on a page (a client with her session cookie) and an API token of hers."""
    page = world.client()
    assert page.post("/api/auth/login", json={"username": "olga", "password": password}).status_code == 200
    return page, world.deps.users.create_token("olga", "script")[0]


def _refusal(world: ConsoleWorld, token: str) -> str:
    with world.client(token) as c:
        r = c.get("/api/auth/me")
        assert r.status_code == 401
        detail: str = r.json()["detail"]
        return detail


def test_an_admins_password_reset_revokes_tokens_and_ends_sessions(world: ConsoleWorld) -> None:
    page, token = _signed_in(world, PASSWORD)
    with world.client(world.token("ada")) as c:
        assert c.patch("/api/users/olga", json={"password": "a reset password"}).status_code == 200
    assert re.fullmatch(
        r"this API token was revoked at \S+\+08:00: the password changed", _refusal(world, token)
    )
    assert page.get("/api/auth/me").status_code == 401  # her session ended too
    page.close()
    users = world.deps.users
    assert users.authenticate("olga", PASSWORD) is None and users.authenticate("olga", "a reset password")
    assert users.tokens("olga")[0].state == "revoked (the password changed)"


def test_users_change_their_own_password_and_every_other_session_and_token_ends(world: ConsoleWorld) -> None:
    c, token = _signed_in(world, PASSWORD)
    other, _ = _signed_in(world, PASSWORD)
    origin = {"Origin": world.url}

    def change(current: str, new: str, client: httpx.Client = c) -> httpx.Response:
        body = {"current_password": current, "new_password": new}
        return client.post("/api/auth/password", json=body, headers=origin)

    r = change("wrong one!", "her own one 1")
    assert r.status_code == 403 and r.json()["detail"] == "the current password is wrong"
    r = change(PASSWORD, "short")
    assert r.status_code == 422 and "at least 8 characters" in r.json()["detail"]
    r = change(PASSWORD, PASSWORD)
    assert r.status_code == 422 and "differ" in r.json()["detail"]
    assert other.get("/api/auth/me").status_code == 200  # nothing changed yet
    with world.client(token) as still:
        assert still.get("/api/auth/me").status_code == 200
    r = change(PASSWORD, "her own one 1")
    assert r.status_code == 200 and r.json()["username"] == "olga"
    assert c.get("/api/auth/me").status_code == 200  # the answer gave her a new session cookie
    assert other.get("/api/auth/me").status_code == 401
    assert _refusal(world, token).endswith(": the password changed")
    with world.deps.sessions() as s:
        assert len(list(s.scalars(sa.select(SessionRow)))) == 1  # only the new one
    c.close()
    other.close()
    # signed in with a bearer token: that token ends with the others, and no cookie is set
    token = world.deps.users.create_token("olga", "script")[0]
    with world.client(token) as c:
        body = {"current_password": "her own one 1", "new_password": "third one 3"}
        r = c.post("/api/auth/password", json=body)
        assert r.status_code == 200 and "set-cookie" not in r.headers
        assert c.get("/api/auth/me").status_code == 401
    # a wrong current password counts as a failed login (the first was above)
    with world.client(world.deps.users.create_token("olga", "script")[0]) as c:
        for _ in range(4):
            body = {"current_password": "not it at all", "new_password": "fourth one 4"}
            assert c.post("/api/auth/password", json=body).status_code == 403
        body = {"current_password": "third one 3", "new_password": "fourth one 4"}
        assert c.post("/api/auth/password", json=body).status_code == 429


def test_deactivating_a_user_revokes_tokens_for_good(world: ConsoleWorld) -> None:
    page, token = _signed_in(world, PASSWORD)
    with world.client(world.token("ada")) as c:
        assert c.patch("/api/users/olga", json={"active": False}).status_code == 200
        assert c.patch("/api/users/olga", json={"active": True}).status_code == 200
    assert _refusal(world, token).endswith(": the user was deactivated")  # enabled again: still revoked
    assert page.get("/api/auth/me").status_code == 401
    page.close()
    assert [t.state for t in world.deps.users.tokens("olga")] == ["revoked (the user was deactivated)"]


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
    expires = (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%d")
    assert f"valid until {expires}" in r.stderr
    token = r.stdout.strip()
    assert token.startswith("snt_")
    r = run("token", "wang", "--name", "longer", "--expires-days", "91")
    assert r.returncode == 1 and "at most 90 days (console.token_lifetime)" in r.stderr and not r.stdout
    r = run("token", "--list")
    assert "prometheus" in r.stdout and token not in r.stdout and token[:10] in r.stdout
    assert expires in r.stdout and r.stdout.splitlines()[1].endswith("valid")
    engine = make_engine(sqlite_url(tmp_path / "var"))
    users = Users(session_factory(engine))
    assert users.authenticate("wang", "the new password") is not None
    assert users.authenticate("wang", PASSWORD) is None
    user = users.user_for_token(token)
    assert user is not None and user.username == "wang"
    assert run("token", "--revoke", "1").returncode == 0
    assert users.user_for_token(token) is None
    assert (
        run("token", "--list")
        .stdout.splitlines()[1]
        .endswith("revoked (revoked with sentinel users token --revoke)")
    )
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


def _alembic(conn: sa.Connection, action: str, revision: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    getattr(command, action)(cfg, revision)


def test_migration_0008_gives_old_tokens_an_expiry_and_goes_down_again(db_url: str) -> None:
    """A token made before 0008 ("until revoked") gets an expiry 90 days after the upgrade; then every token
    must have one. On SQLite and on PostgreSQL."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        _alembic(conn, "upgrade", "0007")
    made = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (username, display_name, role, password_hash, active, created_at, "
                "updated_at, password_changed_at) VALUES ('olga', '', 'operator', 'x', true, :t, :t, :t)"
            ),
            {"t": made},
        )
        conn.execute(
            sa.text(
                "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at, expires_at) VALUES "
                "(1, 'forever', 'a', 'snt_a', :t, NULL), (1, 'dated', 'b', 'snt_b', :t, :e)"
            ),
            {"t": made, "e": made + timedelta(days=3)},
        )
    migrate(engine)
    users = Users(session_factory(engine), password_cost=FAST_HASHES)
    forever, dated = users.tokens("olga")
    assert abs(forever.expires_at - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
    assert dated.expires_at == made + timedelta(days=3) and dated.state == "expired"
    assert forever.revoked_reason is None
    columns = {c["name"]: c for c in sa.inspect(engine).get_columns("api_tokens")}
    assert columns["expires_at"]["nullable"] is False and "revoked_reason" in columns
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at, expires_at) VALUES "
                "(1, 'no expiry', 'c', 'snt_c', :t, NULL)"
            ),
            {"t": made},
        )
    with engine.begin() as conn:
        _alembic(conn, "downgrade", "0007")
    columns = {c["name"]: c for c in sa.inspect(engine).get_columns("api_tokens")}
    assert columns["expires_at"]["nullable"] is True and "revoked_reason" not in columns
    migrate(engine)
    assert len(users.tokens("olga")) == 2
    engine.dispose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12h", 12 * 3600.0), ("90d", 90 * 86400.0), (None, 90 * 86400.0), ("30s", None), ("0", None),
     ("4000d", None), ("forever", "not a duration")],
)  # fmt: skip
def test_token_lifetime_is_a_duration_in_the_console_section(
    tmp_path: Path, value: str | None, expected: float | str | None
) -> None:
    config = tmp_path / "sentinel.yaml"
    config.write_text("console:\n  port: 0\n" + (f"  token_lifetime: {value}\n" if value else ""))
    if isinstance(expected, float):
        assert load_config(config).console.token_lifetime == expected
        return
    with pytest.raises(ConfigError) as err:
        load_config(config)
    message = str(err.value)
    assert f"{config}:3: console.token_lifetime: " in message
    assert (expected or "must be from 1 minute to 3650 days") in message
