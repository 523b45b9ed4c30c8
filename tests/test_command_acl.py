"""Case commands on the broker a site deploys: real mosquitto with deploy/mosquitto/acl and a password file,
the daemon's own intake (compose + the supervisor's loop in this process, no cameras) with the sample grid
and roster. The broker stops what the ACL forbids. Sentinel refuses what the roles forbid. Every refusal
Sentinel sees gets exactly one reply with a code, and nothing refused changes the case."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from sentinel.cases.models import CaseTransitionRow
from sentinel.cases.routing import routing_for
from sentinel.daemon.services import Services
from tests.support.acl_broker import AclMosquitto, V5Client
from tests.test_case_engine import make_alert
from tests.test_command_intake import daemon as intake_daemon

REPO = Path(__file__).resolve().parents[1]
SITE = "acl"
PREFIX = f"sentinel/{SITE}"
GRID = "110101001001001"  # 天街社区第一网格: worker zhangli, leader gaoxiang (config/roster.yaml)
WORKER, LEADER, OUTSIDER = "zhangli", "gaoxiang", "zhaomin"  # zhaomin works 池畔社区第一网格
ACCOUNTS = {
    "sentinel-node": "Node-pa55-1a2b",
    "command-platform": "Cp-pa55-3c4d",
    WORKER: "Zl-pa55-5e6f",
    LEADER: "Gx-pa55-7a8b",
    OUTSIDER: "Zm-pa55-9c0d",
}
NOT_AUTHORISED = 135  # MQTT 5 reason code


@contextmanager
def daemon(tmp_path: Path, broker: AclMosquitto) -> Iterator[Services]:
    """The daemon's intake (tests/test_command_intake.py) logged in as the node, with the sample grid."""
    login = f', username: sentinel-node, password: "{ACCOUNTS["sentinel-node"]}"'
    grid = f"grid: {{cells: {REPO / 'config' / 'grid.geojson'}, roster: {REPO / 'config' / 'roster.yaml'}}}\n"
    with intake_daemon(tmp_path, broker, site=SITE, mqtt_login=login, extra=grid) as services:
        yield services


def wait_for(what: Callable[[], object], timeout: float = 20) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("timed out")


def replies(client: V5Client, topic: str) -> list[dict[str, object]]:
    return [json.loads(p) for t, p in list(client.messages) if t == topic]


def actors_of(services: Services, case_id: str) -> list[tuple[str, str]]:
    with services.store.sessions() as s:
        q = sa.select(CaseTransitionRow.action, CaseTransitionRow.actor).where(
            CaseTransitionRow.case_id == case_id
        )
        return [(a, b) for a, b in s.execute(q.order_by(CaseTransitionRow.id))]


@pytest.fixture
def broker() -> Iterator[AclMosquitto]:
    with AclMosquitto(ACCOUNTS) as b:
        yield b


def test_who_may_command_a_case(tmp_path: Path, broker: AclMosquitto) -> None:
    # nobody gets in without an account
    for user, password in ((None, None), (WORKER, "wrong-password")):
        stranger = V5Client(broker, user, password)
        assert stranger.wait_connected().value != 0
        stranger.close()

    with daemon(tmp_path, broker) as services:
        assert services.cases is not None and services.commands is not None
        alert = make_alert(services.cases.event_types, datetime.now(UTC), grid=GRID)
        services.store.record(alert, f"{PREFIX}/alerts/{alert.event_type}/{alert.camera_id}", None)
        roster = services.commands._roster
        case = services.cases.on_alert(alert, routing_for(GRID, roster), confirmed=True)  # type: ignore[arg-type]
        assert case.payload["assignee"] == WORKER and case.state == "dispatched"
        cid = case.case_id
        wait_for(lambda: services.publisher.connected.is_set())

        people = {who: V5Client(broker, who, ACCOUNTS[who]) for who in (WORKER, LEADER, OUTSIDER)}
        platform = V5Client(broker, "command-platform", ACCOUNTS["command-platform"])
        for client in (*people.values(), platform):
            assert client.wait_connected().value == 0
        own = {who: f"{PREFIX}/commands/by/{who}/replies" for who in people}
        for who, client in people.items():
            assert client.subscribe(own[who]) == 1  # their own replies
        # mosquitto grants any subscription and checks the read ACL on each message: these deliver nothing
        people[OUTSIDER].subscribe(own[WORKER])
        people[OUTSIDER].subscribe(f"{PREFIX}/cases/#")
        assert platform.subscribe(f"{PREFIX}/commands/replies") == 1

        def command(action: str, request_id: str, **more: object) -> bytes:
            return json.dumps({"action": action, "request_id": request_id, **more}).encode()

        # the broker stops a person writing the platform's topic, another person's, or Sentinel's own
        outsider = people[OUTSIDER]
        assert outsider.publish(f"{PREFIX}/commands/cases/{cid}", command("accept", "x1", actor=WORKER)) == (
            NOT_AUTHORISED
        )
        assert outsider.publish(f"{PREFIX}/commands/by/{WORKER}/cases/{cid}", command("accept", "x2")) == (
            NOT_AUTHORISED
        )
        assert outsider.publish(f"{PREFIX}/alerts/garbage_exposed/cam1", b"{}") == NOT_AUTHORISED
        assert outsider.publish(f"{PREFIX}/cases/{GRID}/{cid}", b"{}") == NOT_AUTHORISED
        assert platform.publish(f"{PREFIX}/cases/{GRID}/{cid}", b"{}") == NOT_AUTHORISED

        # on their own topic the outsider reaches Sentinel, which refuses: the case is not in their grid
        assert outsider.publish(f"{PREFIX}/commands/by/{OUTSIDER}/cases/{cid}", command("accept", "o1")) == 0
        [refused] = wait_for(lambda: replies(outsider, own[OUTSIDER]))  # type: ignore[misc]
        assert (refused["request_id"], refused["error"], refused["state"]) == (
            "o1",
            "forbidden",
            "dispatched",
        )

        # the grid worker takes it and reports it done, but may not close it
        worker = people[WORKER]
        topic = f"{PREFIX}/commands/by/{WORKER}/cases/{cid}"
        assert worker.publish(topic, command("accept", "w1")) == 0
        assert worker.publish(topic, command("feedback", "w2", note="已清理")) == 0
        assert worker.publish(topic, command("close", "w3")) == 0
        assert worker.publish(topic, command("close", "w4", override=True, note="trust me, it is clean")) == 0
        got = wait_for(lambda: len(replies(worker, own[WORKER])) >= 4 and replies(worker, own[WORKER]))
        assert [(r["request_id"], r["ok"], r["error"]) for r in got] == [  # type: ignore[union-attr]
            ("w1", True, None), ("w2", True, None), ("w3", False, "forbidden"), ("w4", False, "forbidden"),
        ]  # fmt: skip

        # the command platform may close it (the camera is verifying the place)
        assert (
            platform.publish(
                f"{PREFIX}/commands/cases/{cid}", command("close", "p1", actor="command-platform")
            )
            == 0
        )
        [closed] = wait_for(lambda: replies(platform, f"{PREFIX}/commands/replies"))  # type: ignore[misc]
        assert (closed["request_id"], closed["ok"], closed["state"]) == ("p1", True, "closed")

        time.sleep(0.5)  # anything else that was going to arrive has arrived
        assert len(replies(outsider, own[OUTSIDER])) == 1 and len(replies(worker, own[WORKER])) == 4
        assert replies(people[LEADER], own[LEADER]) == []
        assert [t for t, _ in outsider.messages if t != own[OUTSIDER]] == []  # nobody else's replies or cases
        log = actors_of(services, cid)
        assert all(actor != OUTSIDER for _, actor in log)
        assert (
            ("accept", WORKER) in log
            and ("feedback", WORKER) in log
            and log[-1] == ("close", "command-platform")
        )
        for client in (*people.values(), platform):
            client.close()
