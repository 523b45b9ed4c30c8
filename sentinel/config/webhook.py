"""The `webhook:` section: case changes also go to the roster's contact through a site's own HTTP endpoint
(an SMS or messaging gateway), as a signed JSON body. Defined in config because `cases/` sits above it.

The secret is never in the file: `secret_env` names the environment variable holding it, and the model keeps
only that name, so no repr, log line or error can show the secret itself.
"""

from __future__ import annotations

import os
import re
from typing import Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from sentinel.fields import PositiveSeconds, Strict
from sentinel.fields.http_url import check_http_url

# the case changes a webhook may send, and the case actions behind each (see `sentinel.cases.webhook`)
WebhookEvent = Literal[
    "create", "dispatch", "reminder", "escalate", "extend", "return", "feedback", "rework", "reject", "close"
]
DEFAULT_EVENTS: Final[tuple[WebhookEvent, ...]] = ("dispatch", "escalate", "reminder", "close")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def safe_url(url: str) -> str:
    """The URL as it may be logged: scheme, host, port and path; no user info, query or fragment (a
    gateway's token often rides in the query)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class WebhookConfig(Strict):
    """POST each case change the site wants (`events`) to `url`, stored first and retried with backoff."""

    url: str = Field(description="http:// or https:// address of the receiver")
    secret_env: str | None = Field(
        default=None,
        description="name of the environment variable with the HMAC-SHA256 key; the body's signature goes "
        "in `X-Sentinel-Signature: sha256=<hex>` (unset: unsigned)",
    )
    timeout: PositiveSeconds = Field(default=10.0, le=300, description="per attempt, connect to answer")
    max_attempts: int = Field(default=12, ge=1, le=1000, description="then the delivery is given up")
    retry_initial: PositiveSeconds = Field(default=5.0, description="first retry after about this long")
    retry_max: PositiveSeconds = Field(default=900.0, description="retries never wait longer than this")
    events: list[WebhookEvent] = Field(
        default_factory=lambda: list(DEFAULT_EVENTS), min_length=1, description="which case changes to send"
    )
    console_url: str | None = Field(
        default=None,
        description="the console's address as the receiver reaches it (e.g. https://sentinel.example); "
        "makes the snapshot link absolute (unset: console.public_url)",
    )

    @field_validator("url", "console_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        check_http_url(
            v, "https://gateway.example/hook", "it would show in logs; use secret_env for a signature"
        )
        return v

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not _ENV_NAME.match(v):
            raise ValueError(
                "give the name of an environment variable (e.g. SENTINEL_WEBHOOK_SECRET), not the secret"
            )
        if not os.environ.get(v):
            raise ValueError(f"environment variable {v} is not set (or empty)")
        return v

    @field_validator("events")
    @classmethod
    def _unique(cls, v: list[WebhookEvent]) -> list[WebhookEvent]:
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _retry_order(self) -> WebhookConfig:
        if self.retry_max < self.retry_initial:
            raise ValueError(
                f"retry_max ({self.retry_max:g} s) must be at least retry_initial ({self.retry_initial:g} s)"
            )
        return self

    def secret(self) -> bytes | None:
        """The signing key, read from the environment when needed (None: unsigned)."""
        if self.secret_env is None:
            return None
        value = os.environ.get(self.secret_env)
        return value.encode("utf-8") if value else None

    def safe_url(self) -> str:
        return safe_url(self.url)
