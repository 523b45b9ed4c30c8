"""A real ONVIF device for tests: the ``ipycam`` simulator's SOAP service, bound to 127.0.0.1.

``OnvifSim(rtsp_port=..., user=..., password=...)`` runs ipycam's own HTTP handler
(``ipycam.http.IPCameraHTTPHandler``) and ONVIF service (``ipycam.onvif.ONVIFService``) in a
child process (this file's ``_serve()``), on 127.0.0.1:<free port>.  Its
GetStreamUri answers ``rtsp://127.0.0.1:<rtsp_port>/<main_mount|sub_mount>``: point it at
our real :class:`~tests.support.servers.RtspServer`.  The child stops by itself after
``lifetime`` seconds, when its parent dies (PDEATHSIG) or on ``close()``.

What the fixture changes in ipycam, and why:

* ``IPCamera.start()`` is not used: it binds WS-Discovery on 0.0.0.0:3702 (fixed port, every
  interface, multicast), pushes to go2rtc or starts its own RTSP server on a fixed port.
  Instead the camera object is built (unstarted) and only its HTTP/ONVIF server runs, on
  127.0.0.1 and a free port; ``config.local_ip`` is 127.0.0.1 so every XAddr and URI
  points there.  ``discovery_port`` is a unicast WS-Discovery responder on 127.0.0.1
  built from ipycam's ``WSDiscoveryServer`` logic (its ProbeMatch template), without
  the multicast join and without Hello/Bye announcements.
* ipycam demands WS-Security on *every* request, GetSystemDateAndTime included; ONVIF Core
  says that call is pre-auth (clients need the device time to build the digest).  By
  default the simulator answers it without a token, like real cameras
  (``strict_time_auth=True`` keeps ipycam's behaviour).
* ``clock_offset`` (seconds) makes the device clock run off: both the time it reports and
  the one it checks WS-Security ``Created`` against (ipycam allows 300 s of skew).
* ``no_profiles=True`` answers GetProfiles with no profile at all.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
from pathlib import Path

from tests.support.servers import HOST, ServerError, _Child, _ServerBase

REPO_ROOT = Path(__file__).resolve().parents[2]


class OnvifSim(_ServerBase):
    _prefix = "onvif"

    def __init__(
        self,
        *,
        rtsp_port: int,
        user: str = "admin",
        password: str = "sim-Pa55",
        main_mount: str = "main",
        sub_mount: str = "sub",
        main_size: tuple[int, int] = (1280, 720),
        sub_size: tuple[int, int] = (640, 360),
        fps: int = 25,
        name: str = "Gate East",
        clock_offset: float = 0.0,
        strict_time_auth: bool = False,
        no_profiles: bool = False,
        lifetime: float = 600.0,
        start_timeout: float = 20.0,
    ) -> None:
        super().__init__()
        self.user = user
        self.password = password
        self.log_path = self._tmp / "onvif_sim.log"
        # run this file's _serve() with the repository on sys.path, whatever the current directory
        boot = f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); from tests.support.onvif_sim import _serve; sys.exit(_serve())"
        argv = [
            sys.executable, "-u", "-c", boot,
            "--rtsp-port", str(rtsp_port), "--user", user,
            "--main", main_mount, "--sub", sub_mount,
            "--main-size", f"{main_size[0]}x{main_size[1]}", "--sub-size", f"{sub_size[0]}x{sub_size[1]}",
            "--fps", str(fps), "--name", name, "--clock-offset", str(clock_offset),
            "--lifetime", str(lifetime),
        ]  # fmt: skip
        if strict_time_auth:
            argv.append("--strict-time-auth")
        if no_profiles:
            argv.append("--no-profiles")
        child = _Child("onvif_sim", argv, self.log_path, stdin_pipe=True, stdout_pipe=True)
        self._child: _Child | None = child
        assert child.proc.stdin is not None
        # the password goes through stdin: not on the command line (ps), not in our environment
        child.proc.stdin.write(password.encode() + b"\n")
        child.proc.stdin.close()
        try:
            self.port, self.discovery_port = self._wait_ready(time.monotonic() + start_timeout)
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, deadline: float) -> tuple[int, int]:
        child = self._child
        assert child is not None and child.proc.stdout is not None
        fd = child.proc.stdout.fileno()
        buf = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                if not child.alive:
                    raise child.error("exited before READY")
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                child.proc.wait(5)
                raise child.error("exited before READY")
            buf += chunk
            for line in buf.decode(errors="replace").splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] == "READY":
                    return int(parts[1]), int(parts[2])
        raise child.error("no READY line before timeout")

    @property
    def host(self) -> str:
        return HOST

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.alive

    def start(self) -> None:
        raise ServerError("OnvifSim cannot be restarted; make a new one")

    def stop(self, *, graceful: bool = False) -> None:
        if self._child is not None:
            self._child.kill(grace=2.0 if graceful else 0.0)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __repr__(self) -> str:
        return f"OnvifSim(address={self.address!r}, running={self.running})"


# --------------------------------------------------------------------------- child process


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


def _serve(argv: list[str] | None = None) -> int:  # pragma: no cover - runs in the child
    import socket
    import threading
    from datetime import UTC, datetime

    import ipycam.onvif as ipy_onvif
    import numpy as np
    from ipycam import CameraConfig as IpyConfig
    from ipycam import IPCamera
    from ipycam.camera import ReusableThreadingTCPServer
    from ipycam.discovery import WSDiscoveryServer
    from ipycam.http import IPCameraHTTPHandler

    p = argparse.ArgumentParser()
    p.add_argument("--rtsp-port", type=int, required=True)
    p.add_argument("--user", default="admin")
    p.add_argument("--main", default="main")
    p.add_argument("--sub", default="sub")
    p.add_argument("--main-size", type=_size, default=(1280, 720))
    p.add_argument("--sub-size", type=_size, default=(640, 360))
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--name", default="Gate East")
    p.add_argument("--clock-offset", type=float, default=0.0)
    p.add_argument("--lifetime", type=float, default=600.0)
    p.add_argument("--strict-time-auth", action="store_true")
    p.add_argument("--no-profiles", action="store_true")
    args = p.parse_args(argv)

    offset = args.clock_offset
    if offset:
        service_cls = ipy_onvif.ONVIFService

        def get_system_date_time(self: ipy_onvif.ONVIFService) -> str:
            now = time.gmtime(time.time() + offset)
            body = self._render(
                "get_system_date_time",
                hour=now.tm_hour, minute=now.tm_min, second=now.tm_sec,
                year=now.tm_year, month=now.tm_mon, day=now.tm_mday,
            )  # fmt: skip
            return self._wrap_envelope(body)

        def created_within_skew(created: str, max_skew: int = ipy_onvif.WSU_MAX_SKEW_SECONDS) -> bool:
            ts = created.strip().replace("Z", "+00:00")
            dt = datetime.fromisoformat(ts)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            return abs(time.time() + offset - dt.timestamp()) <= max_skew

        service_cls.get_system_date_time = get_system_date_time
        ipy_onvif._created_within_skew = created_within_skew

    if not args.strict_time_auth:
        verify = ipy_onvif.ONVIFService.verify_usernametoken

        def verify_preauth(self: ipy_onvif.ONVIFService, body: str) -> bool:
            if "GetSystemDateAndTime" in body and "Security" not in body:
                return True  # ONVIF Core: GetSystemDateAndTime is PRE_AUTH
            return bool(verify(self, body))

        ipy_onvif.ONVIFService.verify_usernametoken = verify_preauth

    if args.no_profiles:

        def no_profiles(self: ipy_onvif.ONVIFService) -> str:
            return self._wrap_envelope("<trt:GetProfilesResponse></trt:GetProfilesResponse>")

        ipy_onvif.ONVIFService.get_profiles = no_profiles

    server = ReusableThreadingTCPServer((HOST, 0), IPCameraHTTPHandler)
    http_port = int(server.server_address[1])
    config = IpyConfig(
        name=args.name,
        manufacturer="IPyCam",
        model="VirtualCam-1",
        local_ip=HOST,
        onvif_port=http_port,
        rtsp_port=args.rtsp_port,
        username=args.user,
        password=sys.stdin.readline().rstrip("\n"),
        main_width=args.main_size[0],
        main_height=args.main_size[1],
        main_fps=args.fps,
        main_stream_name=args.main,
        sub_width=args.sub_size[0],
        sub_height=args.sub_size[1],
        sub_fps=args.fps,
        sub_stream_name=args.sub,
    )
    camera = IPCamera(config)  # not started: no go2rtc push, no RTSP server, no multicast
    with camera._last_frame_lock:  # a grey picture for the snapshot URI
        camera._last_frame = np.full((args.sub_size[1], args.sub_size[0], 3), 128, np.uint8)
    IPCameraHTTPHandler.camera = camera
    threading.Thread(target=server.serve_forever, daemon=True).start()

    class UnicastDiscovery(WSDiscoveryServer):
        """ipycam's responder, on 127.0.0.1:<free port>: no multicast group, no Hello/Bye."""

        def __init__(self, onvif: ipy_onvif.ONVIFService) -> None:
            threading.Thread.__init__(self, daemon=True)
            self.onvif = onvif
            self.running = True
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((HOST, 0))
            self.sock.settimeout(1.0)

        def _send_announcement(self, action: str) -> None:
            return None

    discovery = UnicastDiscovery(camera.onvif)
    discovery.start()
    udp_port = discovery.sock.getsockname()[1]

    print(f"READY {http_port} {udp_port}", flush=True)
    # Stop by ourselves after `lifetime` (PDEATHSIG covers a dead parent).
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        time.sleep(0.5)
    discovery.stop()
    server.shutdown()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_serve())
