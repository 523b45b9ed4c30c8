"""Does the configured broker let anyone in? One anonymous connection attempt, bounded in time, for
`sentinel check`: a broker that accepts anonymous clients lets anyone send case commands (docs/security.md)."""

from __future__ import annotations

import ssl
import threading
from enum import Enum

import paho.mqtt.client as mqtt

from sentinel.mqtt.publisher import BrokerAddress


class Probe(Enum):
    accepted = "accepted"  # an anonymous client got in
    refused = "refused"  # the broker wants an account
    unreachable = "unreachable"  # no answer (down, a name that does not resolve, TLS trouble): nothing known


def anonymous_access(url: str, ca_file: str | None = None, timeout: float = 3.0) -> Probe:
    address = BrokerAddress.parse(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
    if address.tls:
        client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
    answered = threading.Event()
    result: list[Probe] = []

    def on_connect(_c: object, _u: object, _f: object, code: mqtt.ReasonCode, _p: object) -> None:
        result.append(Probe.refused if code.is_failure else Probe.accepted)
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(address.host, address.port, keepalive=10)
        client.loop_start()
        answered.wait(timeout)
    except (OSError, ssl.SSLError, ValueError):
        return Probe.unreachable
    finally:
        client.loop_stop()
        client.disconnect()
    return result[0] if result else Probe.unreachable
