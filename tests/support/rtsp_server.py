#!/usr/bin/python3
"""Tiny RTSP server for tests, built on GstRtspServer.

Run it with Debian's ``/usr/bin/python3`` (it needs ``gi``; the project venv lacks it)::

    rtsp_server.py --port 0 --mount /cam1=5004 --mount /cam2=5006 [--user U --password P [--auth basic]]

Each mount serves the H.264 carried in an MPEG-TS stream that a feeder sends to
``udp://127.0.0.1:UDPPORT`` (``ffmpeg -re -stream_loop -1 -i FILE -c copy -f mpegts ...``),
like a live camera: what a client sees is whatever the feeder sends right now.
Factories are shared: all clients of a mount share one pipeline, which is built when the
first client asks for it and torn down after the last one leaves.  The server binds
127.0.0.1 only; ``--port 0`` picks a free port.  When listening it prints
``READY <port>`` on stdout.  It exits when stdin is closed (the parent died or closed the
pipe), on SIGTERM or on SIGINT.

Two deviations from a plain ``factory.set_launch(LAUNCH)``, both found the hard way:

* The RTP sinks do not sync to the clock (the feeder already paces the stream).  With
  sync on -- GstRtspServer's "rate control", which it re-enables on every PLAY -- the
  sinks sync on tsdemux's PTS-derived timestamps, which run ahead of arrival by however
  long the pipeline sat blocked between DESCRIBE and PLAY.  The udpsrc thread then waits,
  a permanent backlog builds up in the kernel socket buffer, and big keyframes overflow
  it: lost TS packets, corrupt frames.
* When tsdemux loses a PAT/PMT (packet loss, e.g. after ``pause()``/``resume()`` when the
  feeder catches up in a burst) it decides the program changed and replaces its source
  pad.  A static launch line leaves the new pad unlinked and the media dies with
  "not-linked" while clients stay connected and receive nothing.  Here the new pad is
  relinked to h264parse and EOS from the old one is dropped, so the stream carries on.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

LAUNCH = (
    "( udpsrc port={udp_port} address=127.0.0.1 buffer-size={buffer_size} caps=video/mpegts "
    "! tsdemux name=demux ignore-pcr=true "
    "! h264parse name=parse config-interval=-1 "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
ROLE = "user"


def log(message: str) -> None:
    print(f"rtsp_server: {message}", file=sys.stderr, flush=True)


def _parse_mount(spec: str) -> tuple[str, int]:
    path, sep, port = spec.rpartition("=")
    if not sep or not path or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--mount wants /PATH=UDPPORT, got {spec!r}")
    if not path.startswith("/"):
        path = "/" + path
    return path, int(port)


def _force_no_sync(sink: Gst.Element, _pspec: object = None) -> None:
    if sink.get_property("sync"):
        sink.set_property("sync", False)


def _on_element_added(_bin: Gst.Bin, _sub_bin: Gst.Bin, element: Gst.Element) -> None:
    factory = element.get_factory()
    if factory is not None and factory.get_name() in ("appsink", "multiudpsink"):
        _force_no_sync(element)
        element.connect("notify::sync", _force_no_sync)  # rtsp-client turns it back on at PLAY


def _on_demux_pad_added(_demux: Gst.Element, pad: Gst.Pad, parse: Gst.Element) -> None:
    if not pad.get_name().startswith("video"):
        return
    sink = parse.get_static_pad("sink")
    peer = sink.get_peer()
    if peer == pad:  # gst_parse's delayed link got there first (the first pad)
        return
    if peer is not None:
        peer.unlink(sink)
        log(f"tsdemux replaced its pad ({peer.get_name()} -> {pad.get_name()}): relinking")
    result = pad.link(sink)
    if result != Gst.PadLinkReturn.OK:
        log(f"cannot link {pad.get_name()} to h264parse: {result.value_nick}")


def _drop_eos(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
    # A live, looping source never ends; EOS only comes from a tsdemux pad being replaced.
    event = info.get_event()
    if event is not None and event.type == Gst.EventType.EOS:
        return Gst.PadProbeReturn.DROP
    return Gst.PadProbeReturn.OK


class FeederMediaFactory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, udp_port: int, buffer_size: int) -> None:
        super().__init__()
        self.launch_line = LAUNCH.format(udp_port=udp_port, buffer_size=buffer_size)
        self.set_shared(True)
        self.connect("media-configure", self._on_media_configure)

    def do_create_element(self, _url: object) -> Gst.Element:
        element = Gst.parse_launch_full(self.launch_line, None, Gst.ParseFlags.PLACE_IN_BIN)
        demux = element.get_by_name("demux")
        parse = element.get_by_name("parse")
        demux.connect("pad-added", _on_demux_pad_added, parse)
        parse.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, _drop_eos)
        return element

    @staticmethod
    def _on_media_configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        pipeline = media.get_element().get_parent()
        pipeline.connect("deep-element-added", _on_element_added)


def _make_auth(user: str, password: str, method: str) -> GstRtspServer.RTSPAuth:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
    # One method at a time: PyGObject maps GstRTSPAuthMethod as an enum, so BASIC|DIGEST (3)
    # cannot be passed to set_supported_methods().
    if method == "digest":
        auth.add_digest(user, password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    else:
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    return auth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0 = any free)")
    parser.add_argument("--mount", type=_parse_mount, action="append", required=True, metavar="/PATH=UDPPORT")
    parser.add_argument(
        "--udp-buffer-size",
        type=int,
        default=int(os.environ.get("RTSP_SERVER_UDP_BUFFER", 4 << 20)),
        help="SO_RCVBUF for the feeder sockets (capped by net.core.rmem_max; 0 = kernel default)",
    )
    parser.add_argument("--user", help="require this user on all mounts (else 401)")
    parser.add_argument("--password", help="password for --user")
    parser.add_argument(
        "--auth", choices=["basic", "digest"], default="digest", help="auth scheme for --user"
    )
    args = parser.parse_args(argv)
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    # one thread per client (the default is 1 for all): a DESCRIBE waits for its mount's pipeline to
    # preroll (up to a GOP), and with many cameras connecting at once one thread served them one by one,
    # so most clients timed out before their turn
    server.get_thread_pool().set_max_threads(max(8, 2 * len(args.mount) + 4))

    permissions = None
    if args.user is not None:
        server.set_auth(_make_auth(args.user, args.password, args.auth))
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)

    mounts = server.get_mount_points()
    for path, udp_port in args.mount:
        factory = FeederMediaFactory(udp_port, args.udp_buffer_size)
        if permissions is not None:
            factory.set_permissions(permissions)
        mounts.add_factory(path, factory)

    try:
        source = server.create_source(None)  # binds the listening socket
    except GLib.Error as exc:
        log(f"cannot listen on 127.0.0.1:{args.port}: {exc.message}")
        return 2
    source.attach(None)

    loop = GLib.MainLoop()

    def quit_loop(*_: object) -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    def on_stdin(fd: int, condition: GLib.IOCondition) -> bool:
        if condition & (GLib.IOCondition.HUP | GLib.IOCondition.ERR | GLib.IOCondition.NVAL):
            return quit_loop()
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:  # EOF: the parent closed the pipe or died
            return quit_loop()
        return GLib.SOURCE_CONTINUE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, quit_loop)
    GLib.unix_fd_add_full(
        GLib.PRIORITY_DEFAULT,
        sys.stdin.fileno(),
        GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
        on_stdin,
    )

    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
