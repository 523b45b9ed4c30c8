"""sentinel.mqtt.topics: every topic of the contract built and parsed back, and the names it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.mqtt.publisher import BrokerAddress, MqttPublisher
from sentinel.mqtt.topics import (
    AlertTopic,
    CameraStatusTopic,
    CaseTopic,
    CommandRepliesTopic,
    CommandTopic,
    HealthTopic,
    NodeHealthTopic,
    NodeStatusTopic,
    ParsedTopic,
    StatusTopic,
    TopicError,
    Topics,
    check_segment,
)
from sentinel.storage.db import make_engine, migrate
from sentinel.storage.outbox import Outbox
from tests.mqtt_helpers import Recorder
from tests.support.servers import Mosquitto

T = Topics("sentinel/demo")
CASE_ID = "0b7e8c1e-6f43-4a43-9d7e-2f0a3c9b1d55"
GRID = "110105001001001"


def test_prefix_from_the_config_template() -> None:
    assert Topics.for_site("sentinel/{site}", "demo") == T
    assert Topics.for_site("city/{site}/v1/", "east").prefix == "city/east/v1"
    assert Topics.for_site("fixed", "demo").prefix == "fixed"


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        (T.status(), StatusTopic()),
        (T.health(), HealthTopic()),
        (T.camera_status("plaza-north"), CameraStatusTopic("plaza-north")),
        (T.alert("crowd_gathering", "cam1"), AlertTopic("crowd_gathering", "cam1")),
        (T.alert_clip("crowd_gathering", "cam1"), AlertTopic("crowd_gathering", "cam1", clip=True)),
        (T.case(GRID, CASE_ID), CaseTopic(GRID, CASE_ID)),
        (T.case(None, CASE_ID), CaseTopic(None, CASE_ID)),
        (T.command(CASE_ID), CommandTopic(CASE_ID)),
        (T.command("17"), CommandTopic("17")),
        (T.command_replies(), CommandRepliesTopic()),
        (T.node_status("n1"), NodeStatusTopic("n1")),
        (T.node_health("n1"), NodeHealthTopic("n1")),
    ],
)
def test_round_trip(topic: str, parsed: ParsedTopic) -> None:
    assert T.parse(topic) == parsed
    assert T.owns(topic)


def test_the_names_are_the_readme_contract() -> None:
    assert T.status() == "sentinel/demo/status"
    assert T.health() == "sentinel/demo/health"
    assert T.camera_status("cam1") == "sentinel/demo/cameras/cam1/status"
    assert T.alert("garbage_exposed", "cam1") == "sentinel/demo/alerts/garbage_exposed/cam1"
    assert T.alert_clip("garbage_exposed", "cam1") == "sentinel/demo/alerts/garbage_exposed/cam1/clip"
    assert T.case(GRID, "c1") == f"sentinel/demo/cases/{GRID}/c1"
    assert T.case(None, "c1") == "sentinel/demo/cases/unassigned/c1"
    assert T.command("c1") == "sentinel/demo/commands/cases/c1"
    assert T.command_replies() == "sentinel/demo/commands/replies"
    assert T.node_status("n1") == "sentinel/demo/nodes/n1/status"
    assert T.node_health("n1") == "sentinel/demo/nodes/n1/health"
    assert (T.own_status(None), T.own_status("n2")) == (T.status(), T.node_status("n2"))
    assert (T.own_health(None), T.own_health("n2")) == (T.health(), T.node_health("n2"))


def test_subscription_filters() -> None:
    assert T.all_topics() == "sentinel/demo/#"
    assert T.camera_statuses() == "sentinel/demo/cameras/+/status"
    assert T.alerts() == "sentinel/demo/alerts/+/+"
    assert T.cases() == "sentinel/demo/cases/+/+"
    assert T.commands() == "sentinel/demo/commands/cases/+"
    assert (
        Topics.shared("sentinel-demo", T.commands()) == "$share/sentinel-demo/sentinel/demo/commands/cases/+"
    )
    with pytest.raises(TopicError):
        Topics.shared("a/b", T.commands())


@pytest.mark.parametrize(
    "topic",
    [
        "sentinel/other/status",  # another site
        "sentinel/demo",  # the prefix alone
        "sentinel/demox/status",  # a longer prefix is not this one
        "sentinel/demo/",
        "sentinel/demo/nothing",
        "sentinel/demo/status/extra",
        "sentinel/demo/cameras/cam1",
        "sentinel/demo/cameras//status",  # empty level
        "sentinel/demo/cameras/cam1/status/x",
        "sentinel/demo/alerts/crowd_gathering",
        "sentinel/demo/alerts/crowd_gathering/cam1/snapshot",
        "sentinel/demo/alerts/crowd_gathering/cam1/clip/x",
        "sentinel/demo/cases/c1",
        "sentinel/demo/cases/g/c1/x",
        "sentinel/demo/commands/cases/",
        "sentinel/demo/commands/cases/a/b",
        "sentinel/demo/commands/other",
        "sentinel/demo/nodes/n1",
        "sentinel/demo/nodes/n1/other",
        "sentinel/demo/cameras/+/status",  # a filter, not a name
        "sentinel/demo/alerts/#",
        "sentinel/demo/commands/cases/a\x00b",
        "sentinel/demo/commands/cases/" + "x" * 201,
        "",
    ],
)
def test_refused_when_parsed(topic: str) -> None:
    assert T.parse(topic) is None
    assert not T.owns(topic)
    assert T.parse_command(topic) is None


def test_parse_command_only_names_commands() -> None:
    assert T.parse_command(T.command("c9")) == CommandTopic("c9")
    assert T.parse_command(T.command_replies()) is None
    assert T.parse_command(T.status()) is None


@pytest.mark.parametrize("bad", ["", "a/b", "+", "a+", "#", "x#", "a\x00", "tab\there", "\x7f", "x" * 201])
def test_data_cannot_inject_levels_or_wildcards(bad: str) -> None:
    with pytest.raises(TopicError, match="cannot be a topic segment"):
        check_segment(bad, "camera id")
    builders = [
        lambda: T.camera_status(bad),
        lambda: T.alert(bad, "cam1"),
        lambda: T.alert("crowd_gathering", bad),
        lambda: T.alert_clip(bad, "cam1"),
        lambda: T.case(bad, "c1"),
        lambda: T.case(GRID, bad),
        lambda: T.command(bad),
        lambda: T.node_status(bad),
        lambda: T.node_health(bad),
        lambda: Topics.for_site("sentinel/{site}", bad),
    ]
    for build in builders:
        with pytest.raises(TopicError):
            build()


def test_unicode_ids_are_fine() -> None:
    assert T.parse(T.camera_status("东门-1")) == CameraStatusTopic("东门-1")


@pytest.mark.parametrize("prefix", ["", "/sentinel", "sentinel/", "a//b", "a/+/b", "a/#", "$SYS/x"])
def test_bad_prefixes_refused(prefix: str) -> None:
    with pytest.raises(TopicError):
        Topics(prefix)


def test_publisher_retains_only_contract_topics_and_wills_the_node_status(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(engine)
    with Mosquitto() as broker:
        pub = MqttPublisher(
            BrokerAddress.parse(broker.url), T, Outbox(engine), client_id="t-topics", node_id="n1"
        )
        assert pub.status_topic == T.node_status("n1")
        for wrong in ("cameras/cam1/status", "sentinel/other/cameras/cam1/status", T.camera_statuses()):
            with pytest.raises(TopicError):
                pub.set_retained(wrong, "x")
            with pytest.raises(TopicError):
                pub.clear_retained(wrong)
        pub.start()
        try:
            assert pub.wait_connected(10)
            pub.set_retained(T.camera_status("cam1"), {"state": "online"})
            first = Recorder(broker.port, T.all_topics())  # may get it live (retain flag off) if it is quick
            first.wait_for(lambda m: m.topic == T.camera_status("cam1"), timeout=5)
            first.close()
            seen = Recorder(
                broker.port, T.all_topics()
            )  # subscribed after the broker has it: the retained copy
            got = seen.wait_for(lambda m: m.topic == T.camera_status("cam1"), timeout=5)[0]
            assert got.retain and got.json() == {"state": "online"}
            assert seen.wait_for(lambda m: m.topic == T.node_status("n1"), timeout=5)[0].payload == b"online"
            seen.close()
        finally:
            pub.stop()
    engine.dispose()


def test_a_bad_topic_prefix_is_a_config_line_error(tmp_path: Path) -> None:
    from sentinel.config.loader import ConfigError, load_config

    path = tmp_path / "sentinel.yaml"
    path.write_text('site: {id: east}\nmqtt:\n  topic_prefix: "city/#/{site}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    (issue,) = err.value.issues
    assert issue.line == 3 and issue.path == "mqtt.topic_prefix" and "'#'" in issue.message
    path.write_text('site: {id: east}\nmqtt:\n  topic_prefix: "city/{site}/"\n', encoding="utf-8")
    assert load_config(path).topic_prefix() == "city/east"
