"""A cheap RTSP client for checking the bench rig: many sessions at once, RTP over TCP, nothing decoded.

Each session (a thread) does DESCRIBE, SETUP (interleaved TCP), PLAY, then reads RTP for the rest of the
time and counts packets, frames (RTP marker bits: one per access unit) and keyframes (IDR slices, also
inside FU-A and STAP-A), and keeps the first keyframe's first bytes (to tell the mounts' start points apart).

    .venv/bin/python bench/_rtsp_probe.py --seconds 5 rtsp://127.0.0.1:8554/cam01 ...
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit


@dataclass
class Session:
    url: str
    error: str | None = None
    packets: int = 0
    frames: int = 0
    keyframes: int = 0
    bytes: int = 0
    playing_s: float | None = None  # from connect to PLAY's answer (DESCRIBE waits for the stream's caps)
    first_rtp_s: float | None = None  # from connect to the first RTP packet
    first_key_head: str | None = None  # hex of the first 32 payload bytes of the first IDR


class _Rtsp:
    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.url = url
        self.sock = socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 554), timeout=timeout
        )
        self.buf = b""
        self.cseq = 0

    def request(self, method: str, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status, *fields = head.decode(errors="replace").split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
        length = int(hdrs.get("content-length", 0))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(status.split()[1]), hdrs, body

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buf += chunk


def _is_idr(payload: bytes) -> bool:
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal == 5:
        return True
    if nal == 28 and len(payload) > 1:  # FU-A: the start fragment names the NAL type
        return bool(payload[1] & 0x80) and payload[1] & 0x1F == 5
    if nal == 24:  # STAP-A: 2-byte sizes, each followed by a NAL
        i = 1
        while i + 2 < len(payload):
            size = int.from_bytes(payload[i : i + 2], "big")
            if payload[i + 2] & 0x1F == 5:
                return True
            i += 2 + size
    return False


def watch(url: str, seconds: float, timeout: float = 15.0) -> Session:
    """One session: connect, then read for `seconds` after PLAY."""
    s = Session(url)
    t0 = time.monotonic()
    try:
        c = _Rtsp(url, timeout)
        status, hdrs, sdp = c.request("DESCRIBE", url, {"Accept": "application/sdp"})
        if status != 200:
            raise ConnectionError(f"DESCRIBE: {status}")
        base = hdrs.get("content-base", url + "/")
        control = next((ln.split(":", 1)[1].strip() for ln in sdp.decode().splitlines()
                        if ln.startswith("a=control:") and ln.strip() != "a=control:*"), "")  # fmt: skip
        track = control if control.startswith("rtsp://") else base.rstrip("/") + "/" + control
        status, hdrs, _ = c.request("SETUP", track, {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        if status != 200:
            raise ConnectionError(f"SETUP: {status}")
        session = hdrs["session"].split(";")[0]
        status, _, _ = c.request("PLAY", url, {"Session": session, "Range": "npt=0.000-"})
        if status != 200:
            raise ConnectionError(f"PLAY: {status}")
        s.playing_s = time.monotonic() - t0
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            c.sock.settimeout(max(0.05, min(timeout, until - time.monotonic())))
            try:
                c._fill()
            except TimeoutError:
                continue
            _count(c, s, t0)
        c.sock.close()
    except (OSError, ConnectionError, KeyError, ValueError) as exc:
        s.error = f"{type(exc).__name__}: {exc}"
    return s


def _count(c: _Rtsp, s: Session, t0: float) -> None:
    buf = c.buf
    i = 0
    while len(buf) - i >= 4:
        if buf[i] != 0x24:  # '$': an interleaved frame; anything else is an RTSP message (none expected)
            i += 1
            continue
        size = int.from_bytes(buf[i + 2 : i + 4], "big")
        if len(buf) - i < 4 + size:
            break
        channel, rtp = buf[i + 1], buf[i + 4 : i + 4 + size]
        i += 4 + size
        if channel != 0 or len(rtp) < 12:
            continue  # RTCP
        cc, ext = rtp[0] & 0x0F, rtp[0] & 0x10
        off = 12 + 4 * cc
        if ext and len(rtp) >= off + 4:
            off += 4 + 4 * int.from_bytes(rtp[off + 2 : off + 4], "big")
        payload = rtp[off:]
        s.packets += 1
        s.bytes += len(payload)
        if s.first_rtp_s is None:
            s.first_rtp_s = time.monotonic() - t0
        if rtp[1] & 0x80:
            s.frames += 1
        if _is_idr(payload):
            s.keyframes += 1
            if s.first_key_head is None:
                s.first_key_head = payload[:32].hex()
    c.buf = buf[i:]


def probe(urls: list[str], seconds: float) -> list[Session]:
    """Watch every URL at once, each for `seconds` after its PLAY; one result per URL, in order."""
    out: list[Session | None] = [None] * len(urls)

    def run(k: int) -> None:
        out[k] = watch(urls[k], seconds)

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return [
        r if r is not None else Session(u, error="did not finish") for u, r in zip(urls, out, strict=True)
    ]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("urls", nargs="+")
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    results = probe(a.urls, a.seconds)
    for r in results:
        print(json.dumps(asdict(r)))
    sys.exit(1 if any(r.error for r in results) else 0)
