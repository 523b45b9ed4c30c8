"""Source text helpers every source kind uses: `${ENV}` expansion and password masking (kinds: `sources/`)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from sentinel.fields import expand_env

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def mask_url(url: str) -> str:
    """`rtsp://admin:secret@host/x` → `rtsp://admin:***@host/x`; URLs without a password are unchanged.

    The password runs from the first `:` of the user info to the *last* `@` before the host (a password may
    hold `@` and `:`). A `/` in the password ends the authority by the URL rules; it is masked too when the
    text after the `:` is not a port and an `@` comes later (then up to the last `@` of the URL)."""
    m = _SCHEME.match(url)
    if not m:
        return url
    scheme, rest = m.group(0), url[m.end() :]
    end = next((i for i, ch in enumerate(rest) if ch in "/?#"), len(rest))
    at = rest.rfind("@", 0, end)
    if at < 0:
        colon = rest.find(":", 0, end)
        if colon < 0 or rest[colon + 1 : end].isdigit() or "@" not in rest[end:]:
            return url  # no user info, or host:port
        at = rest.rfind("@")  # a password with a '/' in it
    userinfo = rest[:at]
    if ":" not in userinfo:
        return url  # a user name only
    return f"{scheme}{userinfo.split(':', 1)[0]}:***@{rest[at + 1 :]}"


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
