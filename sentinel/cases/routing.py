"""Who answers for a place: the grid cell's first worker, its grid leader, the community's and the street's
duty staff, as the roster names them. The one place a case's routing is worked out, for alerts filed by the
daemon's intake and for alerts an operator confirms in the console alike."""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.cases.roster import Roster
from sentinel.fields.grid_code import area_of


@dataclass(frozen=True)
class Routing:
    """Who answers for the place an alert came from, and the codes of that place."""

    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    worker_id: str | None = None
    grid_leader_id: str | None = None
    community_duty_id: str | None = None
    street_duty_id: str | None = None


def routing_for(grid_code: str | None, roster: Roster | None) -> Routing | None:
    """The routing of a grid cell (None without a code); without a roster, the place and nobody yet."""
    if not grid_code:
        return None
    place = Routing(grid_code, area_of(grid_code, "community"), area_of(grid_code, "street"))
    if roster is None:
        return place
    who = roster.for_grid(grid_code)
    return Routing(
        place.grid_code,
        place.community_code,
        place.street_code,
        worker_id=who.workers[0].id if who.workers else None,
        grid_leader_id=who.leader.id if who.leader else None,
        community_duty_id=who.community_duty[0].id if who.community_duty else None,
        street_duty_id=who.street_duty[0].id if who.street_duty else None,
    )
