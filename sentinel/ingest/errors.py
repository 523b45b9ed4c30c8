"""Turn stream failures into one-line messages an operator can act on (never containing a password)."""

from __future__ import annotations

import av.error


class StreamEnded(Exception):
    """A live stream's demux loop ended: for a camera that is a failure, not a finish."""


class StreamStalled(Exception):
    """Packets (or nothing) arrive but no frame has been decoded for `stall_timeout`."""


def describe_error(exc: BaseException, masked_url: str) -> str:
    if isinstance(exc, StreamEnded | StreamStalled):
        return f"{masked_url}: {exc}"
    if isinstance(exc, av.error.HTTPUnauthorizedError):
        return f"{masked_url}: authentication failed (401 Unauthorized): check the user name and password"
    if isinstance(exc, av.error.HTTPForbiddenError):
        return f"{masked_url}: access forbidden (403)"
    if isinstance(exc, av.error.HTTPNotFoundError):
        return f"{masked_url}: stream not found (404): check the path"
    if isinstance(exc, av.error.ExitError | av.error.TimeoutError | TimeoutError):
        return f"{masked_url}: no answer in time (timeout)"
    if isinstance(exc, av.error.ConnectionRefusedError | ConnectionRefusedError):
        return f"{masked_url}: connection refused (is the camera or server up, and the port right?)"
    if isinstance(exc, av.error.InvalidDataError):
        return f"{masked_url}: invalid data (not a video stream, or corrupt): {_strerror(exc)}"
    if isinstance(exc, av.error.FFmpegError):
        return f"{masked_url}: {_strerror(exc)}"
    if isinstance(exc, FileNotFoundError | av.error.FileNotFoundError):
        return f"{masked_url}: no such file"
    text = str(exc) or type(exc).__name__
    return text if text.startswith(masked_url) else f"{masked_url}: {text}"


def _strerror(exc: av.error.FFmpegError) -> str:
    # FFmpegError's str() repeats the filename (the unmasked URL); keep only the reason
    return exc.strerror or type(exc).__name__
