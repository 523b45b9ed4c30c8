"""The MQTT part's settings: which broker (or an embedded one), the topic prefix, login and TLS."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from sentinel.fields import EnvPath, PositiveSeconds, Strict, check_env_refs
from sentinel.mqtt.topics import TopicError, Topics


class MqttConfig(Strict):
    url: str | None = Field(
        default=None, description="mqtt://host:port or mqtts://host:port; unset: start an embedded broker"
    )
    topic_prefix: str = "sentinel/{site}"
    client_id: str | None = None
    username: str | None = None
    password: str | None = None
    keepalive: int = Field(default=30, ge=5, le=3600)
    embedded_port: int = Field(
        default=1883, ge=0, le=65535, description="port of the embedded broker; 0 = any"
    )
    status_interval: PositiveSeconds = Field(
        default=10.0, description="retained camera status: on every change, and fps/last frame this often"
    )
    embedded_port_fallback: bool = Field(default=False, description="embedded_port taken: use any free port")
    tls_ca: EnvPath | None = Field(
        default=None, description="mqtts://: CA certificate (PEM) of the broker's certificate; unset: system"
    )
    tls_cert: EnvPath | None = Field(default=None, description="mqtts://: client certificate (PEM) if needed")
    tls_key: EnvPath | None = Field(default=None, description="mqtts://: the client certificate's key (PEM)")
    tls_insecure: bool = Field(
        default=False, description="mqtts://: do not check the broker's host name (testing only)"
    )

    @model_validator(mode="after")
    def _tls_and_login(self) -> MqttConfig:
        tls = [k for k in ("tls_ca", "tls_cert", "tls_key") if getattr(self, k) is not None]
        if self.tls_insecure:
            tls.append("tls_insecure")
        if tls and not (self.url or "").startswith("mqtts://"):
            raise ValueError(f"{', '.join(tls)} need(s) url: mqtts://HOST[:PORT] (TLS)")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.password is not None and not self.username:
            raise ValueError("password needs username")
        return self

    @field_validator("topic_prefix")
    @classmethod
    def _topic_prefix(cls, template: str) -> str:
        try:
            Topics.for_site(template, "site")  # every level a valid topic level, `{site}` or not
        except TopicError as exc:
            raise ValueError(str(exc)) from None
        return template

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^mqtts?://[^/:]+(:\d+)?/?$", v):
            raise ValueError("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
        return v

    @field_validator("password", "username")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        return None if v is None else check_env_refs(v)
