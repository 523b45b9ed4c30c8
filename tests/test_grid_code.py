"""GridCode: the 15-digit grid cell code and the areas it names, and the routing every part derives from it."""

from __future__ import annotations

import pytest

from sentinel.alerts.builder import grid_of
from sentinel.cases.roster import Roster, RosterFile
from sentinel.cases.routing import Routing, routing_for
from sentinel.fields.grid_code import area_of, code_problem, level_of, parent_code
from sentinel.geo import GridCode

CODE = "110101001002003"


def test_parts_of_a_code() -> None:
    code = GridCode.parse(CODE)
    assert (code.district, code.street, code.community) == ("110101", "110101001", "110101001002")
    assert str(code) == CODE and f"{code}" == CODE
    assert GridCode.parse(f"  {CODE}\n") == code and GridCode.parse(code) is code
    assert sorted([GridCode("110101001002004"), code]) == [code, GridCode("110101001002004")]


@pytest.mark.parametrize(
    "bad", ["", "11010100100200", "1101010010020031", "11010100100200x", "١١٠١٠١٠٠١٠٠٢٠٠٣"]
)
def test_not_a_grid_code(bad: str) -> None:
    with pytest.raises(ValueError, match="15 digits"):
        GridCode.parse(bad)
    assert GridCode.of(bad) is None


def test_of_and_problem() -> None:
    assert GridCode.of(None) is None and GridCode.of("110101001") is None  # a street's code
    assert GridCode.of(CODE) == GridCode(CODE)
    assert GridCode.problem(CODE) is None
    assert GridCode.problem("110101001000003") == (
        "the community part of 110101001000003 (digits 10–12) is all zeros"
    )
    assert GridCode.parse("110101001000003").community == "110101001000"  # parsed all the same
    assert "put it in quotes" in (GridCode.problem(110101001002003) or "")


def test_codes_of_every_level() -> None:
    assert [level_of(c) for c in ("110101001", "110101001002", CODE, "1101")] == [
        "street", "community", "grid", None
    ]  # fmt: skip
    assert parent_code(CODE) == "110101001002" and parent_code("110101001002") == "110101001"
    assert parent_code("110101001") is None
    assert area_of("110101001", "community") is None and area_of("110101001", "division") == "110101"
    assert area_of(CODE, "grid") == CODE
    assert code_problem("110101001", "street") is None
    assert (
        code_problem("11010100", "street")
        == "a street code has 9 digits (6 division + 3 street), got '11010100'"
    )


def test_the_alert_grid_and_the_routing_name_the_same_areas() -> None:
    grid = grid_of(CODE)
    assert grid is not None and (grid.street, grid.community, grid.grid) == (
        "110101001",
        "110101001002",
        CODE,
    )
    assert grid_of(None) is None
    assert routing_for(CODE, None) == Routing(CODE, "110101001002", "110101001")
    assert routing_for(None, None) is None and routing_for("", None) is None


def test_routing_by_the_roster() -> None:
    roster = Roster(
        RosterFile.model_validate(
            {
                "people": {
                    p: {"name": p.upper(), "phone": "13800000000"} for p in ("w1", "w2", "gl1", "cd1", "sd1")
                },
                "grids": {CODE: {"workers": ["w2", "w1"], "leader": "gl1"}},
                "communities": {"110101001002": {"duty": ["cd1"]}},
                "streets": {"110101001": {"duty": ["sd1"]}},
            }
        )
    )
    assert routing_for(CODE, roster) == Routing(CODE, "110101001002", "110101001", "w2", "gl1", "cd1", "sd1")
    # a grid the roster does not name: its community and street still answer
    other = "110101001002009"
    assert routing_for(other, roster) == Routing(other, "110101001002", "110101001", None, None, "cd1", "sd1")
