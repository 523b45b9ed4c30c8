"""A roster for the case tests' grid (tests/test_case_engine.py's GRID and ROUTING), built in code."""

from __future__ import annotations

from sentinel.cases.roster import Roster, RosterFile

GRID = "110101001002003"
OTHER_GRID = "110101001002004"  # same community and street, another grid
FAR_GRID = "110101002001001"  # another community, same street


def case_roster() -> Roster:
    """w1, w2 work GRID (leader gl1); w9 works OTHER_GRID (leader gl9); cd1 is GRID's community duty, cd2
    FAR_GRID's; sd1 the street's duty."""
    people = {p: {"name": p.upper(), "phone": "13800000000"} for p in
              ("w1", "w2", "gl1", "w9", "gl9", "w5", "gl5", "cd1", "cd2", "sd1")}  # fmt: skip
    return Roster(
        RosterFile.model_validate(
            {
                "people": people,
                "grids": {
                    GRID: {"workers": ["w1", "w2"], "leader": "gl1"},
                    OTHER_GRID: {"workers": ["w9"], "leader": "gl9"},
                    FAR_GRID: {"workers": ["w5"], "leader": "gl5"},
                },
                "communities": {GRID[:12]: {"duty": ["cd1"]}, FAR_GRID[:12]: {"duty": ["cd2"]}},
                "streets": {GRID[:9]: {"duty": ["sd1"]}},
            }
        )
    )
