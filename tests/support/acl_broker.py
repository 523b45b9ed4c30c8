"""mosquitto on 127.0.0.1:<free port> with the deployment's own ACL file (deploy/mosquitto/acl), a password
file of the test's accounts and no anonymous clients: the broker a production site runs, minus TLS."""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.servers import HOST, Mosquitto, mosquitto_password_file

DEPLOY_ACL = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl"


class AclMosquitto(Mosquitto):
    _prefix = "mosquitto-acl"

    def __init__(self, users: dict[str, str], acl: Path = DEPLOY_ACL) -> None:
        self.users, self.acl = users, acl
        super().__init__()

    def _write_conf(self) -> None:
        passwd = mosquitto_password_file(self._tmp / "passwd", self.users)
        self.conf_path.write_text(
            "\n".join(
                [
                    f"listener {self.port} {HOST}",
                    "allow_anonymous false",
                    f"password_file {passwd}",
                    f"acl_file {self.acl}",
                    "persistence false",
                    f"user {pwd.getpwuid(os.getuid()).pw_name}",
                    "log_dest stderr",
                    "log_type all",
                    "log_timestamp true",
                    "",
                ]
            )
        )


class V5Client:
    """An MQTT 5 client of `broker` as `user`: the broker's PUBACK and SUBACK reason codes say whether the
    ACL let a publish or a subscription through (mosquitto answers 135, not authorised)."""

    def __init__(self, broker: Mosquitto, user: str | None, password: str | None = None) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.monotonic_ns()}", protocol=mqtt.MQTTv5
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.acks: dict[int, ReasonCode] = {}
        self.granted: dict[int, list[ReasonCode]] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, m.payload))
        self.connect_code: ReasonCode | None = None
        self.client.on_connect = self._on_connect
        self.client.connect(HOST, broker.port)
        self.client.loop_start()

    def _on_connect(self, _c: object, _u: object, _f: object, code: ReasonCode, _p: object) -> None:
        self.connect_code = code

    def _on_publish(self, _c: object, _u: object, mid: int, code: ReasonCode, _p: Properties) -> None:
        self.acks[mid] = code

    def _on_subscribe(
        self, _c: object, _u: object, mid: int, codes: list[ReasonCode], _p: Properties
    ) -> None:
        self.granted[mid] = codes

    def wait_connected(self, timeout: float = 10) -> ReasonCode:
        deadline = time.monotonic() + timeout
        while self.connect_code is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.connect_code is not None, "no CONNACK"
        return self.connect_code

    def publish(self, topic: str, payload: bytes, timeout: float = 10) -> int:
        """Publish at QoS 1 and return the PUBACK's reason code (0: accepted, 135: not authorised)."""
        info = self.client.publish(topic, payload, qos=1)
        deadline = time.monotonic() + timeout
        while info.mid not in self.acks and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.acks[info.mid].value

    def subscribe(self, topic: str, timeout: float = 10) -> int:
        """Subscribe at QoS 1 and return the SUBACK's reason code (1: granted QoS 1, 135: not authorised)."""
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        deadline = time.monotonic() + timeout
        while mid not in self.granted and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.granted[mid][0].value

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
