"""Live updates: the thread-safe feed, server-sent events through the real server, and a server that stops
promptly with streams still open."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sentinel.console.live import FeedClosed, LiveFeed
from sentinel.console.server import ConsoleServer, ConsoleServerError
from tests.support.browser import ConsoleWorld, console_world, vtest_snapshot


def test_feed_reaches_subscribers_from_other_threads_and_drops_the_oldest_when_full() -> None:
    feed = LiveFeed(queue_size=3, history=5)

    async def scenario() -> tuple[list[Any], int, list[int]]:
        sub = feed.subscribe()
        threads = [threading.Thread(target=feed.publish, args=("alert", {"n": n})) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = [(await sub.get(1.0)) for _ in range(2)]
        for n in range(2, 8):  # 6 more into a queue of 3: the 3 oldest give way
            feed.publish("case", {"n": n})
        await asyncio.sleep(0.05)
        later = [await sub.get(0.5) for _ in range(3)]
        assert await sub.get(0.05) is None  # nothing more: a timeout, not an error
        replay = feed.subscribe(last_event_id=5)  # a client that saw event 5 catches up from history
        caught = [(await replay.get(0.5)) for _ in range(3)]
        feed.close()
        with pytest.raises(FeedClosed):
            await sub.get(1.0)
        sub.close()
        return (
            [e.data()["n"] for e in got if e] + [e.data()["n"] for e in later if e],
            sub.dropped,
            [e.id for e in caught if e],
        )

    numbers, dropped, caught = asyncio.run(scenario())
    assert sorted(numbers[:2]) == [0, 1] and numbers[2:] == [5, 6, 7]
    assert dropped == 3
    assert caught == [6, 7, 8]
    assert feed.subscribers == 0


def test_publish_never_raises_on_odd_values() -> None:
    from datetime import datetime

    event = LiveFeed().publish("camera", {"at": datetime(2026, 1, 1), "path": Path("/x")})
    assert event.data() == {"at": "2026-01-01 00:00:00", "path": "/x"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as w:
        w.add_user("olga", "operator")
        yield w


def read_events(world: ConsoleWorld, token: str, want: int, found: list[dict[str, Any]], ready: threading.Event,
                headers: dict[str, str] | None = None) -> None:  # fmt: skip
    with (
        httpx.Client(base_url=world.url, timeout=30) as c,
        c.stream("GET", "/api/events", headers={"Authorization": f"Bearer {token}", **(headers or {})}) as r,
    ):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        ready.set()
        event: dict[str, Any] = {}
        for line in r.iter_lines():
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("event: "):
                event["event"] = line[7:]
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and "event" in event:
                found.append(event)
                event = {}
                if len(found) >= want:
                    return


def test_sse_delivers_a_published_alert(world: ConsoleWorld) -> None:
    token = world.token("olga")
    found: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=read_events, args=(world, token, 4, found, ready), daemon=True)
    reader.start()
    assert ready.wait(10)
    time.sleep(0.2)
    alert = world.record_alert("garbage_exposed", vtest_snapshot())
    t0 = time.monotonic()
    world.publish_alert(alert)
    with world.client(token) as c:  # confirming it announces the review and the new case
        assert c.post(f"/api/alerts/{alert.alert_id}/confirm", json={}).status_code == 200
    reader.join(10)
    assert not reader.is_alive()
    assert found[0]["event"] == "alert" and found[0]["data"]["alert_id"] == alert.alert_id
    assert found[0]["data"]["snapshot"]["url"].startswith("/media/snapshots/")
    assert [e["event"] for e in found] == ["alert", "case", "case", "alert_review"]
    assert [e["data"]["state"] for e in found[1:3]] == ["pending_review", "dispatched"]
    assert found[2]["data"]["assignee"] == "zhangli" and found[2]["data"]["actor"] == "user:olga"
    assert found[3]["data"]["review_state"] == "confirmed" and found[3]["data"]["case_number"] == 1
    assert time.monotonic() - t0 < 10
    # a reconnecting client sends Last-Event-ID and gets what it missed
    missed: list[dict[str, Any]] = []
    ready2 = threading.Event()
    last = found[1]["id"]
    again = threading.Thread(
        target=read_events, args=(world, token, 2, missed, ready2, {"Last-Event-ID": str(last)}), daemon=True
    )
    again.start()
    again.join(10)
    assert [e["id"] for e in missed] == [e["id"] for e in found[2:]]


def test_sse_needs_a_login(world: ConsoleWorld) -> None:
    with world.client() as c:
        assert c.get("/api/events").status_code == 401


def test_server_stops_promptly_with_streams_open(world: ConsoleWorld) -> None:
    token = world.token("olga")
    readers = []
    for _ in range(3):
        ready = threading.Event()
        t = threading.Thread(target=read_events, args=(world, token, 1000, [], ready), daemon=True)
        t.start()
        assert ready.wait(10)
        readers.append(t)
    t0 = time.monotonic()
    world.server.stop()
    assert time.monotonic() - t0 < 4
    for t in readers:
        t.join(5)
        assert not t.is_alive()


def test_a_port_in_use_is_a_clear_error(world: ConsoleWorld) -> None:
    other = ConsoleServer(world.server.app, "127.0.0.1", world.server.port)
    with pytest.raises(
        ConsoleServerError, match=f"cannot listen on 127.0.0.1:{world.server.port}: Address already in use"
    ):
        other.start()
