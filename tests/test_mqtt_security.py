"""MQTT user name/password and TLS, against a real mosquitto with a password file and a TLS-only listener
(certificates made by the test): the right settings connect, wrong ones are refused with a clear log line,
no crash and no password in the log."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinel.alerts.store import AlertStore
from sentinel.config.loader import ConfigError, load_config
from sentinel.config.models import MqttConfig
from sentinel.mqtt.publisher import BrokerAddress, MqttPublisher, MqttSetupError, TlsOptions
from sentinel.storage.db import make_engine, migrate
from tests.support.tls import Pki, SecureMosquitto, TlsRecorder

USER, PASSWORD = "sentinel", "Mq77-pa55-2b9e"
WRONG = "Not-the-pa55-0c4d"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def broker(pki: Pki) -> Iterator[SecureMosquitto]:
    with SecureMosquitto(pki, {USER: PASSWORD, "reader": "Rd-pa55-77aa"}) as b:
        yield b


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'sentinel.db'}")
    migrate(engine)
    yield AlertStore(engine)
    engine.dispose()


def publisher(
    broker: SecureMosquitto, store: AlertStore, password: str | None, **tls: object
) -> MqttPublisher:
    options = TlsOptions(**{"ca": broker.pki.ca, **tls})  # type: ignore[arg-type]
    return MqttPublisher(
        BrokerAddress.parse(broker.url), "sentinel/sec", store, client_id=f"t-{time.monotonic_ns()}",
        username=USER if password is not None else None, password=password, tls=options,
    )  # fmt: skip


def wait_for_error(pub: MqttPublisher, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while pub.last_error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pub.last_error is not None, "no connection error reported"
    return pub.last_error


# ---------------------------------------------------------------- the publisher


def test_right_password_over_tls_connects_and_publishes(broker: SecureMosquitto, store: AlertStore) -> None:
    recorder = TlsRecorder(broker, "reader", "Rd-pa55-77aa", "sentinel/sec/#")
    pub = publisher(broker, store, PASSWORD)
    pub.start()
    try:
        assert pub.wait_connected(10), pub.last_error
        status = recorder.wait_for(lambda m: m.topic == "sentinel/sec/status", 10)[0]
        assert status.payload == b"online"
    finally:
        pub.stop()
        recorder.close()
    assert f"u'{USER}'" in broker.log_text()


@pytest.mark.parametrize("password", [WRONG, None], ids=["wrong_password", "no_login"])
def test_wrong_or_missing_password_is_refused_clearly(
    broker: SecureMosquitto, store: AlertStore, password: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    pub = publisher(broker, store, password)
    with caplog.at_level(logging.WARNING, logger="sentinel.mqtt.publisher"):
        pub.start()
        try:
            error = wait_for_error(pub)
            time.sleep(2.5)  # paho retries (1 s, 2 s): one log line per distinct problem, not per retry
            assert not pub.connected.is_set()
        finally:
            pub.stop()
    assert "refused the connection" in error and "Not authorized" in error, error
    lines = [r.getMessage() for r in caplog.records if "refused the connection" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "check mqtt.username / mqtt.password" in lines[0]
    assert WRONG not in caplog.text and PASSWORD not in caplog.text


def test_unknown_certificate_authority_is_refused_clearly(
    broker: SecureMosquitto, store: AlertStore, caplog: pytest.LogCaptureFixture
) -> None:
    pub = publisher(broker, store, PASSWORD, ca=broker.pki.other_ca)
    with caplog.at_level(logging.WARNING, logger="sentinel.mqtt.publisher"):
        pub.start()
        try:
            error = wait_for_error(pub)
        finally:
            pub.stop()
    assert "certificate verify failed" in error, error
    assert f"cannot connect to MQTT broker {broker.url}" in caplog.text
    assert PASSWORD not in caplog.text


def test_client_certificate_when_the_broker_requires_one(pki: Pki, store: AlertStore) -> None:
    with SecureMosquitto(pki, {USER: PASSWORD}, require_certificate=True) as broker:
        without = publisher(broker, store, PASSWORD)
        without.start()
        try:
            error = wait_for_error(without)
            assert not without.connected.is_set()
            assert "closed the connection before accepting it" in error or "certificate" in error, error
        finally:
            without.stop()
        with_cert = publisher(broker, store, PASSWORD, cert=pki.client_cert, key=pki.client_key)
        with_cert.start()
        try:
            assert with_cert.wait_connected(10), with_cert.last_error
        finally:
            with_cert.stop()


def test_unreadable_tls_files_are_a_setup_error(pki: Pki, store: AlertStore, tmp_path: Path) -> None:
    address = BrokerAddress.parse("mqtts://127.0.0.1:8883")
    with pytest.raises(MqttSetupError, match=r"mqtt.tls_ca: no such file"):
        MqttPublisher(address, "p", store, "c", tls=TlsOptions(ca=tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(MqttSetupError, match=r"cannot load .*junk.pem"):
        MqttPublisher(address, "p", store, "c", tls=TlsOptions(ca=junk))


def test_password_without_tls_is_warned_about(store: AlertStore, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sentinel.mqtt.publisher"):
        MqttPublisher(
            BrokerAddress.parse("mqtt://127.0.0.1:1883"), "p", store, "c", username=USER, password=PASSWORD
        )
    assert "without TLS" in caplog.text and PASSWORD not in caplog.text


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("mqtt", "message"),
    [
        ({"url": "mqtt://h", "tls_ca": "/ca.pem"}, "tls_ca need(s) url: mqtts://"),
        ({"tls_insecure": True}, "tls_insecure need(s) url: mqtts://"),
        ({"url": "mqtts://h", "tls_cert": "/c.pem"}, "tls_cert and tls_key go together"),
        ({"url": "mqtts://h", "password": "x"}, "password needs username"),
    ],
)
def test_config_refuses_inconsistent_settings(tmp_path: Path, mqtt: dict[str, object], message: str) -> None:
    path = tmp_path / "sentinel.yaml"
    path.write_text("mqtt: " + json.dumps(mqtt) + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:1: mqtt: {message}"), info.value


def test_config_tls_paths_expand_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTS", str(tmp_path))
    monkeypatch.setenv("MQTT_PW", "x")
    cfg = MqttConfig.model_validate(
        {
            "url": "mqtts://broker:8883", "username": "u", "password": "${MQTT_PW}",
            "tls_ca": "${CERTS}/ca.pem", "tls_cert": "${CERTS}/c.pem", "tls_key": "${CERTS}/c.key",
        }
    )  # fmt: skip
    assert cfg.tls_ca == tmp_path / "ca.pem" and cfg.tls_key == tmp_path / "c.key"
    assert cfg.password == "${MQTT_PW}"  # kept as written: expanded only when the daemon connects
    assert cfg.tls_insecure is False  # the safe default


# ---------------------------------------------------------------- the daemon


def run_daemon(
    tmp_path: Path, name: str, mqtt: dict[str, object], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        json.dumps(
            {
                "site": {"id": "sec"}, "mqtt": {**mqtt, "status_interval": "1s"},
                "storage": {"data_dir": f"data-{name}"}, "console": {"enabled": False}, "cameras": [],
            }
        )
    )  # fmt: skip
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it; closed when we read
    return subprocess.Popen(
        [sys.executable, "-m", "sentinel.cli.main", "run", "--config", str(config)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=tmp_path,
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


@pytest.mark.slow
def test_daemon_with_tls_and_password(broker: SecureMosquitto, tmp_path: Path) -> None:
    """`sentinel run` with mqtts://, a CA file and `password: ${VAR}` connects; with the wrong password it keeps
    running, says why once, and never prints the password."""
    mqtt = {
        "url": broker.url,
        "tls_ca": str(broker.pki.ca),
        "username": USER,
        "password": "${SENTINEL_MQTT_PASSWORD}",
    }
    recorder = TlsRecorder(broker, "reader", "Rd-pa55-77aa", "sentinel/sec/#")
    good = run_daemon(tmp_path, "good", mqtt, {"SENTINEL_MQTT_PASSWORD": PASSWORD})
    bad = run_daemon(tmp_path, "bad", mqtt | {"client_id": "sentinel-bad"}, {"SENTINEL_MQTT_PASSWORD": WRONG})
    try:
        recorder.wait_for(lambda m: m.topic == "sentinel/sec/status" and m.payload == b"online", 30)
        health = recorder.wait_for(lambda m: m.topic == "sentinel/sec/health", 15)[0].json()
        assert health["outbox_depth"] == 0 and health["cameras"] == {"online": 0, "total": 0}, health
        assert health["mqtt_error"] is None and health["uptime_s"] >= 0
        deadline = time.monotonic() + 20
        while (
            "refused the connection" not in (tmp_path / "bad.log").read_text() and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        time.sleep(3)  # a few retries
        assert bad.poll() is None, "the daemon died of a wrong password"
    finally:
        codes = stop(good), stop(bad)
        recorder.close()
    good_log, bad_log = (tmp_path / "good.log").read_text(), (tmp_path / "bad.log").read_text()
    assert codes == (0, 0), good_log + bad_log
    refusals = [line for line in bad_log.splitlines() if "refused the connection" in line]
    assert len(refusals) == 1 and "Not authorized" in refusals[0], bad_log
    for text in (good_log, bad_log, broker.log_text()):
        assert PASSWORD not in text and WRONG not in text
        assert "Traceback" not in text


def test_daemon_refuses_to_start_with_a_missing_ca_file(tmp_path: Path) -> None:
    mqtt = {"url": "mqtts://127.0.0.1:1", "tls_ca": str(tmp_path / "nope.pem")}
    proc = run_daemon(tmp_path, "noca", mqtt, {})
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(60)
    code = stop(proc)
    out = (tmp_path / "noca.log").read_text()
    assert code == 1, out
    assert f"sentinel: mqtt.tls_ca: no such file {tmp_path / 'nope.pem'}" in out and "Traceback" not in out
