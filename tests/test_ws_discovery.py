"""WS-Discovery on loopback: unicast probes to small UDP responders in the test, and to ipycam's responder.

No multicast is sent: every probe goes by `--target 127.0.0.1:PORT`.
"""

from __future__ import annotations

import socket
import textwrap
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sentinel.cli.main import main
from sentinel.ingest.ws_discovery import (
    PROBE_ACTION,
    discover,
    interface_address,
    parse_probe_matches,
)
from tests.support.onvif_sim import OnvifSim
from tests.support.servers import HOST, free_port

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
}


def probe_match(
    relates_to: str,
    *,
    address: str = "192.0.2.64",
    uuid_: str = "urn:uuid:1f6b0c1e-0000-4000-8000-00000000a001",
) -> bytes:
    return textwrap.dedent(f"""\
        <?xml version="1.0" encoding="UTF-8"?>
        <SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"
            xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
            xmlns:wsdd="http://schemas.xmlsoap.org/ws/2005/04/discovery"
            xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">
          <SOAP-ENV:Header>
            <wsa:MessageID>urn:uuid:7d1b7a6c-0000-4000-8000-000000000002</wsa:MessageID>
            <wsa:RelatesTo>{relates_to}</wsa:RelatesTo>
            <wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>
            <wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>
          </SOAP-ENV:Header>
          <SOAP-ENV:Body>
            <wsdd:ProbeMatches>
              <wsdd:ProbeMatch>
                <wsa:EndpointReference><wsa:Address>{uuid_}</wsa:Address></wsa:EndpointReference>
                <wsdd:Types>dn:NetworkVideoTransmitter tds:Device</wsdd:Types>
                <wsdd:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming
                  onvif://www.onvif.org/hardware/DS-2CD2T47G2-L onvif://www.onvif.org/name/HIKVISION%20East%20Gate
                  onvif://www.onvif.org/location/city/hangzhou</wsdd:Scopes>
                <wsdd:XAddrs>http://{address}/onvif/device_service http://[fe80::1]/onvif/device_service</wsdd:XAddrs>
                <wsdd:MetadataVersion>10</wsdd:MetadataVersion>
              </wsdd:ProbeMatch>
            </wsdd:ProbeMatches>
          </SOAP-ENV:Body>
        </SOAP-ENV:Envelope>""").encode()


@dataclass
class Responder:
    """A UDP socket on 127.0.0.1 that answers each datagram with what `answer(probe)` returns."""

    answer: Callable[[bytes], list[bytes]]
    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    received: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        return f"{HOST}:{self.sock.getsockname()[1]}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append(data)
            for reply in self.answer(data):
                self.sock.sendto(reply, sender)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def message_id_of(probe: bytes) -> str:
    root = ET.fromstring(probe)
    return root.findtext("s:Header/a:MessageID", namespaces=NS) or ""


@pytest.fixture
def responder_factory() -> Iterator[Callable[[Callable[[bytes], list[bytes]]], Responder]]:
    made: list[Responder] = []

    def make(answer: Callable[[bytes], list[bytes]]) -> Responder:
        r = Responder(answer)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def target_of(r: Responder) -> tuple[str, int]:
    host, port = r.target.split(":")
    return host, int(port)


def test_probe_is_a_correct_ws_discovery_probe(responder_factory: Callable[..., Responder]) -> None:
    r = responder_factory(lambda probe: [probe_match(message_id_of(probe))])
    result = discover(timeout=0.8, target=target_of(r))
    assert len(r.received) == 2, "sent once and repeated (SOAP-over-UDP retransmission)"
    assert r.received[0] == r.received[1], "a retransmission carries the same MessageID"
    root = ET.fromstring(r.received[0])
    assert root.findtext("s:Header/a:Action", namespaces=NS) == PROBE_ACTION
    assert root.findtext("s:Header/a:To", namespaces=NS) == "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
    assert root.findtext("s:Header/a:MessageID", namespaces=NS) == result.message_id
    assert result.message_id.startswith("urn:uuid:") and len(result.message_id) == 45
    assert root.findtext("s:Body/d:Probe/d:Types", namespaces=NS) == "dn:NetworkVideoTransmitter"
    # two answers from the same endpoint: listed once
    (device,) = result.devices
    assert device.endpoint == "urn:uuid:1f6b0c1e-0000-4000-8000-00000000a001"
    assert device.address == "192.0.2.64" and device.sender == HOST
    assert device.name == "HIKVISION East Gate"
    assert device.hardware == "DS-2CD2T47G2-L"
    assert device.scope("location") == "city/hangzhou"
    assert device.xaddrs == [
        "http://192.0.2.64/onvif/device_service",
        "http://[fe80::1]/onvif/device_service",
    ]
    assert "dn:NetworkVideoTransmitter" in device.types
    assert result.ignored == []


def test_garbage_answers_are_skipped_not_fatal(responder_factory: Callable[..., Responder]) -> None:
    def garbage(probe: bytes) -> list[bytes]:
        mid = message_id_of(probe)
        return [
            b"\x00\xff not xml at all",
            b"<html><body>hello</body></html>",
            probe_match("urn:uuid:00000000-0000-0000-0000-000000000000"),  # someone else's probe
            probe_match(mid).replace(b"ProbeMatch", b"ResolveMatch"),  # not a ProbeMatch
            probe_match(mid)
            .replace(b"<wsa:RelatesTo>", b"<wsa:Other>")
            .replace(b"</wsa:RelatesTo>", b"</wsa:Other>"),
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
            probe_match(mid)[:300],  # truncated
        ]

    r = responder_factory(garbage)
    result = discover(timeout=0.8, target=target_of(r), repeat=1)
    assert result.devices == []
    reasons = " | ".join(result.ignored)
    assert len(result.ignored) == 7, reasons
    for expected in (
        "not XML",
        "not a SOAP envelope (root element 'html')",
        "answers another probe",
        "not a ProbeMatch (ResolveMatches)",
        "ProbeMatch without RelatesTo",
        "DTD",
    ):
        assert expected in reasons


def test_valid_answer_after_garbage_is_found(responder_factory: Callable[..., Responder]) -> None:
    r = responder_factory(lambda probe: [b"garbage", probe_match(message_id_of(probe), address="127.0.0.1")])
    result = discover(timeout=0.6, target=target_of(r), repeat=1)
    assert [d.address for d in result.devices] == ["127.0.0.1"]
    assert len(result.ignored) == 1


def test_cli_lists_devices_and_marks_registered_ones(
    responder_factory: Callable[..., Responder], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = responder_factory(lambda probe: [probe_match(message_id_of(probe), address="192.0.2.64")])
    (tmp_path / "cameras.yaml").write_text(
        "cameras:\n"
        "  - id: east-gate\n"
        "    source: rtsp://admin:${UNSET_PASSWORD_FOR_TEST}@192.0.2.64:554/Streaming/Channels/102\n"
        "  - id: plaza\n"
        "    source: /some/file.mp4\n"
    )
    config = tmp_path / "sentinel.yaml"
    config.write_text("cameras_file: cameras.yaml\n")
    code = main(["camera", "discover", "--target", r.target, "--timeout", "0.6", "--config", str(config)])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = out.out.splitlines()
    assert lines[0].split() == ["ADDRESS", "NAME", "HARDWARE", "XADDRS", "REGISTERED"]
    assert lines[1].startswith(
        "192.0.2.64  HIKVISION East Gate  DS-2CD2T47G2-L  http://192.0.2.64/onvif/device_service"
    )
    assert lines[1].endswith("  east-gate")
    assert lines[2] == f"1 device answered (probe to {r.target}); 1 already registered"


def test_cli_with_only_garbage_says_nobody_answered(
    responder_factory: Callable[..., Responder], capsys: pytest.CaptureFixture[str]
) -> None:
    r = responder_factory(lambda probe: [b"<<<garbage>>>"])
    code = main(
        ["camera", "discover", "--target", r.target, "--timeout", "0.5", "--config", "/nonexistent/x.yaml"]
    )
    out = capsys.readouterr()
    assert code == 2 and "file not found" in out.err  # an explicit --config must exist
    code = main(["camera", "discover", "--target", r.target, "--timeout", "0.5"])
    out = capsys.readouterr()
    assert code == 0
    assert out.out == f"no ONVIF device answered within 0.5 s (probe to {r.target})\n"
    assert f"ignored an answer from {HOST}: not XML" in out.err
    assert "Traceback" not in out.err


def test_unicast_target_with_nobody_listening(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port(socket.SOCK_DGRAM)
    code = main(["camera", "discover", "--target", f"{HOST}:{port}", "--timeout", "0.5"])
    out = capsys.readouterr()
    assert code == 0 and out.out.startswith("no ONVIF device answered")


def test_ipycam_responder_is_found(capsys: pytest.CaptureFixture[str]) -> None:
    with OnvifSim(rtsp_port=free_port(), name="Gate East") as sim:
        result = discover(timeout=0.8, target=(HOST, sim.discovery_port))
    (device,) = result.devices
    assert device.name == "Gate East"
    assert device.xaddrs == [f"http://127.0.0.1:{sim.port}/onvif/device_service"]
    assert device.endpoint.startswith("urn:uuid:")


def test_parse_rejects_answers_to_other_probes() -> None:
    with pytest.raises(ValueError, match="answers another probe"):
        parse_probe_matches(probe_match("urn:uuid:other"), "urn:uuid:mine", HOST)
    (device,) = parse_probe_matches(probe_match("urn:uuid:mine"), "urn:uuid:mine", HOST)
    assert device.hosts == {HOST, "192.0.2.64", "fe80::1"}


def test_interface_address() -> None:
    assert interface_address("lo") == "127.0.0.1"
    assert interface_address("127.0.0.1") == "127.0.0.1"
    with pytest.raises(ValueError, match="no-such-if0"):
        interface_address("no-such-if0")


def test_cli_bad_interface_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["camera", "discover", "--interface", "no-such-if0", "--timeout", "0.2"])
    err = capsys.readouterr().err
    assert (
        code == 2
        and err.startswith("sentinel camera: interface 'no-such-if0'")
        and len(err.splitlines()) == 1
    )
