"""Config sections of the parts above `config` (site, node, grid, console, event-type overrides): they are
defined here because those parts may import config, not the other way round."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sentinel.fields import ByteSize, EnvPath, Seconds, Strict
from sentinel.fields.http_url import check_http_url


class SiteConfig(Strict):
    id: str = Field(default="demo", pattern=r"^[A-Za-z0-9_-]+$")
    name: str = "Sentinel demo site"
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v


class NodeConfig(Strict):
    """This process as one node of several sharing cameras through PostgreSQL leases (sentinel.cluster).
    Only used with a PostgreSQL `database.url`; SQLite runs a single node that owns every camera."""

    id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="unique per node; unset: the host name",
    )
    max_cameras: int = Field(default=0, ge=0, description="cameras this node takes at most; 0 = no limit")
    lease_ttl: Seconds = Field(
        default=15.0, ge=3, le=600, description="a camera whose lease is not renewed this long may move"
    )
    renew_interval: Seconds | None = Field(
        default=None, gt=0, description="seconds between lease renewals; unset: a third of lease_ttl"
    )

    @model_validator(mode="after")
    def _renew_inside_ttl(self) -> NodeConfig:
        if self.renew_interval is not None and self.renew_interval > self.lease_ttl / 2:
            raise ValueError(
                f"renew_interval ({self.renew_interval:g} s) must be at most half of lease_ttl "
                f"({self.lease_ttl:g} s): a lease must survive one failed renewal"
            )
        return self

    @property
    def renew_every(self) -> float:
        return self.renew_interval if self.renew_interval is not None else self.lease_ttl / 3


class GridConfig(Strict):
    """Grid cells and who answers for them. Relative paths are relative to the config file."""

    cells: EnvPath | None = Field(default=None, description="GeoJSON of street/community/grid polygons")
    roster: EnvPath | None = Field(default=None, description="YAML of grid workers, leaders, duty staff")


class ConsoleConfig(Strict):
    """The operators' web console and REST API (served by `sentinel run`)."""

    enabled: bool = True
    host: str = Field(default="127.0.0.1", description="listen address; 0.0.0.0 exposes it to the network")
    port: int = Field(default=8080, ge=0, le=65535, description="0 = any free port")
    port_fallback: bool = Field(
        default=False, description="port taken: use any free port (the log says which)"
    )
    secure_cookies: bool = Field(
        default=False,
        description="always mark the session cookie Secure (it is anyway on a request that came over https, "
        "directly or through a trusted proxy's X-Forwarded-Proto)",
    )
    max_body: ByteSize = Field(
        default=1024 * 1024, ge=1024, description="largest request body accepted (413 over it), e.g. '1MB'"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or CIDR ranges of reverse proxies whose X-Forwarded-For/-Proto are believed; "
        "empty: the headers are ignored and the peer's address is the client's",
    )
    token_lifetime: Seconds = Field(
        default=90 * 86400.0,
        description="how long an API token lives, from 1 minute to 3650 days, e.g. '90d' or '12h' (a token "
        "may be made to live less, never more); tokens already made keep their expiry",
    )
    public_url: str | None = Field(
        default=None,
        description="the console's address as people and the command platform reach it (e.g. "
        "https://sentinel.example or https://gw.example/sentinel behind a proxy); published alerts then "
        "carry absolute links to their snapshot and clip (`href`) next to the console paths (`url`)",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR range (e.g. 10.0.0.0/8)") from None
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = check_http_url(v, "https://sentinel.example", "it is published with every alert")
        if parts.query or parts.fragment or "?" in v or "#" in v:
            raise ValueError("no query (?...) or fragment (#...): media paths are appended to it")
        return v.rstrip("/")

    @field_validator("token_lifetime")
    @classmethod
    def _token_lifetime(cls, v: float) -> float:
        if not 60 <= v <= 3650 * 86400:
            raise ValueError("must be from 1 minute to 3650 days (e.g. '90d', '12h')")
        return v

    @property
    def proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(ip_network(entry, strict=False) for entry in self.trusted_proxies)


class EventTypeOverride(Strict):
    """Any field of an event type a site wants to change (or a whole new type)."""

    name: str | None = None
    name_en: str | None = None
    code: str | None = None
    severity: Literal["minor", "normal", "major", "urgent"] | None = None
    rule_kind: str | None = None
    deadline: Seconds | None = None
    working_hours: bool | None = None
    auto_register: bool | None = None
