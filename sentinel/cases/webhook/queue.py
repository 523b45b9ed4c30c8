"""Queueing a case change for the webhook, inside the transaction of the change (called by
`sentinel.cases.announce` beside the MQTT outbox row): committed together, or not at all."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from sentinel.alerts.models import AlertRow
from sentinel.cases.models import CaseRow
from sentinel.cases.roster import Roster
from sentinel.cases.webhook.body import build_body, person_json
from sentinel.cases.webhook.rows import WebhookDeliveryRow
from sentinel.config.webhook import WebhookConfig
from sentinel.geo.cells import GridCells

_SAME = frozenset({"escalate", "extend", "return", "feedback", "rework", "reject"})
_DISPATCHING = frozenset({"create", "confirm", "dispatch"})  # a create or confirm routed by the roster


def change_of(action: str, from_state: str | None, state: str) -> str | None:
    """The webhook event a case action is (None: not one a webhook can ask for)."""
    if action in _DISPATCHING and state == "dispatched" and from_state != "dispatched":
        return "dispatch"
    if state == "closed" and from_state != "closed":
        return "close"
    if action == "remind":
        return "reminder"
    if action == "create":
        return "create"
    return action if action in _SAME else None


class WebhookQueue:
    """Writes a `webhook_deliveries` row for each case change the config's `events` name."""

    def __init__(
        self, config: WebhookConfig, site: str, roster: Roster | None = None, cells: GridCells | None = None
    ) -> None:
        self.config = config
        self.site = site
        self.roster = roster
        self.cells = cells
        self.events = frozenset(config.events)

    def add(
        self, s: Session, case: CaseRow, now: datetime, action: str, from_state: str | None,
        payload: dict[str, Any],
    ) -> WebhookDeliveryRow | None:  # fmt: skip
        change = change_of(action, from_state, case.state)
        if change is None or change not in self.events:
            return None
        holder = case.assignee
        person = self.roster.people.get(holder) if self.roster is not None and holder else None
        key = str(uuid.uuid4())
        body = build_body(
            key, self.site, change, payload, person_json(person, holder), self.cells,
            self._snapshot_url(s, payload.get("alert_ids") or []),
        )  # fmt: skip
        row = WebhookDeliveryRow(
            key=key, case_id=case.id, change=change, payload=json.dumps(body, ensure_ascii=False),
            recipient_id=holder, contact=person.phone if person is not None else None, created_at=now,
            next_attempt_at=now, attempts=0,
        )  # fmt: skip
        s.add(row)
        return row

    def _snapshot_url(self, s: Session, alert_ids: list[str]) -> str | None:
        """The newest of the case's alerts that has a snapshot (a path under the console, made absolute
        with `console_url`)."""
        for alert_id in reversed(alert_ids[-5:]):
            alert = s.get(AlertRow, alert_id)
            url = ((alert.payload or {}).get("snapshot") or {}).get("url") if alert is not None else None
            if url:
                base = (self.config.console_url or "").rstrip("/")
                return f"{base}{url}" if base and url.startswith("/") else url
        return None
