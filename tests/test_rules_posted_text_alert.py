"""What posted_text read reaches the alert: `texts` in the published payload (sentinel.alert/1, optional), valid
against the checked-in schema; alerts of rules that read no text carry null, and older payloads without the
key stay valid."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from sentinel.alerts.builder import build_alert, new_alert_id
from sentinel.alerts.schema import Alert
from sentinel.config.event_types import default_event_types
from sentinel.config.models import CameraConfig
from sentinel.detect.rules import RuleEvent
from sentinel.detect.text_reader import TextLine
from tests.support.footage import REPO_ROOT

TZ = ZoneInfo("Asia/Shanghai")
CAMERA = CameraConfig(id="wall-cam", source="/x")
LINES = (
    TextLine("办证刻章", 0.9987, (0.02, 0.02, 0.09, 0.047)),
    TextLine("快速办理", 0.95, (0.02, 0.054, 0.09, 0.08)),
)
SCHEMA = json.loads((REPO_ROOT / "sentinel" / "data" / "alert.schema.json").read_text(encoding="utf-8"))


def event(texts: tuple[TextLine, ...] = ()) -> RuleEvent:
    return RuleEvent(
        "wall-cam", "posted_text", "illegal_small_ads", "facade", 1.7e9, 1.7e9 + 30, 1, 0.97, texts=texts
    )


def payload(texts: tuple[TextLine, ...] = ()) -> dict[str, object]:
    types = default_event_types()
    alert = build_alert(new_alert_id(), "s", event(texts), CAMERA, types["illegal_small_ads"], TZ, None)
    return json.loads(alert.to_json())


def test_the_text_read_is_in_the_alert_and_valid() -> None:
    body = payload(LINES)
    jsonschema.validate(body, SCHEMA)
    assert body["texts"] == [
        {"text": "办证刻章", "score": 0.9987, "box": [0.02, 0.02, 0.09, 0.047]},
        {"text": "快速办理", "score": 0.95, "box": [0.02, 0.054, 0.09, 0.08]},
    ]
    assert body["code"] == "07001" and body["name"] == "非法小广告"
    assert Alert.model_validate(body).texts is not None  # the store reads payloads back with the model


def test_an_alert_without_text_says_null_and_older_payloads_lack_it() -> None:
    body = payload()
    assert body["texts"] is None
    jsonschema.validate(body, SCHEMA)
    del body["texts"]
    jsonschema.validate(body, SCHEMA)


@pytest.mark.parametrize(
    "bad",
    [
        [{"text": "", "score": 0.9, "box": [0, 0, 0.1, 0.1]}],
        [{"text": "广告", "score": 1.5, "box": [0, 0, 0.1, 0.1]}],
        [{"text": "广告", "score": 0.9, "box": [0, 0, 0.1]}],
        [{"text": "广告", "score": 0.9, "box": [0, 0, 0.1, 0.1], "font": "song"}],
    ],
)
def test_the_schema_refuses_malformed_text(bad: list[dict[str, object]]) -> None:
    body = payload(LINES)
    body["texts"] = bad
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, SCHEMA)


def test_the_banner_type_has_its_local_code() -> None:
    banner = default_event_types()["illegal_banner"]
    assert (banner.code, banner.name, banner.rule_kind) == ("LOCAL-701", "违规标语横幅", "posted_text")
