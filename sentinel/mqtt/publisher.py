"""MQTT publishing (paho-mqtt 2): drains the outbox in order at QoS 1 and marks rows sent on PUBACK;
keeps the daemon's and each camera's retained status; last will `offline`.

While the broker is away nothing is dropped: rows simply stay unsent in the outbox and go out, oldest
first, after the reconnect. A repeat after a lost PUBACK carries the same alert_id.

Inbound messages wait in a bounded queue (`INBOUND_LIMIT`) for the owner's loop. When it is full a message
is dropped (logged once per burst); a subscription may answer what it drops (`when_full`: case commands
reply "busy"), published at once rather than through the outbox.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from sentinel.mqtt.topics import TopicError, Topics
from sentinel.storage.outbox import Outbox

log = logging.getLogger(__name__)

INBOUND_LIMIT = 1000  # inbound messages waiting for the owner's loop; more are dropped
# a subscription's answer to a message dropped because the queue is full: (topic, payload) to publish, or None
WhenFull = Callable[[str, bytes], tuple[str, bytes] | None]


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls)

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class TlsOptions:
    """TLS for an `mqtts://` broker: the CA that signed the broker's certificate (None: the system's CAs),
    an optional client certificate and key, and `insecure` to skip the host name check (never the chain)."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    insecure: bool = False


class MqttSetupError(Exception):
    """The MQTT client cannot be set up (e.g. a TLS file that cannot be read); the message says which."""


class MqttPublisher:
    def __init__(
        self,
        address: BrokerAddress,
        topics: Topics | str,
        store: Outbox,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        max_inflight: int = 20,
        tls: TlsOptions | None = None,
        node_id: str | None = None,
        inbound_limit: int = INBOUND_LIMIT,
    ) -> None:
        self.address = address
        self.topics = topics if isinstance(topics, Topics) else Topics(topics)
        self.status_topic = self.topics.own_status(node_id)  # the last will: the site's, or this node's
        self.store = store
        self.max_inflight = max_inflight
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._rescan = threading.Event()
        self._retained: dict[str, bytes] = {}  # topic → last retained payload, replayed on reconnect
        self._retained_lock = threading.Lock()
        self._keepalive = keepalive
        self._drain_thread = threading.Thread(target=self._drain_loop, name="mqtt-outbox", daemon=True)
        self._subscriptions: list[str] = []
        self._when_full: list[tuple[str, WhenFull]] = []  # (topic filter, answer) per subscription
        # inbound messages, handled by the owner's loop (never database work on paho's network thread)
        self.inbound: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=inbound_limit)
        self.inbound_limit = inbound_limit
        self.inbound_peak = 0  # the most messages ever waiting at once
        self.inbound_dropped = 0  # messages dropped because the queue was full (since start)
        self._burst = 0  # dropped in the current burst (0: the queue has room)
        self.last_error: str | None = None
        self._connect_error: str | None = None  # why the last TCP/TLS connect failed (paho does not say)
        self._refused = False  # the broker answered this connection attempt with a refusal (CONNACK)

        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        self.client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        self.client.reconnect_delay_set(
            min_delay=1, max_delay=60
        )  # paho doubles the delay after each failure
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        if username:
            self.client.username_pw_set(username, password)
            if not address.tls:
                log.warning("MQTT user %s logs in to %s without TLS: use mqtts:// to protect the password",
                            username, address)  # fmt: skip
        if address.tls:
            self._set_tls(tls or TlsOptions())
        self._wrap_reconnect()
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    def _set_tls(self, tls: TlsOptions) -> None:
        for name, path in (("tls_ca", tls.ca), ("tls_cert", tls.cert), ("tls_key", tls.key)):
            if path is not None and not path.is_file():
                raise MqttSetupError(f"mqtt.{name}: no such file {path}")
        try:
            self.client.tls_set(
                ca_certs=str(tls.ca) if tls.ca else None,
                certfile=str(tls.cert) if tls.cert else None,
                keyfile=str(tls.key) if tls.key else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (ssl.SSLError, OSError, ValueError) as exc:
            files = ", ".join(str(p) for p in (tls.ca, tls.cert, tls.key) if p is not None) or "system CAs"
            raise MqttSetupError(f"mqtt TLS settings: cannot load {files}: {exc}") from None
        if tls.insecure:
            log.warning("mqtt.tls_insecure: the broker's host name is not checked against its certificate")
            self.client.tls_insecure_set(True)

    def _wrap_reconnect(self) -> None:
        """Keep the reason a connect fails (refused, TLS handshake, ...) for `_on_connect_fail` to log."""
        connect = self.client.reconnect

        def reconnect() -> mqtt.MQTTErrorCode:
            self._refused = False
            try:
                return connect()
            except OSError as exc:
                self._connect_error = str(exc) or type(exc).__name__
                raise

        self.client.reconnect = reconnect  # type: ignore[method-assign]

    def _on_connect_fail(self, _c: mqtt.Client, _ud: object) -> None:
        error = f"cannot connect to MQTT broker {self.address}: {self._connect_error or 'connection failed'}"
        if error != self.last_error:  # once per distinct problem, not at every retry
            log.warning("%s; retrying", error)
        self.last_error = error

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive)
        self.client.loop_start()
        self._drain_thread.start()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def stop(self, drain_timeout: float = 5.0) -> None:
        """Flush what can be flushed, publish `offline` (retained) and disconnect."""
        if self.connected.is_set():
            self._wake.set()
            deadline = threading.Event()
            for _ in range(int(drain_timeout * 10)):
                if self.store.outbox_depth() == 0:
                    break
                deadline.wait(0.1)
            info = self.client.publish(self.status_topic, b"offline", qos=1, retain=True)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(timeout=2.0)
        self._stop.set()
        self._wake.set()
        self.client.disconnect()
        self.client.loop_stop()
        if self._drain_thread.is_alive():
            self._drain_thread.join(timeout=5)

    # ---------------------------------------------------------------- retained status

    def _checked(self, topic: str) -> str:
        if not self.topics.owns(topic):
            raise TopicError(f"{topic[:200]!r} is not a topic of the contract under {self.topics.prefix}")
        return topic

    def set_retained(self, topic: str, payload: dict[str, object] | str) -> None:
        """Publish a retained status on `topic` (built by `self.topics`; latest wins); it is replayed after
        every reconnect."""
        topic = self._checked(topic)
        data = (
            payload.encode() if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False).encode()
        )
        with self._retained_lock:
            self._retained[topic] = data
        if self.connected.is_set():
            self.client.publish(topic, data, qos=1, retain=True)

    def clear_retained(self, topic: str) -> None:
        """Remove a retained status (an empty retained payload deletes it on the broker)."""
        topic = self._checked(topic)
        with self._retained_lock:
            self._retained.pop(topic, None)
        if self.connected.is_set():
            self.client.publish(topic, b"", qos=1, retain=True)

    def subscribe(self, topic: str, when_full: WhenFull | None = None) -> None:
        """Receive messages on `topic` (QoS 1) into `inbound`; renewed after every reconnect. `when_full`
        answers a message of this subscription dropped because `inbound` is full (runs on paho's thread:
        no database work)."""
        self._subscriptions.append(topic)
        if when_full is not None:
            # a shared subscription ($share/<group>/<filter>) delivers topics of its filter
            plain = topic.split("/", 2)[2] if topic.startswith("$share/") else topic
            self._when_full.append((plain, when_full))
        if self.connected.is_set():
            self.client.subscribe(topic, qos=1)

    def rescan(self) -> None:
        """Rows older than the ones already handed to paho became ours (adopted from a dead node): start the
        next drain from the oldest pending row again."""
        self._rescan.set()
        self._wake.set()

    def outbox_notify(self) -> None:
        """Tell the drain loop new rows are waiting."""
        self._wake.set()

    # ---------------------------------------------------------------- paho callbacks (network thread)

    def _on_connect(
        self, client: mqtt.Client, _ud: object, _flags: object, reason: mqtt.ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            error = f"broker {self.address} refused the connection: {reason}"
            if error != self.last_error:  # once per distinct problem, not at every retry
                log.warning("%s (check mqtt.username / mqtt.password); retrying", error)
            self.last_error = error
            self._refused = True
            return
        log.info("connected to MQTT broker %s", self.address)
        self.last_error = None
        client.publish(self.status_topic, b"online", qos=1, retain=True)
        with self._retained_lock:
            retained = list(self._retained.items())
        for topic, data in retained:
            client.publish(topic, data, qos=1, retain=True)
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        self.connected.set()
        self._wake.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _ud: object, _flags: object, reason: mqtt.ReasonCode, _p: object
    ) -> None:
        if self.connected.is_set() and not self._stop.is_set():
            log.warning("lost MQTT broker %s (%s); alerts wait in the outbox", self.address, reason)
        elif not self._stop.is_set() and not self._refused:  # closed before CONNACK: TLS or protocol trouble
            self._connect_error = (
                f"the broker closed the connection before accepting it ({reason}; "
                "does it require a client certificate?)"
            )
            self._on_connect_fail(_c, _ud)
        self.connected.clear()
        self._wake.set()

    def _on_message(self, _c: mqtt.Client, _ud: object, msg: mqtt.MQTTMessage) -> None:
        item = (msg.topic, bytes(msg.payload))
        try:
            self.inbound.put_nowait(item)
        except queue.Full:
            self._drop(*item)
            return
        waiting = self.inbound.qsize()
        self.inbound_peak = max(self.inbound_peak, waiting)
        if self._burst and waiting <= self.inbound_limit // 2:  # the burst is over once the queue drains
            log.warning(
                "inbound queue has room again; %d messages were dropped while it was full", self._burst
            )
            self._burst = 0

    def _drop(self, topic: str, payload: bytes) -> None:
        self.inbound_dropped += 1
        self._burst += 1
        if self._burst == 1:  # once per burst, not once per message
            log.warning(
                "inbound queue full (%d messages waiting): dropping messages until there is room",
                self.inbound_limit,
            )
        answer = next((fn for sub, fn in self._when_full if mqtt.topic_matches_sub(sub, topic)), None)
        if answer is None:
            return
        try:
            reply = answer(topic, payload)
            if reply is not None:
                self.client.publish(self._checked(reply[0]), reply[1], qos=1)
        except Exception:  # never let an answer take paho's network thread down
            log.exception("cannot answer a message dropped on %s", topic[:200])

    def _on_publish(self, _c: mqtt.Client, _ud: object, mid: int, _reason: object, _p: object) -> None:
        self._acks.put(mid)
        self._wake.set()

    # ---------------------------------------------------------------- outbox drain (own thread)

    def _drain_loop(self) -> None:
        inflight: dict[int, int] = {}  # paho mid → outbox id
        highest_sent = 0  # outbox id of the newest message handed to paho on this connection
        was_connected = False
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            try:
                if not self.connected.is_set():
                    if was_connected:  # start again from the oldest unacknowledged row after reconnect
                        inflight.clear()
                        highest_sent = 0
                    was_connected = False
                    continue
                was_connected = True
                if self._rescan.is_set():
                    self._rescan.clear()
                    highest_sent = 0  # rows in flight are skipped below, the adopted ones picked up
                acked = []
                while True:
                    try:
                        mid = self._acks.get_nowait()
                    except queue.Empty:
                        break
                    if mid in inflight:
                        acked.append(inflight.pop(mid))
                self.store.mark_sent(acked)
                room = self.max_inflight - len(inflight)
                if room <= 0:
                    continue
                batch = self.store.pending(after_id=highest_sent, limit=room)
                handed: list[int] = []
                for item in batch:
                    if item.id in inflight.values():
                        continue  # still waiting for its PUBACK (after a rescan)
                    info = self.client.publish(item.topic, item.payload, qos=item.qos, retain=item.retain)
                    if info.rc != mqtt.MQTT_ERR_SUCCESS:
                        break  # connection went away; the row stays pending
                    inflight[info.mid] = item.id
                    highest_sent = item.id
                    handed.append(item.id)
                self.store.mark_attempted(handed)
                if len(handed) == room:
                    self._wake.set()  # more may be waiting
            except Exception:  # the store or paho failed: log, keep the loop alive, retry
                log.exception("outbox drain failed; retrying")
                self._stop.wait(1.0)
