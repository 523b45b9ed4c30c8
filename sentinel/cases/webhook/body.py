"""The JSON a webhook receives for one case change (`sentinel.webhook/1`): built from the case as published
(`sentinel.case/1`) and the roster's entry for whoever holds the case now, so a gateway can text them.

    {"schema": "sentinel.webhook/1", "delivery_id": UUID (also the Idempotency-Key header), "site": ID,
     "change": dispatch|reminder|escalate|close|..., "action": the case action, "case_id", "number", "state",
     "severity", "event_type": {key, code, name, name_en}, "grid": {grid, grid_name, community,
     community_name, street, street_name}, "worker": {id, name, title, phone, wecom} | null,
     "deadline": ISO 8601 in the site time zone | null, "due_at": ..., "location": {lat, lon} | null,
     "snapshot_url": URL | null, "text": one line for an SMS, "changed_at": when the change happened}
"""

from __future__ import annotations

from typing import Any, Final

from sentinel.cases.roster import Person
from sentinel.geo.cells import GridCells

WEBHOOK_SCHEMA: Final = "sentinel.webhook/1"

# one line a gateway can text as it is
_TEXT = {
    "create": "新案件",
    "dispatch": "派遣",
    "reminder": "催办",
    "escalate": "升级",
    "extend": "延期",
    "return": "回退",
    "feedback": "处理反馈",
    "rework": "返工",
    "reject": "注销",
    "close": "结案",
}


def _name(cells: GridCells | None, code: str | None) -> str | None:
    cell = cells.get(code) if cells is not None and code else None
    return cell.name if cell is not None else None


def person_json(person: Person | None, holder: str | None) -> dict[str, Any] | None:
    if person is None:
        return (
            None
            if holder is None
            else {"id": holder, "name": None, "title": None, "phone": None, "wecom": None}
        )
    return {"id": person.id, "name": person.name, "title": person.title or None, "phone": person.phone,
            "wecom": person.wecom}  # fmt: skip


def build_body(
    key: str, site: str, change: str, case: dict[str, Any], worker: dict[str, Any] | None,
    cells: GridCells | None, snapshot_url: str | None,
) -> dict[str, Any]:  # fmt: skip
    """The body for `change` of `case` (a `sentinel.case/1` dict, times already in the site time zone)."""
    grid = case.get("grid") or {}
    location = case.get("location")
    deadline = (case.get("deadline") or {}).get("deadline_at")
    where = _name(cells, grid.get("grid")) or grid.get("grid") or "未定网格"
    text = f"【{_TEXT.get(change, change)}】案件{case['number']} {case['name']} {where}"
    if deadline and change not in ("close", "reject"):
        text += f"，请于{deadline[:16].replace('T', ' ')}前处置"
    return {
        "schema": WEBHOOK_SCHEMA,
        "delivery_id": key,
        "site": site,
        "change": change,
        "action": case["action"],
        "case_id": case["case_id"],
        "number": case["number"],
        "state": case["state"],
        "severity": case["severity"],
        "event_type": {
            "key": case["event_type"],
            "code": case["code"],
            "name": case["name"],
            "name_en": case.get("name_en"),
        },  # fmt: skip
        "grid": {
            "grid": grid.get("grid"),
            "grid_name": _name(cells, grid.get("grid")),
            "community": grid.get("community"),
            "community_name": _name(cells, grid.get("community")),
            "street": grid.get("street"),
            "street_name": _name(cells, grid.get("street")),
        },  # fmt: skip
        "worker": worker,
        "deadline": deadline,
        "due_at": (case.get("deadline") or {}).get("due_at"),
        "location": {"lat": location["lat"], "lon": location["lon"]} if location else None,
        "snapshot_url": snapshot_url,
        "text": text,
        "changed_at": case["updated_at"],
    }
