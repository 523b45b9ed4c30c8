"""The published JSON Schemas are generated from the models that build the payloads (tools/gen_schemas.py):
the checked-in files must be exactly what the models give, and they must keep refusing what the contract
refuses."""

from __future__ import annotations

import json
from typing import Any, get_args

import jsonschema
import pytest
from pydantic import BaseModel

from sentinel.alerts.schema import Alert
from sentinel.cases.models import LEVEL_ROLES
from sentinel.cases.payload import EscalationRole
from tools.gen_schemas import SCHEMAS, SchemaFile, main, out_of_date

ALERT_ID = "0b9a3c4e-1f2a-4b5c-8d6e-7f8091a2b3c4"
GRID = "110101001002003"


def _schema(name: str) -> dict[str, Any]:
    return json.loads(next(s for s in SCHEMAS if s.name == name).path.read_text(encoding="utf-8"))


def alert_payload(**change: Any) -> dict[str, Any]:
    alert = Alert(
        alert_id=ALERT_ID, site="demo", event_type="garbage_exposed", code="06010", name="暴露垃圾",
        name_en="Exposed garbage", severity="normal", camera_id="cam1", camera_name="东门", zone="z1",
        started_at="2026-11-22T10:00:00.000+08:00", detected_at="2026-11-22T10:00:05.000+08:00",
        confidence=0.9, count=1, objects=[{"label": "person", "score": 0.8, "box": (0.1, 0.2, 0.3, 0.4)}],
        location={"lon": 116.4, "lat": 39.9, "method": "homography"},
        grid={"street": GRID[:9], "community": GRID[:12], "grid": GRID, "name": None},
        snapshot={"url": "/media/snapshots/x.jpg", "sha256": "a" * 64}, detail="3 people",
    )  # fmt: skip
    return {**alert.model_dump(mode="json", by_alias=True), **change}


def test_checked_in_schemas_are_what_the_models_give() -> None:
    stale = [s.name for s in out_of_date()]
    assert not stale, f"{stale} differ from the models: run .venv/bin/python tools/gen_schemas.py"
    assert main(["--check"]) == 0


def test_the_check_notices_a_model_change() -> None:
    class Changed(Alert):
        extra_field: int = 0

    changed = SchemaFile("alert.schema.json", Changed, SCHEMAS[0].schema_id)
    assert changed.text() != SCHEMAS[0].path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "schema_const", "title"),
    [
        ("alert.schema.json", "sentinel.alert/1", "Sentinel alert (sentinel.alert/1)"),
        ("case.schema.json", "sentinel.case/1", "Sentinel grid case (sentinel.case/1)"),
    ],
)
def test_ids_and_titles_kept(name: str, schema_const: str, title: str) -> None:
    schema = _schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == title and schema["properties"]["schema"]["const"] == schema_const
    assert schema["$id"].endswith(schema_const.replace("/", "-") + ".json")
    assert schema["additionalProperties"] is False and "schema" in schema["required"]


def test_an_alert_the_model_builds_is_valid() -> None:
    jsonschema.validate(alert_payload(), _schema("alert.schema.json"))


def test_older_alerts_without_detail_or_clip_are_valid() -> None:
    old = alert_payload()
    del old["detail"], old["clip"]
    jsonschema.validate(old, _schema("alert.schema.json"))


@pytest.mark.parametrize(
    "change",
    [
        {"severity": "apocalyptic"},
        {"alert_id": "not-a-uuid"},
        {"schema": "sentinel.alert/2"},
        {"event_type": "Has Spaces"},
        {"detected_at": "2026-11-22 10:00:05"},  # no offset
        {"confidence": 1.5},
        {"count": -1},
        {"objects": [{"label": "person", "score": 0.8, "box": [0.1, 0.2, 1.3, 0.4]}]},
        {"objects": [{"label": "person", "score": 0.8, "box": [0.1, 0.2, 0.3]}]},
        {"location": {"lon": 200, "lat": 39.9, "method": "camera"}},
        {"location": {"lon": 116.4, "lat": 39.9, "method": "guess"}},
        {"grid": {"street": "12", "community": None, "grid": None, "name": None}},
        {"snapshot": {"url": "/x.jpg", "sha256": "short"}},
        {"surprise": 1},
        {"case_id": 7},
    ],
)
def test_the_alert_schema_refuses(change: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(alert_payload(**change), _schema("alert.schema.json"))


def test_a_box_past_the_edge_is_cut_at_it() -> None:
    payload = alert_payload()
    payload["objects"][0]["box"] = [-0.01, 0.2, 1.02, 0.4]
    assert Alert.model_validate(payload).objects[0].box == (0.0, 0.2, 1.0, 0.4)


def test_case_schema_roles_are_the_engine_roles() -> None:
    assert get_args(EscalationRole) == LEVEL_ROLES
    roles = _schema("case.schema.json")["$defs"]["CaseEscalation"]["properties"]["role"]["enum"]
    assert tuple(roles) == LEVEL_ROLES


def test_every_schema_model_is_a_pydantic_model() -> None:
    assert all(issubclass(s.model, BaseModel) for s in SCHEMAS)
    assert {s.name for s in SCHEMAS} == {"alert.schema.json", "case.schema.json"}
