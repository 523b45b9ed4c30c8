"""A poster through the daemon's own analysis path: a clip of vtest with a sheet pasted on the facade at 62 s
(H.264, the evaluation's recipe), replayed by `sentinel.replay.runner.replay` (reader, 640-wide analysis
picture, NanoDet, tracker, rules, alert builder) with a posted_text rule: one alert, and its published
payload carries the text read, valid against the schema."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import jsonschema

from bench.scenarios import CAMERAS, Scenario, write_clip
from bench.scenarios_text import PostText
from sentinel.config.models import SentinelConfig
from sentinel.detect.detectors import load_detector
from sentinel.detect.rules.posted_text import PostedTextParams
from sentinel.replay.runner import replay
from tests.support.footage import REPO_ROOT, vtest_path
from tests.support.scenes_text import FACADE_POSTER

SCHEMA = json.loads((REPO_ROOT / "sentinel" / "data" / "alert.schema.json").read_text(encoding="utf-8"))


def test_a_poster_replayed_through_the_pipeline_alerts_with_its_text(tmp_path: Path) -> None:
    vtest_path()
    s = Scenario(
        "smoke_text_poster", "text", 100.0, 1.0, "wall", "illegal_small_ads",
        PostText(("办证刻章", "快速办理"), FACADE_POSTER, 62.0),  # type: ignore[arg-type]
    )  # fmt: skip
    rule = PostedTextParams(
        kind="posted_text", event_type="illegal_small_ads", zone="facade", min_duration=20.0, settle_time=10.0,
        learn_time=600.0,
    )  # fmt: skip
    camera = CAMERAS["wall"]("wall").model_copy(update={"rules": [rule]})
    config = SentinelConfig(cameras=[camera])
    result = replay(
        write_clip(s), config, camera.id, tmp_path, load_detector(config.detector), annotated=False
    )
    assert [a.event_type for a in result.alerts] == ["illegal_small_ads"]
    payload = json.loads(result.alerts[0].to_json())
    jsonschema.validate(payload, SCHEMA)
    assert payload["code"] == "07001" and payload["zone"] == "facade"
    read = "".join(t["text"] for t in payload["texts"])
    assert difflib.SequenceMatcher(None, read, "办证刻章快速办理").ratio() >= 0.7, read
    assert payload["objects"][0]["label"] == "text_poster"
