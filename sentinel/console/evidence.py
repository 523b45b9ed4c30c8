"""Photos reported on a case from the field (evidence): checked, re-encoded, stored under `data_dir`.

A photo must be a JPEG, PNG or WebP (by its first bytes, not by what the phone calls it) that OpenCV decodes;
it is then re-encoded to JPEG, which leaves every EXIF block behind (GPS position, phone model, time), turned
upright by its EXIF orientation first (OpenCV's decoder applies it), and scaled down to MAX_SIDE. Files:
`<data_dir>/evidence/YYYY-MM-DD/<uuid>.jpg`, folders 0700 and files 0600 like snapshots (storage/private.py).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

MAX_PHOTO_BYTES = 10 * 1024 * 1024  # each photo as uploaded
MAX_PHOTOS = 6  # per request
MAX_NOTE = 1000  # characters, as a case action's note
# the upload route's body limit (console.max_body is for everything else): the photos, the note and the
# multipart framing
MAX_BODY = MAX_PHOTOS * MAX_PHOTO_BYTES + 256 * 1024
MAX_SIDE = 2560  # pixels: a phone's 12-megapixel photo is scaled to this longest side
JPEG_QUALITY = 85
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.jpg$")


class PhotoRejected(Exception):
    """A photo that is not taken: `status` (413 too large, 415 not an image, 422 otherwise) and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Photo:
    filename: str
    data: bytes


@dataclass(frozen=True)
class CleanPhoto:
    jpeg: bytes
    width: int
    height: int
    sha256: str


def _kind(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def clean_photo(index: int, photo: Photo) -> CleanPhoto:
    """The photo as stored: decoded (proof it is an image), upright, at most MAX_SIDE, re-encoded to JPEG
    without metadata; PhotoRejected saying which photo and why."""
    label = f"photo {index}" + (f" ({photo.filename})" if photo.filename else "")
    if len(photo.data) > MAX_PHOTO_BYTES:
        raise PhotoRejected(
            413, f"{label} is {_mb(len(photo.data))}: a photo may have at most {_mb(MAX_PHOTO_BYTES)}"
        )
    if not photo.data:
        raise PhotoRejected(422, f"{label} is empty")
    if _kind(photo.data) is None:
        raise PhotoRejected(415, f"{label} is not a JPEG, PNG or WebP image")
    image = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise PhotoRejected(415, f"{label} cannot be read as an image (damaged or cut short?)")
    height, width = image.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        height, width = image.shape[:2]
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise PhotoRejected(422, f"{label} could not be re-encoded")
    jpeg = bytes(buf.tobytes())
    return CleanPhoto(jpeg, int(width), int(height), hashlib.sha256(jpeg).hexdigest())


class EvidenceFiles:
    """`<data_dir>/evidence/DAY/<id>.jpg`, written atomically; only such names are ever read back."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "evidence"

    def save(self, evidence_id: str, jpeg: bytes, when: datetime) -> str:
        """Write the photo; returns its path under the root (`DAY/<id>.jpg`)."""
        from sentinel.storage.private import private_dir, write_private

        day = when.strftime("%Y-%m-%d")
        folder = private_dir(self.root / day)
        path = folder / f"{evidence_id}.jpg"
        tmp = path.with_suffix(".jpg.tmp")
        write_private(tmp, jpeg, sync=True)
        os.replace(tmp, path)
        return f"{day}/{evidence_id}.jpg"

    def remove(self, rel: str) -> None:
        path = self.file(rel)
        if path is not None:
            path.unlink(missing_ok=True)

    def file(self, rel: str) -> Path | None:
        """The stored file, or None when `rel` is not a name `save` makes or the file is gone."""
        day, _, name = rel.partition("/")
        if not _DAY.match(day) or not _NAME.match(name):
            return None
        base = self.root.resolve()
        path = (base / day / name).resolve()
        return path if path.is_relative_to(base) and path.is_file() else None
