"""An http(s) URL a technician writes in the config: a host, no credentials (they would be logged or published)."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit


def check_http_url(value: str, example: str, no_credentials_because: str) -> SplitResult:
    """The URL's parts; ValueError with a technician's message when it is not http(s) with a host, or when it
    carries a user name or password (`no_credentials_because` says why that matters where it is used)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise ValueError(f"not a valid URL (expected http(s)://HOST[:PORT][/PATH], e.g. {example})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL with a host, e.g. {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"no user name or password in the URL: {no_credentials_because}")
    return parts
