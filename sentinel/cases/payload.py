"""The case as published (`sentinel.case/1`) on `{prefix}/cases/{grid_code}/{case_id}` after every change.

`sentinel/data/case.schema.json` is generated from `CaseMessage` (tools/gen_schemas.py; a test fails when
the file and the model differ), and `case_payload` builds every published case through it.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from sentinel.alerts.schema import (
    EVENT_TYPE_PATTERN,
    UUID_PATTERN,
    CommunityCode,
    GridCellCode,
    Severity,
    StreetCode,
    Timestamp,
)
from sentinel.cases.state_machine import ACTIONS, RECORDED_STEPS, SYSTEM_ACTIONS, State

CASE_SCHEMA: Final = "sentinel.case/1"
CASE_ACTIONS = tuple(sorted(SYSTEM_ACTIONS | RECORDED_STEPS | set(ACTIONS)))
Uuid = Annotated[str, Field(pattern=UUID_PATTERN)]
Count = Annotated[int, Field(ge=0)]
# who holds the case at each escalation level (0..3 from the roster, 4 the command platform)
EscalationRole = Literal["grid_worker", "grid_leader", "community_duty", "street_duty", "command_platform"]


def _known_action(action: str) -> str:
    if action not in CASE_ACTIONS:
        raise ValueError(f"unknown case action {action!r}")
    return action


CaseAction = Annotated[
    str,
    AfterValidator(_known_action),
    WithJsonSchema(
        {
            "enum": list(CASE_ACTIONS),
            "description": "what changed the case: a command-platform action, or a step Sentinel took itself",
        }
    ),
]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class CaseGrid(_Part):
    street: StreetCode | None
    community: CommunityCode | None
    grid: GridCellCode | None


class CaseLocation(_Part):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class CaseRouting(_Part):
    grid_worker: str | None
    grid_leader: str | None
    community_duty: str | None
    street_duty: str | None


class CaseEscalation(_Part):
    level: int = Field(ge=0, le=4)
    role: EscalationRole
    overdue: bool = Field(description="a deadline has passed")
    command_platform: bool = Field(
        description="urgent, or escalated past the street: the command platform acts"
    )
    count: Count


class ExtensionRequest(_Part):
    seconds: float = Field(gt=0, description="the time asked for")
    requested_by: str | None = Field(description="who asked (the level holding the case)")


class CaseDeadline(_Part):
    base_seconds: float = Field(ge=0, description="the event type's disposal time")
    working_hours: bool = Field(description="deadlines count working hours only")
    deadline_at: Timestamp | None = Field(description="the current level's deadline")
    due_at: Timestamp | None = Field(description="the disposal deadline on-time closure is measured by")
    clock_running: bool
    reminded_at: Timestamp | None
    extension_request: ExtensionRequest | None = Field(
        description="an extension asked for, waiting for approval by the level above"
    )


class CaseVerification(_Part):
    round: Count = Field(description="one per feedback")
    started_at: Timestamp | None
    result: Literal["clear", "still_active", "timeout"] | None
    clear_checks: Count
    active_checks: Count


class CaseSummary(_Part):
    """What every view of a case shows: the published case below, and the console's case board."""

    case_id: Uuid
    number: int = Field(ge=1, description="short case number for people ('case 17')")
    event_type: str = Field(pattern=EVENT_TYPE_PATTERN)
    code: str = Field(min_length=1, description="urban-management event code (e.g. 06010) or a local code")
    name: str = Field(min_length=1, description="Chinese name, e.g. 暴露垃圾")
    name_en: str | None
    severity: Severity
    state: State
    note: str | None
    camera_id: str | None
    zone: str | None
    created_at: Timestamp
    updated_at: Timestamp
    dispatched_at: Timestamp | None
    closed_at: Timestamp | None
    alert_count: int = Field(ge=1)
    rework_count: Count
    extension_count: Count


class CaseMessage(CaseSummary):
    """Published QoS 1 on {prefix}/cases/{grid_code}/{case_id} (grid_code 'unassigned' when the place has no
    grid cell) after every change: the whole case as it now stands, with the action that changed it. case_id
    is stable; a repeat delivery carries the same updated_at and action."""

    schema_: Literal["sentinel.case/1"] = Field(CASE_SCHEMA, alias="schema")
    action: CaseAction
    actor: str = Field(
        min_length=1, description="a roster id, 'command-platform', 'sentinel' or 'camera:<camera_id>'"
    )
    grid: CaseGrid
    location: CaseLocation | None
    assignee: str | None = Field(description="who holds the case now ('command-platform' past the street)")
    routing: CaseRouting
    escalation: CaseEscalation
    deadline: CaseDeadline
    alert_ids: list[Uuid] = Field(min_length=1)
    first_alert_at: Timestamp | None
    last_alert_at: Timestamp | None
    verification: CaseVerification
    merged_into: Uuid | None

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
        title="Sentinel grid case (sentinel.case/1)",
    )

    def to_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)
