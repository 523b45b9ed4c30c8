"""Absolute links to an alert's media for readers outside the console (the command platform, a phone):
the published `snapshot.url` / `clip.url` stay console paths (`/media/...`), `href` is the same file under
the site's `console.public_url`."""

from __future__ import annotations


def media_href(public_url: str | None, url: str | None) -> str | None:
    """`public_url` + the console path; None without a public URL or without a file."""
    if not public_url or not url:
        return None
    return public_url.rstrip("/") + url
