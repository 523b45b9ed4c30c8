"""Which packets of a GOP the reader may leave undecoded, given when its next sample is due."""

from __future__ import annotations


def rest_of_gop_unneeded(
    t_packet: float | None,
    next_due: float | None,
    last_key_t: float | None,
    key_gaps: list[float],
    slack: float = 0.0,
) -> bool:
    """Decoding every frame (`all`): the next sample is due at or after the next keyframe, or at most
    `slack` seconds before it (the keyframe is then sampled that little late), so the rest of this GOP need
    not be decoded (a keyframe needs nothing before it). At 1 fps with a 2 s GOP that halves the frames
    decoded. Only where the GOP is regular: a keyframe that comes late would delay a sample."""
    if next_due is None or last_key_t is None or t_packet is None or len(key_gaps) < 2:
        return False
    shortest, longest = min(key_gaps), max(key_gaps)
    if longest - shortest > 0.1 * longest:
        return False
    if t_packet <= last_key_t:
        return False
    return next_due >= last_key_t + shortest - 1e-3 or (
        slack > 0 and next_due >= last_key_t + longest - slack
    )


def gop_unneeded(
    t_key: float | None, next_due: float | None, last_media: float, key_gaps: list[float], mode: str
) -> bool:
    """No sample falls in the GOP this keyframe starts, so not even the keyframe is decoded (a slow,
    adaptive rate skips whole GOPs): decoding keyframes only, the keyframe comes before the next sample is
    due; decoding all, the next keyframe comes at or before it (regular GOPs only, as above). Never across
    a timestamp jump back (a new stream: it must be decoded to be seen)."""
    if t_key is None or next_due is None or t_key < last_media - 1.0:
        return False
    if mode == "keyframes":
        return t_key + 1e-3 < next_due
    if len(key_gaps) < 2:
        return False
    shortest, longest = min(key_gaps), max(key_gaps)
    if longest - shortest > 0.1 * longest:
        return False
    return next_due >= t_key + shortest - 1e-3
