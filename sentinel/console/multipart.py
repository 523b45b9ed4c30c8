"""A small `multipart/form-data` reader (RFC 7578) for the evidence upload, over a body already read and
bounded by `BodyLimit`; the console needs no multipart package for one route.

Only what browsers send: parts delimited by `--boundary`, each with a `Content-Disposition: form-data;
name=...` header and, for a file, `filename=...`. Anything else is a `MultipartError` with a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

_BOUNDARY = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{1,70}$")
MAX_PARTS = 32
MAX_HEADER = 4096


class MultipartError(ValueError):
    pass


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None  # None: a plain field
    content_type: str | None
    data: bytes

    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise MultipartError(f"field {self.name!r} is not UTF-8 text") from None


def boundary_of(content_type: str | None) -> str:
    """The boundary of a `multipart/form-data` Content-Type; MultipartError when it is not one."""
    message = Message()
    message["content-type"] = content_type or ""
    if message.get_content_type() != "multipart/form-data":
        raise MultipartError("send the photos as multipart/form-data (a form with <input type=file>)")
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not _BOUNDARY.match(boundary):
        raise MultipartError("the multipart/form-data Content-Type has no valid boundary")
    return boundary


def _headers(raw: bytes) -> Message:
    if len(raw) > MAX_HEADER:
        raise MultipartError("a part's headers are too long")
    message = Message()
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep:
            raise MultipartError("a part has a malformed header line")
        message[key.strip()] = value.strip()
    return message


def parse(body: bytes, content_type: str | None) -> list[Part]:
    delimiter = b"--" + boundary_of(content_type).encode("ascii")
    if not body.startswith(delimiter):
        body = body[body.find(b"\r\n" + delimiter) + 2 :] if b"\r\n" + delimiter in body else b""
    if not body.startswith(delimiter):
        raise MultipartError("the body is not multipart/form-data with the boundary it declares")
    chunks = body[len(delimiter) :].split(b"\r\n" + delimiter)
    parts: list[Part] = []
    for chunk in chunks:
        if chunk.startswith(b"--"):  # the close delimiter
            return parts
        if len(parts) >= MAX_PARTS:
            raise MultipartError(f"more than {MAX_PARTS} form fields")
        if not chunk.startswith(b"\r\n"):
            raise MultipartError("a part does not start on a new line")
        raw, sep, data = chunk[2:].partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("a part has no blank line after its headers")
        headers = _headers(raw)
        if headers.get_content_disposition() != "form-data" or not headers.get_param(
            "name", header="content-disposition"
        ):
            raise MultipartError("a part is not a named form-data field")
        name = str(headers.get_param("name", header="content-disposition"))
        filename = headers.get_filename()
        parts.append(Part(name, filename, headers.get("content-type"), data))
    raise MultipartError("the body ends before the closing boundary (cut short?)")
