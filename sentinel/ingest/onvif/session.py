"""The onvif-zeep plumbing: device and media services of one camera over one HTTP session."""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from sentinel.ingest.onvif.errors import ProbeError, classify
from sentinel.ingest.url_patterns import netloc


def _onvif_modules() -> tuple[Any, str]:
    """Import onvif-zeep without letting it configure the root logger; return (onvif.client, wsdl dir)."""
    root = logging.getLogger()
    guard = logging.NullHandler()
    root.addHandler(guard)  # onvif/client.py calls logging.basicConfig(level=INFO) at import time
    try:
        import onvif.client as onvif_client
    except ImportError:
        raise ProbeError("setup", "onvif-zeep is not installed (pip install onvif-zeep)") from None
    finally:
        root.removeHandler(guard)
    logging.getLogger("zeep").setLevel(logging.ERROR)
    # onvif-zeep installs its WSDLs next to its package (site-packages/wsdl); its own default does the same
    wsdl_dir = os.path.join(os.path.dirname(os.path.dirname(onvif_client.__file__)), "wsdl")
    if not os.path.isfile(os.path.join(wsdl_dir, "devicemgmt.wsdl")):
        raise ProbeError(
            "setup", f"onvif-zeep's WSDL files are missing from {wsdl_dir} (reinstall onvif-zeep)"
        )
    return onvif_client, wsdl_dir


class OnvifSession:
    """Device and media services of one camera, sharing one HTTP session and one WS-Security token."""

    def __init__(self, host: str, port: int, user: str, password: str, timeout: float) -> None:
        import requests
        from requests.auth import HTTPDigestAuth
        from zeep import Client, Settings
        from zeep.transports import Transport

        self._client_mod, self._wsdl_dir = _onvif_modules()
        self.host, self.port, self.user, self._password = host, port, user, password
        self.base = f"http://{netloc(host, port, 80)}"
        session = requests.Session()
        session.trust_env = False  # cameras sit on a private network: no HTTP(S)_PROXY from the environment
        session.auth = HTTPDigestAuth(user, password)  # used only if a camera challenges with HTTP Digest
        this = self

        class RecordingTransport(Transport):
            def post(self, address: str, message: Any, headers: Any) -> Any:
                response = super().post(address, message, headers)
                this.last_response = response
                return response

        self.last_response: Any = None
        self._transport = RecordingTransport(session=session, timeout=timeout, operation_timeout=timeout)
        self._settings = Settings(strict=False, xml_huge_tree=True)
        self._client_cls = Client
        self.dt_diff: dt.timedelta | None = None
        self._services: dict[str, Any] = {}

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def service(self, kind: str, xaddr: str, authenticated: bool = True) -> Any:
        """A zeep service proxy for `kind` ('devicemgmt' or 'media') at `xaddr`."""
        key = f"{kind}|{xaddr}|{authenticated}|{self.dt_diff}"
        if key not in self._services:
            from onvif.definition import SERVICES

            spec = SERVICES[kind]
            client = self._client_cls(
                os.path.join(self._wsdl_dir, spec["wsdl"]), transport=self._transport, settings=self._settings
            )
            if authenticated:
                client.wsse = self._client_mod.UsernameDigestTokenDtDiff(
                    self.user, self._password, dt_diff=self.dt_diff, use_digest=True
                )
            self._services[key] = client.create_service(f"{{{spec['ns']}}}{spec['binding']}", xaddr)
        return self._services[key]

    def call(
        self, what: str, kind: str, xaddr: str, op: str, authenticated: bool = True, **params: Any
    ) -> Any:
        self.last_response = None
        try:
            return getattr(self.service(kind, xaddr, authenticated), op)(**params)
        except Exception as exc:
            raise classify(exc, what, self.where, self.last_response) from None
