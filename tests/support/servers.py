"""Real servers for tests: a Mosquitto MQTT broker and a GStreamer RTSP server.

Everything listens on 127.0.0.1 only, on free ports.  Every child process

* runs in its own process group (so a stop kills it together with anything it spawned),
* gets ``PR_SET_PDEATHSIG = SIGKILL`` (it dies with the pytest process, even on ``kill -9``),
* writes stderr/stdout to a log file in a private temp dir; errors quote the log's tail.

Caveat: Linux sends PDEATHSIG when the *thread* that spawned the child exits, so create
servers from the main thread (fixtures do) or from a thread that outlives them.  An
``atexit`` hook closes any server still open when the interpreter exits normally.

``RtspServer`` runs ``rtsp_server.py`` with Debian's ``/usr/bin/python3`` (which has
``gi``) plus one ``ffmpeg -re -stream_loop -1 ... -c copy -f mpegts udp://...`` feeder per
mount.  Clients need ~2-3 s after connecting to get the first keyframe (GOP 2 s), and
PyAV's ``av.open`` returns after ~3 s having buffered ~1 s of frames, so the first
~25-30 frames come out in a burst before the stream settles at native pace.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self
from urllib.parse import quote

HOST = "127.0.0.1"
MOSQUITTO = "/usr/sbin/mosquitto"
SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")

_PR_SET_PDEATHSIG = 1
# Loaded once in the parent: a preexec_fn must not load libraries (it runs between fork and exec).
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_prctl = _LIBC.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int


class ServerError(RuntimeError):
    """A test server failed to start or died; the message includes the tail of its log."""


# --------------------------------------------------------------------------- helpers


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that is free right now (TCP by default; ``socket.SOCK_DGRAM`` for UDP)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _preexec_pdeathsig(parent_pid: int) -> None:
    # Runs in the child between fork and exec: keep it to plain syscalls.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _log_tail(path: Path, max_chars: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    text = data[-max_chars:].decode("utf-8", "replace")
    return f"--- {path} (last {len(text)} chars) ---\n{text}" if text else f"--- {path} is empty ---"


def _port_accepts(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


class _Child:
    """One child process: own process group, PDEATHSIG=SIGKILL, output to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        stdin_pipe: bool = False,
        stdout_pipe: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        with open(log_path, "ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            parent = os.getpid()
            self.proc: subprocess.Popen[bytes] = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else log,
                stderr=log,
                process_group=0,
                preexec_fn=lambda: _preexec_pdeathsig(parent),
                close_fds=True,
            )
        self.pgid = self.proc.pid  # process_group=0 → pgid == pid
        self.stdout_pumped = False  # a pump thread owns (and closes) proc.stdout

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        # Only while the leader is not reaped: until then its pid (= pgid) cannot be reused.
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)

    def kill(self, grace: float = 0.0) -> None:
        """SIGTERM (if ``grace`` > 0), then SIGKILL the whole group; reap the process."""
        if self.proc.poll() is None and grace > 0:
            self.signal_group(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        self.signal_group(signal.SIGKILL)  # the whole group, should the child have forked
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        pipes = [self.proc.stdin] + ([] if self.stdout_pumped else [self.proc.stdout])
        for pipe in pipes:
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def error(self, message: str) -> ServerError:
        status = self.proc.poll()
        state = "running" if status is None else f"exit status {status}"
        return ServerError(f"{self.name}: {message} ({state})\n{_log_tail(self.log_path)}")


_live: weakref.WeakSet[_ServerBase] = weakref.WeakSet()
_live_lock = threading.Lock()


@atexit.register
def _close_all() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):
            server.close()


class _ServerBase:
    """Common lifecycle: temp dir, context manager, close() idempotent, atexit safety net."""

    _prefix = "server"

    def __init__(self) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix=f"sentinel-{self._prefix}-"))
        self._closed = False
        with _live_lock:
            _live.add(self)

    @property
    def log_dir(self) -> Path:
        return self._tmp

    def start(self) -> None:
        raise NotImplementedError

    def stop(self, *, graceful: bool = False) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop everything and delete the temp dir.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
            with _live_lock:
                _live.discard(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


# --------------------------------------------------------------------------- Mosquitto


def mosquitto_password_file(path: Path, users: Mapping[str, str]) -> Path:
    """A mosquitto password_file (0600) for `users`, hashed by mosquitto_passwd."""
    path.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
    path.chmod(0o600)
    subprocess.run(["mosquitto_passwd", "-U", str(path)], check=True, capture_output=True, timeout=30)
    return path


class Mosquitto(_ServerBase):
    """A private Mosquitto broker on 127.0.0.1:<free port>, anonymous, no persistence.

    Started on construction.  ``stop()`` kills it (clients see the connection drop),
    ``start()`` brings it back on the same port.  ``log_text()`` returns its log.
    """

    _prefix = "mosquitto"

    def __init__(self, *, port: int | None = None, start_timeout: float = 10.0) -> None:
        super().__init__()
        self._start_timeout = start_timeout
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self.conf_path = self._tmp / "mosquitto.conf"
        self.log_path = self._tmp / "mosquitto.log"
        self._child: _Child | None = None
        try:
            self.start()
        except BaseException:
            self.close()
            raise

    @property
    def host(self) -> str:
        return HOST

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.alive

    def _write_conf(self) -> None:
        self.conf_path.write_text(
            "\n".join(
                [
                    f"listener {self.port} {HOST}",
                    "allow_anonymous true",
                    "persistence false",
                    # As root, mosquitto would switch to user "mosquitto": that clears
                    # PDEATHSIG (it would outlive a killed pytest) and it could not write
                    # into our private temp dir.  Stay whoever we are.
                    f"user {pwd.getpwuid(os.getuid()).pw_name}",
                    # stderr is redirected to the log file (together with our start markers).
                    "log_dest stderr",
                    "log_type all",
                    "connection_messages true",
                    "log_timestamp true",
                    "",
                ]
            )
        )

    def start(self) -> None:
        """Start the broker (on the same port as before) and wait until it accepts connections."""
        if self._closed:
            raise ServerError("Mosquitto: start() after close()")
        if self.running:
            return
        # The port was only probed free; if someone grabbed it before the first start, pick another.
        attempts = 1 if (self._fixed_port or self._child is not None) else 3
        for attempt in range(attempts):
            self._write_conf()
            child = _Child("mosquitto", [MOSQUITTO, "-c", str(self.conf_path)], self.log_path)
            self._child = child
            deadline = time.monotonic() + self._start_timeout
            while time.monotonic() < deadline:
                if not child.alive:
                    break
                if _port_accepts(self.port, timeout=0.2):
                    return
                time.sleep(0.02)
            err = child.error(f"not accepting connections on {HOST}:{self.port}")
            child.kill()
            in_use = "Address already in use" in _log_tail(self.log_path)
            if in_use and attempt + 1 < attempts:
                self.port = free_port()
                continue
            raise err

    def stop(self, *, graceful: bool = False) -> None:
        """Kill the broker (SIGKILL, like a crash; ``graceful=True``: SIGTERM first).  Idempotent."""
        if self._child is not None:
            self._child.kill(grace=3.0 if graceful else 0.0)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __repr__(self) -> str:
        return f"Mosquitto(url={self.url!r}, running={self.running})"


# --------------------------------------------------------------------------- RTSP


def _mount_path(mount: str) -> str:
    return "/" + mount.strip("/")


class RtspServer(_ServerBase):
    """GstRtspServer on 127.0.0.1:<free port> serving looped H.264 files, one per mount.

    ``RtspServer({"cam1": path, "cam2": other})``.  Started on construction; ``url("cam1")``
    is ``rtsp://127.0.0.1:PORT/cam1``.  ``stop()`` kills server and feeders; ``start()``
    restarts them on the SAME port; ``pause()``/``resume()`` SIGSTOP/SIGCONT them (the
    stream stalls, TCP connections stay open).  ``user``/``password`` require RTSP auth
    (``auth="digest"``, like most IP cameras, or ``"basic"``); without or with wrong
    credentials clients get 401.  ``url(mount, with_credentials=True)`` embeds them.

    The files must be H.264 (see ``footage.vtest_h264``); they are streamed with
    ``ffmpeg -re -c copy`` so they play at native rate and loop forever.
    """

    _prefix = "rtsp"

    def __init__(
        self,
        mounts: Mapping[str, Path | str],
        *,
        user: str | None = None,
        password: str | None = None,
        auth: Literal["digest", "basic"] = "digest",
        port: int = 0,
        start_timeout: float = 15.0,
    ) -> None:
        super().__init__()
        if not mounts:
            raise ValueError("RtspServer needs at least one mount")
        if (user is None) != (password is None):
            raise ValueError("user and password go together")
        self.user = user
        self.password = password
        self.auth = auth
        self._start_timeout = start_timeout
        self.mounts: dict[str, Path] = {}
        for name, file in mounts.items():
            path = Path(file)
            if not path.is_file():
                raise FileNotFoundError(f"RtspServer mount {name!r}: no such file {path}")
            self.mounts[_mount_path(name)] = path
        self.port: int = port  # 0 until the first start; then fixed for restarts
        self._udp_ports: dict[str, int] = {}
        self._server: _Child | None = None
        self._feeders: list[_Child] = []
        self._paused = False
        self.server_log = self._tmp / "rtsp_server.log"
        self.ready_seconds: float | None = None  # time from spawn to READY, last start
        try:
            self.start()
        except BaseException:
            self.close()
            raise

    def url(self, mount: str = "cam1", *, with_credentials: bool = False) -> str:
        cred = ""
        if with_credentials and self.user is not None:
            cred = f"{quote(self.user, safe='')}:{quote(self.password or '', safe='')}@"
        return f"rtsp://{cred}{HOST}:{self.port}{_mount_path(mount)}"

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.alive

    @property
    def paused(self) -> bool:
        return self._paused

    def _children(self) -> list[_Child]:
        return [c for c in [self._server, *self._feeders] if c is not None]

    def feeder_log(self, mount: str) -> Path:
        return self._tmp / f"feeder{_mount_path(mount).replace('/', '_')}.log"

    def start(self) -> None:
        """Start feeders and server (same TCP port as the previous start) and wait for READY."""
        if self._closed:
            raise ServerError("RtspServer: start() after close()")
        if self.running:
            return
        self.stop()  # reap leftovers (e.g. feeders whose server died)
        for mount in self.mounts:
            self._udp_ports.setdefault(mount, free_port(socket.SOCK_DGRAM))
        argv = [SYSTEM_PYTHON, "-u", str(RTSP_SERVER_SCRIPT), "--port", str(self.port)]
        for mount, udp in self._udp_ports.items():
            argv += ["--mount", f"{mount}={udp}"]
        if self.user is not None:
            argv += ["--user", self.user, "--password", self.password or "", "--auth", self.auth]
        t0 = time.monotonic()
        # Port 0 on the first start lets the server bind atomically; restarts reuse the port.
        server = _Child("rtsp_server", argv, self.server_log, stdin_pipe=True, stdout_pipe=True)
        self._server = server
        self._paused = False
        try:
            self.port = self._wait_ready(server, t0 + self._start_timeout)
        except BaseException:
            server.kill()
            raise
        self.ready_seconds = time.monotonic() - t0
        for mount, file in self.mounts.items():
            self._feeders.append(
                _Child(f"feeder {mount}", self._feeder_argv(mount, file), self.feeder_log(mount))
            )
        time.sleep(0.2)
        for feeder in self._feeders:
            if not feeder.alive:
                err = feeder.error("feeder exited right after start")
                self.stop()
                raise err

    def _feeder_argv(self, mount: str, file: Path) -> list[str]:
        # -re paces at native rate (after a pause it catches up in a burst); -c copy costs ~no CPU.
        ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
        out = f"udp://{HOST}:{self._udp_ports[mount]}?pkt_size=1316"
        input_args = ["-re", "-stream_loop", "-1", "-i", str(file)]
        output_args = ["-map", "0:v:0", "-c", "copy", "-f", "mpegts", out]
        return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning", *input_args, *output_args]

    def _wait_ready(self, server: _Child, deadline: float) -> int:
        stdout = server.proc.stdout
        assert stdout is not None
        fd = stdout.fileno()
        buf = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise server.error("no READY line before timeout")
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if not ready:
                if not server.alive:
                    raise server.error("exited before READY")
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                server.proc.wait(5)
                raise server.error("exited before READY")
            buf += chunk
            for line in buf.splitlines():
                parts = line.decode(errors="replace").split()
                if len(parts) == 2 and parts[0] == "READY" and parts[1].isdigit():
                    # Forward any later stdout to the log so the pipe never fills up.
                    server.stdout_pumped = True
                    self._drain_stdout(stdout, server.log_path)
                    return int(parts[1])

    @staticmethod
    def _drain_stdout(stdout: IO[bytes], log_path: Path) -> None:
        def pump() -> None:
            with contextlib.suppress(OSError, ValueError), stdout, open(log_path, "ab") as log:
                for line in stdout:  # ends at EOF, i.e. when the server exits
                    log.write(line)
                    log.flush()

        threading.Thread(target=pump, name="rtsp-server-stdout", daemon=True).start()

    def stop(self, *, graceful: bool = False) -> None:
        """Kill server and feeders (SIGKILL; ``graceful=True``: SIGTERM first).  Idempotent.

        Connected clients see their TCP connection close; new ones get "connection refused".
        """
        for child in self._children():
            child.kill(grace=3.0 if graceful else 0.0)
        self._server = None
        self._feeders = []
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP feeders and server: the stream stalls, TCP connections stay open.

        While paused the server answers nothing (a new client's TCP connect succeeds via
        the listen backlog, its RTSP requests hang), like a wedged camera.
        """
        if not self.running:
            raise ServerError("RtspServer.pause(): not running")
        for child in [*self._feeders, self._server]:
            if child is not None:
                child.signal_group(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT server, then feeders.

        ``ffmpeg -re`` catches up after a stop: connected clients get the frames of the
        paused interval in a burst, then native pace again.
        """
        for child in [self._server, *self._feeders]:
            if child is not None:
                child.signal_group(signal.SIGCONT)
        self._paused = False

    def check(self) -> None:
        """Raise :class:`ServerError` (with logs) if the server or a feeder has died."""
        for child in self._children():
            if not child.alive:
                raise child.error("died")

    def logs(self) -> str:
        """Tails of the server and feeder logs, for assertion messages."""
        return "\n".join(_log_tail(p) for p in [self.server_log, *map(self.feeder_log, self.mounts)])

    def __repr__(self) -> str:
        return f"RtspServer(port={self.port}, mounts={list(self.mounts)}, running={self.running})"
