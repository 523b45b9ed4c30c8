"""Announcing a case change: the case as published (`sentinel.case/1`) is queued in the outbox, in the
transaction of the change itself, on `{prefix}/cases/{grid_code}/{case_id}`, and (with a `webhook:` section)
as a webhook delivery in the same transaction. Nothing is sent from here: the outbox publisher and the
webhook sender send what was committed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from sentinel.cases.models import CaseAlertRow, CaseRow, case_payload
from sentinel.cases.steps import sync_alert_review
from sentinel.cases.webhook.queue import WebhookQueue
from sentinel.config.event_types import EventType
from sentinel.mqtt.topics import Topics
from sentinel.storage.outbox import OutboxRow


@dataclass(frozen=True)
class CaseChange:
    """One committed change of a case, as queued in the outbox (`topic`, `payload`)."""

    case_id: str
    number: int
    action: str
    actor: str
    from_state: str | None
    state: str
    topic: str
    payload: dict[str, Any]
    created: bool = False


def announce(
    s: Session, case: CaseRow, now: datetime, action: str, actor: str, from_state: str | None,
    topics: Topics, event_types: Mapping[str, EventType], tz: ZoneInfo, created: bool = False,
    webhook: WebhookQueue | None = None,
) -> CaseChange:  # fmt: skip
    """Queue the case as it now is (with its alerts, oldest first) and say what changed."""
    s.flush()
    sync_alert_review(s, case)
    alert_ids = list(
        s.scalars(
            select(CaseAlertRow.alert_id)
            .where(CaseAlertRow.case_id == case.id)
            .order_by(CaseAlertRow.joined_at, CaseAlertRow.alert_id)
        )
    )
    event_type = event_types.get(case.event_type)
    payload = case_payload(case, alert_ids, action, actor, tz, event_type.name_en if event_type else None)
    topic = topics.case(case.grid_code, case.id)
    s.add(OutboxRow(topic=topic, payload=json.dumps(payload, ensure_ascii=False), qos=1, retain=False,
                    alert_id=None, created_at=now, attempts=0))  # fmt: skip
    if webhook is not None:
        webhook.add(s, case, now, action, from_state, payload)
    return CaseChange(case.id, case.number, action, actor, from_state, case.state, topic, payload, created)
