"""ONVIF probe failures: one line each, safe to print, with a hint of what to do."""

from __future__ import annotations

import re
from typing import Any


class ProbeError(Exception):
    """A probe failure; `kind` tells which (timeout, refused, not_onvif, unauthorized, clock_skew, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def classify(exc: BaseException, what: str, where: str, response: Any) -> ProbeError:
    """The ProbeError for a failed call `what` to `where` ("host:port"); `response` is the HTTP answer, if
    one came (a 401, or something that is not SOAP at all, tells more than the exception does)."""
    import requests
    from zeep.exceptions import Error as ZeepError
    from zeep.exceptions import Fault, TransportError

    status = getattr(response, "status_code", None)
    if isinstance(exc, requests.Timeout):
        return ProbeError("timeout", f"{where}: no answer to {what} in time (timeout)")
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "refused" in text.lower():
            return ProbeError("refused", f"{where}: connection refused (no ONVIF/HTTP service on this port)")
        if "Name or service not known" in text or "getaddrinfo" in text:
            return ProbeError("refused", f"{where}: unknown host name")
        return ProbeError("refused", f"{where}: cannot connect ({short(text)})")
    if status == 401 or (isinstance(exc, Fault) and _is_not_authorized(exc)):
        return ProbeError("unauthorized", f"{where}: {what}: not authorized")
    if response is not None and not _looks_like_soap(response):
        ctype = response.headers.get("Content-Type", "no content type").split(";")[0]
        return ProbeError(
            "not_onvif",
            f"{where}: HTTP answers ({status} {ctype}) but not with SOAP: not an ONVIF service "
            "(check the port; ONVIF is usually on 80, sometimes 8000, 8080 or 8899)",
        )
    if isinstance(exc, Fault):
        reason = short(exc.message or "SOAP fault")
        return ProbeError("fault", f"{where}: {what} failed: {reason}")
    if isinstance(exc, TransportError):
        return ProbeError("not_onvif", f"{where}: {what}: HTTP {exc.status_code}: not an ONVIF answer")
    if isinstance(exc, ZeepError):
        return ProbeError("not_onvif", f"{where}: {what}: unexpected answer ({short(str(exc))})")
    return ProbeError("other", f"{where}: {what} failed: {short(str(exc)) or type(exc).__name__}")


def short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_not_authorized(fault: Any) -> bool:
    codes = [str(c) for c in (fault.subcodes or [])] + [str(fault.code or "")]
    text = f"{fault.message or ''} {' '.join(codes)}".lower()
    return "notauthorized" in text.replace(" ", "") or "not authorized" in text or "unauthorized" in text


def _looks_like_soap(response: Any) -> bool:
    head = response.content[:2048].decode("utf-8", "replace")
    return bool(re.search(r"<([\w.-]+:)?Envelope[\s>]", head))
