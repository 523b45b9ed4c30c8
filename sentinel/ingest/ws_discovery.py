"""WS-Discovery (SOAP-over-UDP) Probe for ONVIF cameras, for `sentinel camera discover`.

One Probe for type `dn:NetworkVideoTransmitter` goes to 239.255.255.250:3702 (or, with `target`, to one
address: unicast probing, as the tests do on 127.0.0.1); every ProbeMatches answer whose `RelatesTo` names
our `MessageID` is parsed for its endpoint, XAddrs and scopes (onvif://www.onvif.org/name/..., /hardware/...,
/location/...).  Answers that are not XML, not a ProbeMatch or answer someone else's probe are counted and
skipped, never fatal.  The Probe is sent twice (UDP may drop it), with the same MessageID, as SOAP-over-UDP
retransmission requires; a device answering both is listed once.
"""

from __future__ import annotations

import fcntl
import ipaddress
import select
import socket
import struct
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

MULTICAST_GROUP = "239.255.255.250"
PORT = 3702
_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
PROBE_ACTION = f"{_WSD}/Probe"
MATCH_ACTION = f"{_WSD}/ProbeMatches"
_MAX_DATAGRAM = 65535


def probe_message(message_id: str, types: str = "dn:NetworkVideoTransmitter") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        f' xmlns:a="{_WSA}" xmlns:d="{_WSD}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        "<s:Header>"
        f'<a:Action s:mustUnderstand="1">{PROBE_ACTION}</a:Action>'
        f"<a:MessageID>{message_id}</a:MessageID>"
        f"<a:ReplyTo><a:Address>{_WSA}/role/anonymous</a:Address></a:ReplyTo>"
        '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
        "</s:Header>"
        f"<s:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


@dataclass
class Device:
    """One answering endpoint."""

    endpoint: str  # urn:uuid:... (stable device identity)
    sender: str  # IP the ProbeMatch came from
    xaddrs: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)

    def scope(self, key: str) -> str:
        """Value of onvif://www.onvif.org/<key>/<value> (URL-decoded; several joined by ', ')."""
        values = []
        for s in self.scopes:
            marker = f"onvif://www.onvif.org/{key}/"
            if s.lower().startswith(marker.lower()):
                values.append(unquote(s[len(marker) :]).strip("/"))
        return ", ".join(v for v in values if v)

    @property
    def name(self) -> str:
        return self.scope("name")

    @property
    def hardware(self) -> str:
        return self.scope("hardware")

    @property
    def hosts(self) -> set[str]:
        """The sender address and every host named in the XAddrs."""
        hosts = {self.sender}
        for x in self.xaddrs:
            host = urlsplit(x).hostname
            if host:
                hosts.add(host)
        return hosts

    @property
    def address(self) -> str:
        """The device address to show: the first XAddr's host, else the sender."""
        for x in self.xaddrs:
            host = urlsplit(x).hostname
            if host:
                return host
        return self.sender


@dataclass
class DiscoveryResult:
    devices: list[Device]
    message_id: str
    ignored: list[str] = field(default_factory=list)  # why each skipped datagram was skipped


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(elem: ET.Element, name: str) -> str:
    for child in elem.iter():
        if _local(child.tag) == name and child.text:
            return child.text.strip()
    return ""


def parse_probe_matches(data: bytes, message_id: str, sender: str) -> list[Device]:
    """Devices in one datagram; raises ValueError saying why it is not a ProbeMatches answer to `message_id`."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("XML with a DTD (not allowed in SOAP)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"not XML ({exc})") from None
    if _local(root.tag) != "Envelope":
        raise ValueError(f"not a SOAP envelope (root element {_local(root.tag)!r})")
    header = next((c for c in root if _local(c.tag) == "Header"), None)
    body = next((c for c in root if _local(c.tag) == "Body"), None)
    if body is None:
        raise ValueError("SOAP envelope without a Body")
    relates_to = _child_text(header, "RelatesTo") if header is not None else ""
    if relates_to and relates_to != message_id:
        raise ValueError(f"answers another probe (RelatesTo {relates_to})")
    action = _child_text(header, "Action") if header is not None else ""
    matches = [e for e in body.iter() if _local(e.tag) == "ProbeMatch"]
    if not matches:
        what = action.rsplit("/", 1)[-1] if action else next((_local(c.tag) for c in body), "empty body")
        raise ValueError(f"not a ProbeMatch ({what})")
    if not relates_to:
        raise ValueError("ProbeMatch without RelatesTo")
    devices = []
    for m in matches:
        endpoint = _child_text(m, "Address")
        xaddrs = _child_text(m, "XAddrs").split()
        if not endpoint and not xaddrs:
            continue
        devices.append(
            Device(
                endpoint=endpoint or xaddrs[0],
                sender=sender,
                xaddrs=xaddrs,
                scopes=_split_scopes(_child_text(m, "Scopes")),
                types=_child_text(m, "Types").split(),
            )
        )
    if not devices:
        raise ValueError("ProbeMatch without an endpoint or XAddrs")
    return devices


def _split_scopes(text: str) -> list[str]:
    """Scopes are space-separated URIs; a word that is no URI continues the previous one (an unencoded
    space in a name, as some devices send: `onvif://www.onvif.org/name/Gate East`)."""
    scopes: list[str] = []
    for word in text.split():
        if scopes and "://" not in word and ":" not in word.split("/", 1)[0]:
            scopes[-1] += f" {word}"
        else:
            scopes.append(word)
    return scopes


def interface_address(name: str) -> str:
    """IPv4 address of a network interface (`eth0`), or the address itself when one is given."""
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))  # SIOCGIFADDR
        except OSError as exc:
            raise ValueError(f"interface {name!r}: {exc.strerror or exc} (no IPv4 address?)") from None
    return socket.inet_ntoa(packed[20:24])


def discover(
    *,
    timeout: float = 3.0,
    interface: str | None = None,
    target: tuple[str, int] | None = None,
    repeat: int = 2,
) -> DiscoveryResult:
    """Send the Probe and collect answers for `timeout` seconds."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    message = probe_message(message_id)
    local = interface_address(interface) if interface else ""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        if target is None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)  # the camera's own segment
            if local:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local))
        sock.bind((local, 0))
        destination = target or (MULTICAST_GROUP, PORT)
        found: dict[str, Device] = {}
        ignored: list[str] = []
        deadline = time.monotonic() + timeout
        sends = [time.monotonic() + i * min(0.25, timeout / 4) for i in range(max(1, repeat))]
        while True:
            now = time.monotonic()
            while sends and sends[0] <= now:
                sends.pop(0)
                sock.sendto(message, destination)
            if now >= deadline:
                break
            wait = min(deadline, sends[0]) - now if sends else deadline - now
            ready, _, _ = select.select([sock], [], [], max(wait, 0.0))
            if not ready:
                continue
            try:
                data, (sender, _port) = sock.recvfrom(_MAX_DATAGRAM)
            except ConnectionRefusedError:  # ICMP port unreachable from a unicast target
                ignored.append(f"{destination[0]}:{destination[1]}: port unreachable")
                continue
            try:
                for device in parse_probe_matches(data, message_id, sender):
                    known = found.get(device.endpoint)
                    if known is None:
                        found[device.endpoint] = device
                    else:
                        known.xaddrs += [x for x in device.xaddrs if x not in known.xaddrs]
            except ValueError as exc:
                ignored.append(f"{sender}: {exc}")
    finally:
        sock.close()
    devices = sorted(found.values(), key=lambda d: (_sort_key(d.address), d.endpoint))
    return DiscoveryResult(devices, message_id, ignored)


def _sort_key(address: str) -> tuple[int, str]:
    try:
        return (0, f"{int(ipaddress.ip_address(address)):040d}")
    except ValueError:
        return (1, address)
