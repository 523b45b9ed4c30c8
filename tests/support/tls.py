"""TLS and password-protected MQTT for tests: a throw-away PKI (``cryptography``) and a mosquitto that
requires a user name and password (``mosquitto_passwd``) over TLS, optionally a client certificate too.

``Pki(tmp)`` writes ``ca.pem``, ``server.pem``/``server.key`` (for 127.0.0.1 and localhost) and
``client.pem``/``client.key``, all signed by the CA, plus an unrelated ``other-ca.pem``.
``SecureMosquitto(pki, {"user": "password"})`` is a ``Mosquitto`` (same lifecycle: stop/start/close) whose
only listener speaks TLS and refuses anonymous clients. ``tls_client`` makes a paho client for it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.mqtt_helpers import Received, Recorder
from tests.support.servers import HOST, Mosquitto, mosquitto_password_file


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer is not None else (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and an unrelated CA."""

    dir: Path

    def __post_init__(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        ca_key, other_key = _key(), _key()
        ca = _cert("Sentinel test CA", ca_key, None, ca=True)
        other = _cert("Some other CA", other_key, None, ca=True)
        issuer = (ca.subject, ca_key)
        server_key, client_key = _key(), _key()
        server = _cert("localhost", server_key, issuer, server=True)
        client = _cert("sentinel-client", client_key, issuer)
        for path, cert in (
            (self.ca, ca),
            (self.other_ca, other),
            (self.server_cert, server),
            (self.client_cert, client),
        ):
            path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(server_key, self.server_key)
        _write_key(client_key, self.client_key)

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def other_ca(self) -> Path:
        return self.dir / "other-ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.dir / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.dir / "server.key"

    @property
    def client_cert(self) -> Path:
        return self.dir / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.dir / "client.key"


class SecureMosquitto(Mosquitto):
    """mosquitto on 127.0.0.1:<free port>: TLS only (the Pki's server certificate), no anonymous clients,
    users from a `mosquitto_passwd` file; `require_certificate=True` also wants a client certificate."""

    _prefix = "mosquitto-tls"

    def __init__(self, pki: Pki, users: dict[str, str], *, require_certificate: bool = False) -> None:
        self.pki = pki
        self.users = users
        self.require_certificate = require_certificate
        super().__init__()

    @property
    def url(self) -> str:
        return f"mqtts://{HOST}:{self.port}"

    def _write_conf(self) -> None:
        passwd = mosquitto_password_file(self._tmp / "passwd", self.users)
        self.conf_path.write_text(
            "\n".join(
                [
                    f"listener {self.port} {HOST}",
                    f"cafile {self.pki.ca}",
                    f"certfile {self.pki.server_cert}",
                    f"keyfile {self.pki.server_key}",
                    f"require_certificate {'true' if self.require_certificate else 'false'}",
                    "allow_anonymous false",
                    f"password_file {passwd}",
                    "persistence false",
                    f"user {pwd.getpwuid(os.getuid()).pw_name}",
                    "log_dest stderr",
                    "log_type all",
                    "connection_messages true",
                    "log_timestamp true",
                    "",
                ]
            )
        )


def tls_client(
    broker: SecureMosquitto, user: str | None, password: str | None, *, client_cert: bool = False
) -> mqtt.Client:
    """A paho client set up for `broker` (not yet connected)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{time.monotonic_ns()}")
    client.tls_set(
        ca_certs=str(broker.pki.ca),
        certfile=str(broker.pki.client_cert) if client_cert else None,
        keyfile=str(broker.pki.client_key) if client_cert else None,
        cert_reqs=ssl.CERT_REQUIRED,
    )
    if user is not None:
        client.username_pw_set(user, password)
    return client


class TlsRecorder(Recorder):
    """`tests.mqtt_helpers.Recorder` over TLS with a user name and password."""

    def __init__(self, broker: SecureMosquitto, user: str, password: str, topic: str = "#") -> None:
        self.messages: list[Received] = []
        self.times: list[float] = []
        self._cond = threading.Condition()
        self.client = tls_client(broker, user, password)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect(HOST, broker.port, keepalive=10)
        self.client.loop_start()
