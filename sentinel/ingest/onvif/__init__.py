"""ONVIF: ask a camera who it is and where its streams are (`sentinel camera probe`).

errors (ProbeError, one safe line per failure) <- session (onvif-zeep plumbing) <- streams (profiles, stream
URIs) <- probe (the sequence of calls).
"""

from sentinel.ingest.onvif.errors import ProbeError
from sentinel.ingest.onvif.probe import MAX_SKEW_SECONDS, ProbeResult, probe, skew_text
from sentinel.ingest.onvif.streams import Profile

__all__ = ["MAX_SKEW_SECONDS", "ProbeError", "ProbeResult", "Profile", "probe", "skew_text"]
