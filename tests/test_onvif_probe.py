"""`sentinel camera probe` against the real ipycam ONVIF simulator serving our real RTSP server.

The entry it prints must be one `sentinel run` accepts and plays: it is validated as a CameraConfig and read
with Sentinel's own StreamReader.  Every failure is one line on stderr, exit 1, no traceback, no password.
"""

from __future__ import annotations

import http.server
import re
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from ruamel.yaml import YAML

from sentinel.cli.main import main
from sentinel.config.models import CameraConfig
from sentinel.ingest.backoff import Backoff
from sentinel.ingest.onvif import ProbeError, probe
from sentinel.ingest.reader import Frame, StreamReader
from sentinel.ingest.url_patterns import with_credentials
from tests.support.footage import vtest_h264
from tests.support.onvif_sim import OnvifSim
from tests.support.servers import HOST, RtspServer, free_port

pytestmark = pytest.mark.slow

USER = "admin"
PASSWORD = "Sim-Pa55word"  # the camera's password: ONVIF and RTSP
WRONG = "n0t#the:Pa55@all"  # special characters: must not leak quoted or unquoted either


@pytest.fixture(scope="module")
def rtsp() -> Iterator[RtspServer]:
    mounts = {"main": vtest_h264(1280, 720), "sub": vtest_h264(640, 360)}
    with RtspServer(mounts, user=USER, password=PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def sim(rtsp: RtspServer) -> Iterator[OnvifSim]:
    with OnvifSim(rtsp_port=rtsp.port, user=USER, password=PASSWORD, name="Gate East") as s:
        yield s


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_PW", PASSWORD)
    monkeypatch.setenv("WRONG_PW", WRONG)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["camera", "probe", *argv])
    out = capsys.readouterr()
    for secret in (PASSWORD, WRONG, quote(WRONG, safe="")):
        assert secret not in out.out and secret not in out.err, "a password was printed"
    assert "Traceback" not in out.err
    return code, out.out, out.err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sentinel camera: "), err
    return lines[0]


def read_frames(entry: dict[str, object], want: int = 3, timeout: float = 30.0) -> list[Frame]:
    camera = CameraConfig.model_validate(entry)
    frames: list[Frame] = []
    done = threading.Event()

    def on_frame(frame: Frame) -> None:
        frames.append(frame)
        if len(frames) >= want:
            done.set()

    reader = StreamReader(camera, on_frame, lambda s: None, backoff=Backoff(0.2, 1.0))
    reader.start()
    try:
        assert done.wait(timeout), f"only {len(frames)} frames; status {reader.status()}"
    finally:
        reader.stop()
        reader.join(10)
    return frames


def test_probe_prints_an_entry_whose_sub_stream_sentinel_reads(
    sim: OnvifSim, rtsp: RtspServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, sim.address, "--user", USER, "--password-env", "CAM_PW")
    assert code == 0, err
    assert "IPyCam VirtualCam-1" in out
    assert "Profile_Main (MainStream) H264 1280x720 25 fps" in out
    assert f"# main stream: rtsp://admin:${{CAM_PW}}@127.0.0.1:{rtsp.port}/main" in out
    assert f"# snapshot:    http://127.0.0.1:{sim.port}/snapshot.jpg" in out
    # what the stream really is: measured, not what the profile claims
    assert "# sub stream plays: H264 640x360, 25 fps, keyframe every 2.0 s, GOP 50 frames" in out
    entries = YAML(typ="safe").load(out)
    assert entries == [
        {
            "id": "gate-east",
            "name": "Gate East",
            "source": f"rtsp://admin:${{CAM_PW}}@127.0.0.1:{rtsp.port}/sub",
            "decode": "keyframes",  # GOP 2 s: one look per GOP
            "analyze_fps": 0.5,
        }
    ]
    frames = read_frames(entries[0])
    assert all(f.image.shape == (360, 640, 3) for f in frames)
    assert all(f.keyframe for f in frames)


def test_name_and_id_options(sim: OnvifSim, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, sim.address, "--user", USER, "--password-env", "CAM_PW", "--name", "东门 East", "--id", "east-1",
        "--no-stream",
    )  # fmt: skip
    assert code == 0, err
    (entry,) = YAML(typ="safe").load(out)
    assert (entry["id"], entry["name"], entry["decode"]) == ("east-1", "东门 East", "auto")


def test_wrong_password_is_one_clear_line(sim: OnvifSim, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, sim.address, "--user", USER, "--password-env", "WRONG_PW")
    assert code == 1 and out == ""
    assert "wrong user name or password (NotAuthorized)" in one_line_error(err)


def test_wrong_user_is_refused_too(sim: OnvifSim, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, sim.address, "--user", "operator", "--password-env", "CAM_PW")
    assert code == 1 and "NotAuthorized" in one_line_error(err)


def test_unset_password_variable(sim: OnvifSim, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, sim.address, "--user", USER, "--password-env", "NOT_SET_ANYWHERE_PW")
    assert code == 2 and "NOT_SET_ANYWHERE_PW is not set" in one_line_error(err)


def test_clock_skew_is_compensated_and_reported(rtsp: RtspServer, capsys: pytest.CaptureFixture[str]) -> None:
    with OnvifSim(rtsp_port=rtsp.port, user=USER, password=PASSWORD, clock_offset=3600) as skewed:
        code, out, err = run(
            capsys, skewed.address, "--user", USER, "--password-env", "CAM_PW", "--no-stream"
        )
        assert code == 0, err
        # the skew is measured over a request round trip: 3600 s, give or take the second it straddles
        assert re.search(
            r"the camera clock is 3(600|601|599) s ahead of this machine's \(compensated for this probe\)",
            err,
        )
        assert re.search(r"# clock: the camera clock is 3(600|601|599) s ahead", out)

        code, out, err = run(
            capsys,
            skewed.address,
            "--user",
            USER,
            "--password-env",
            "CAM_PW",
            "--no-stream",
            "--no-clock-fix",
        )
    assert code == 1 and out == ""
    line = one_line_error(err)
    assert re.search(r"3(600|601|599) s ahead", line) and "breaks the WS-Security digest" in line


def test_skew_within_what_the_camera_accepts_is_still_reported(
    rtsp: RtspServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with OnvifSim(rtsp_port=rtsp.port, user=USER, password=PASSWORD, clock_offset=-95) as skewed:
        code, out, err = run(
            capsys,
            skewed.address,
            "--user",
            USER,
            "--password-env",
            "CAM_PW",
            "--no-stream",
            "--no-clock-fix",
        )
    assert code == 0, err
    # measured over a round trip: 95 s, give or take the second it straddles
    assert re.search(
        r"warning: the camera clock is 9[456] s behind this machine's \(the camera accepted it\)", err
    )


def test_small_skew_needs_no_compensation(rtsp: RtspServer) -> None:
    with OnvifSim(rtsp_port=rtsp.port, user=USER, password=PASSWORD, clock_offset=-3) as sim:
        result = probe(HOST, sim.port, USER, PASSWORD)
    assert result.skew_seconds is not None and -5 < result.skew_seconds < -1
    assert not result.skew_compensated


def test_device_that_wants_a_token_even_for_its_clock(rtsp: RtspServer) -> None:
    # ipycam as shipped authenticates GetSystemDateAndTime too: the probe retries it with the token
    with OnvifSim(rtsp_port=rtsp.port, user=USER, password=PASSWORD, strict_time_auth=True) as sim:
        result = probe(HOST, sim.port, USER, PASSWORD)
        assert result.sub_uri == f"rtsp://127.0.0.1:{rtsp.port}/sub"
        with pytest.raises(ProbeError) as info:
            probe(HOST, sim.port, USER, WRONG)
    assert info.value.kind == "unauthorized"


def test_no_media_profile(rtsp: RtspServer, capsys: pytest.CaptureFixture[str]) -> None:
    with OnvifSim(rtsp_port=rtsp.port, user=USER, password=PASSWORD, no_profiles=True) as sim:
        code, _, err = run(capsys, sim.address, "--user", USER, "--password-env", "CAM_PW")
    assert code == 1 and "no media profile" in one_line_error(err)


def test_stream_that_does_not_open(capsys: pytest.CaptureFixture[str]) -> None:
    dead_rtsp = free_port()  # nothing listens there
    with OnvifSim(rtsp_port=dead_rtsp, user=USER, password=PASSWORD) as sim:
        code, out, err = run(capsys, sim.address, "--user", USER, "--password-env", "CAM_PW")
    assert code == 1 and out == ""
    line = one_line_error(err)
    assert "the sub stream does not play" in line and "connection refused" in line
    assert f"rtsp://admin:***@127.0.0.1:{dead_rtsp}/sub" in line


def test_no_answer_times_out_and_suggests_url_patterns(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind((HOST, 0))
        silent.listen(8)
        t0 = time.monotonic()
        code, _, err = run(
            capsys,
            f"{HOST}:{silent.getsockname()[1]}",
            "--user",
            USER,
            "--password-env",
            "CAM_PW",
            "--timeout",
            "1",
        )
    assert time.monotonic() - t0 < 10
    assert code == 1
    assert "no answer to GetSystemDateAndTime in time (timeout)" in one_line_error(err)
    assert "`sentinel camera urls 127.0.0.1 --make hikvision|dahua|uniview --try" in err


def test_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, f"{HOST}:{free_port()}", "--user", USER, "--password-env", "CAM_PW")
    assert code == 1 and "connection refused" in one_line_error(err)


class _WebPage(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b"<html><body>Router login</body></html>"
        self.send_response(200 if self.path == "/onvif/device_service" else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize("path_ok", [True, False], ids=["html-200", "html-404"])
def test_http_but_not_onvif(
    path_ok: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not path_ok:
        monkeypatch.setattr(_WebPage, "do_POST", _not_found)
    server = http.server.ThreadingHTTPServer((HOST, 0), _WebPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, _, err = run(
            capsys, f"{HOST}:{server.server_address[1]}", "--user", USER, "--password-env", "CAM_PW"
        )
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    line = one_line_error(err)
    assert "HTTP answers" in line and "not with SOAP: not an ONVIF service" in line
    assert ("200 text/html" if path_ok else "404") in line


def _not_found(self: http.server.BaseHTTPRequestHandler) -> None:
    self.send_error(404)


def test_with_credentials_keeps_env_reference_and_quotes_real_passwords() -> None:
    assert with_credentials("rtsp://10.0.0.5:554/a?b=1", "admin", "${CAM_PW}") == (
        "rtsp://admin:${CAM_PW}@10.0.0.5:554/a?b=1"
    )
    assert (
        with_credentials("rtsp://old:x@10.0.0.5/a", "ad min", "p@ss:w")
        == "rtsp://ad%20min:p%40ss%3Aw@10.0.0.5/a"
    )
