"""Source text helpers every source kind uses: `${ENV}` expansion and password masking (kinds: `sources/`)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from sentinel.fields import expand_env

_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/]*)(?::[^@/]*)?@")


def mask_url(url: str) -> str:
    """`rtsp://admin:secret@host/x` → `rtsp://admin:***@host/x`; URLs without a password are unchanged."""
    m = _USERINFO.match(url)
    if not m or ":" not in url[len(m.group("scheme")) : m.end()]:
        return url
    return f"{m.group('scheme')}{m.group('user')}:***@{url[m.end() :]}"


def mask_secrets(text: str, secrets: list[str]) -> str:
    """Remove known secret values (resolved passwords) from arbitrary text, e.g. an FFmpeg error."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class SourceError(Exception):
    """A source that cannot be resolved (unset variable, missing file); the message is safe to show."""


def resolve(source: str) -> tuple[str, list[str]]:
    """Expand `${VAR}`s; return the URL to open and the secret values it now contains (for masking)."""
    try:
        url = expand_env(source)
    except KeyError as exc:
        raise SourceError(f"environment variable {exc.args[0]} is not set") from None
    secrets: list[str] = []
    parts = urlsplit(url) if "://" in url else None
    if parts is not None and parts.password:
        secrets += [parts.password, unquote(parts.password)]
    return url, secrets
