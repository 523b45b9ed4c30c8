"""Roster checks (FILE:LINE: key.path: message) and `grid_issues`: grid file + roster + cameras together."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from sentinel.cases.grid_check import grid_issues, load_grid
from sentinel.cases.roster import load_roster, read_roster
from sentinel.config.loader import ConfigError, ConfigIssue, load_config_source
from sentinel.geo.cells import GridCells
from sentinel.geo.grid_file import load_cells
from tests.test_geolocate import CAM_LAT, CAM_LON, PinholeCamera, control_points

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CELLS = REPO / "config" / "grid.geojson"
SAMPLE_ROSTER = REPO / "config" / "roster.yaml"


@pytest.fixture(scope="module")
def cells() -> GridCells:
    return load_cells(SAMPLE_CELLS)


def roster_issues(tmp_path: Path, text: str, cells: GridCells | None) -> list[ConfigIssue]:
    path = tmp_path / "roster.yaml"
    path.write_text(text, encoding="utf-8")
    return read_roster(path, cells)[1]


def edited(old: str, new: str) -> str:
    text = SAMPLE_ROSTER.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def described(issues: list[ConfigIssue]) -> list[tuple[int, str, str]]:
    return [(i.line, i.path, i.message) for i in issues]


# ---------------------------------------------------------------- roster


def test_sample_roster_is_clean_and_resolves_each_grid(cells: GridCells) -> None:
    roster = load_roster(SAMPLE_ROSTER, cells)
    assert roster.grid_codes() == sorted(c.code for c in cells.level("grid"))
    north = roster.for_grid("110101001001001")
    assert [p.name for p in north.workers] == ["张丽", "李强"]
    assert north.leader is not None and north.leader.name == "高翔"  # the grid's own leader
    east = roster.for_grid("110101001001002")
    assert east.leader is not None and east.leader.name == "王建国"  # the community's grid leader
    assert [p.id for p in east.community_duty] == ["linna", "wangjianguo"]
    assert [p.phone for p in east.street_duty] == ["010-65120001", "010-65120002"]
    assert roster.person("songjia").email == "songjia@example.org"


def test_unknown_worker(tmp_path: Path, cells: GridCells) -> None:
    text = edited("{workers: [chenjing]}", "{workers: [chenjing, nobody]}")
    assert described(roster_issues(tmp_path, text, cells)) == [
        (
            line_of(text, "nobody"),
            "grids.110101001001003.workers[1]",
            "unknown person 'nobody' (not under people:)",
        )
    ]


def test_unknown_leader_and_duty_person(tmp_path: Path, cells: GridCells) -> None:
    text = edited("leader: gaoxiang}", "leader: gao_xiang}").replace("duty: [hujun]", "duty: [hujun, hujun]")
    assert [(i.path, i.message) for i in roster_issues(tmp_path, text, cells)] == [
        ("grids.110101001001001.leader", "unknown person 'gao_xiang' (not under people:)"),
        ("communities.110101001003.duty[1]", "'hujun' is listed twice"),
    ]


def test_grid_without_a_worker(tmp_path: Path, cells: GridCells) -> None:
    text = edited('  "110101001003003": {workers: [sunyue]}', "")
    assert described(roster_issues(tmp_path, text, cells)) == [
        (
            line_of(text, "grids:"),
            "grids",
            "grid 110101001003003 (御河社区第三网格) has no grid worker (add it under grids:)",
        )
    ]
    text = edited("{workers: [sunyue]}", "{workers: []}")
    assert [(i.path, i.message) for i in roster_issues(tmp_path, text, cells)] == [
        ("grids.110101001003003.workers", "List should have at least 1 item after validation, not 0")
    ]


def test_unknown_grid_code(tmp_path: Path, cells: GridCells) -> None:
    text = edited('  "110101001003003"', '  "110101001003009": {workers: [sunyue]}\n  "110101001003003"')
    assert described(roster_issues(tmp_path, text, cells)) == [
        (
            line_of(text, "110101001003009"),
            "grids.110101001003009",
            "unknown grid 110101001003009: not in the grid file",
        )
    ]


def test_bad_grid_code(tmp_path: Path, cells: GridCells) -> None:
    text = edited('"110101001003003": {workers', '"11010100100300": {workers')
    assert described(roster_issues(tmp_path, text, cells)) == [
        (
            line_of(text, '"11010100100300"'),
            "grids.11010100100300",
            "a grid code has 15 digits (6 division + 3 street + 3 community + 3 grid), got '11010100100300'",
        )
    ]


def test_unquoted_codes_keep_their_lines(tmp_path: Path, cells: GridCells) -> None:
    text = SAMPLE_ROSTER.read_text(encoding="utf-8").replace('"1101', "1101").replace('": {', ": {")
    assert "\n  110101001001003: {workers: [chenjing]}" in text
    assert roster_issues(tmp_path, text, cells) == []
    text = text.replace("[chenjing]", "[chenjing, nobody]")
    assert described(roster_issues(tmp_path, text, cells)) == [
        (
            line_of(text, "nobody"),
            "grids.110101001001003.workers[1]",
            "unknown person 'nobody' (not under people:)",
        )
    ]


def test_people_entries(tmp_path: Path, cells: GridCells) -> None:
    text = edited('phone: "15500001003"', "phone: 15500001003").replace(
        'phone: "15500001004", wecom: ChenJing', "phnoe: x"
    )
    issues = roster_issues(tmp_path, text, cells)
    assert described(issues) == [
        (
            line_of(text, "刘芳"),
            "people.liufang.phone",
            'put phone numbers in quotes ("15500001003"): unquoted, YAML reads a number',
        ),
        (line_of(text, "陈静"), "people.chenjing.phnoe", "unknown key"),
    ]
    text = edited('phone: "15500001005", wecom: YangFan', 'phone: "1234-5"')
    assert [(i.path, i.message) for i in roster_issues(tmp_path, text, cells)] == [
        ("people.yangfan.phone", "not a phone number: '1234-5' (mobile 1xxxxxxxxxx, or 0area-number)")
    ]
    text = edited('phone: "15500001005", wecom: YangFan', "email: yf@example.org")
    assert [(i.path, i.message) for i in roster_issues(tmp_path, text, cells)] == [
        ("people.yangfan", "give a phone or a wecom id: a case needs a way to reach this person")
    ]


def test_escalation_chain_must_not_end_early(tmp_path: Path, cells: GridCells) -> None:
    text = edited("{grid_leader: heping, duty: [hujun]}", "{duty: []}")
    assert [(i.path, i.message) for i in roster_issues(tmp_path, text, cells)] == [
        *(
            (
                f"grids.11010100100300{k}",
                f"grid 11010100100300{k} has no grid leader (set leader: here, or grid_leader: under "
                "communities: 110101001003)",
            )
            for k in (1, 2, 3)
        ),
        (
            "communities.110101001003",
            "community 110101001003 has no duty staff (add duty: [...] under communities: 110101001003)",
        ),
    ]
    text = edited('  "110101001": {duty: [luobin, songjia]}', "")
    assert [(i.path, i.message) for i in roster_issues(tmp_path, text, cells)] == [
        ("streets", "street 110101001 has no duty staff (add duty: [...] under streets: 110101001)")
    ]


def test_roster_without_cells_and_broken_yaml(tmp_path: Path) -> None:
    assert roster_issues(tmp_path, SAMPLE_ROSTER.read_text(encoding="utf-8"), None) == []
    text = "people:\n  a: {name: A, phone: '15500000000'\ngrids: {}\n"
    issues = roster_issues(tmp_path, text, None)
    assert len(issues) == 1 and issues[0].message.startswith("invalid YAML") and issues[0].line == 3
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_roster(tmp_path / "roster.yaml")


# ---------------------------------------------------------------- grid_issues: grid + roster + cameras


def site(tmp_path: Path, cameras: str = "", grid: str = "{cells: grid.geojson, roster: roster.yaml}") -> Path:
    shutil.copy(SAMPLE_CELLS, tmp_path / "grid.geojson")
    shutil.copy(SAMPLE_ROSTER, tmp_path / "roster.yaml")
    path = tmp_path / "sentinel.yaml"
    body = (
        f"grid: {grid}\ncameras:\n" + textwrap.indent(textwrap.dedent(cameras), "  ")
        if cameras
        else f"grid: {grid}\n"
    )
    path.write_text(body, encoding="utf-8")
    return path


def issues_of(path: Path) -> list[ConfigIssue]:
    config, source = load_config_source(path)
    return grid_issues(config, source)


CAMERA = """\
- id: cam1
  source: /tmp/none.mp4
  location: {lon: 116.3975, lat: 39.9087}
  grid: "110101001001001"
"""


def test_shipped_sample_config_has_no_grid_issues() -> None:
    config, source = load_config_source(REPO / "config" / "sentinel.yaml")
    assert grid_issues(config, source) == []
    data = load_grid(config, source)
    assert data.cells is not None and data.roster is not None and len(data.cells) == 14


def test_camera_grid_code_and_location(tmp_path: Path) -> None:
    path = site(
        tmp_path, CAMERA.replace("110101001001001", "110101001001009").replace("116.3975", "116.3900")
    )
    text = path.read_text(encoding="utf-8")
    assert described(issues_of(path)) == [
        (
            line_of(text, 'grid: "1101'),
            "cameras[0].grid",
            "unknown grid 110101001001009: not in grid.geojson",
        ),
        (
            line_of(text, "location:"),
            "cameras[0].location",
            "lon 116.39, lat 39.9087 is outside every grid cell of grid.geojson (WGS-84 expected: a point picked "
            "on AMap/Tencent (GCJ-02) or Baidu (BD-09) is off by hundreds of metres)",
        ),
    ]


def homography_yaml(points: list[dict[str, object]]) -> str:
    return "  homography:\n" + "".join(f"    - {json.dumps(p)}\n" for p in points)


def test_good_homography_passes(tmp_path: Path) -> None:
    points = [p.model_dump() for p in control_points(PinholeCamera())]
    assert issues_of(site(tmp_path, CAMERA + homography_yaml(points))) == []


def test_homography_problems(tmp_path: Path) -> None:
    points = [p.model_dump() for p in control_points(PinholeCamera())]
    bad = dict(points[3])
    lon, lat = bad["ground"]
    bad["ground"] = [lon + 0.0003, lat]  # a mis-click 26 m east
    path = site(tmp_path, CAMERA + homography_yaml([*points[:3], bad, *points[4:]]))
    text = path.read_text(encoding="utf-8")
    [issue] = issues_of(path)
    assert (issue.line, issue.path) == (line_of(text, str(bad["ground"][0])), "cameras[0].homography[3]")
    assert issue.message.startswith("control point 3 is 2")
    assert issue.message.endswith(
        " m from where the homography puts it (an outlier the fit left out; limit 2 m): re-pick it"
    )

    path = site(tmp_path, CAMERA + homography_yaml(points[:3]))
    assert [(i.path, i.message) for i in issues_of(path)] == [
        ("cameras[0].homography", "a homography needs at least 4 control points (better 6–10), got 3")
    ]

    swapped = [dict(p, ground=list(reversed(p["ground"]))) for p in points]
    path = site(tmp_path, CAMERA + homography_yaml(swapped))
    issues = issues_of(path)
    assert len(issues) == len(points)
    assert (issues[0].path, issues[0].message) == (
        "cameras[0].homography[0].ground",
        "ground is [lon, lat] in WGS-84 degrees; looks like [lat, lon]",
    )

    collinear = [dict(p, image=[0.5, 0.4 + 0.05 * k]) for k, p in enumerate(points)]
    path = site(tmp_path, CAMERA + homography_yaml(collinear))
    assert [(i.path, i.message) for i in issues_of(path)] == [
        ("cameras[0].homography", "the image points are (nearly) on one line; spread them over the ground")
    ]


def test_control_points_far_from_the_camera(tmp_path: Path) -> None:
    far = [p.model_dump() for p in control_points(PinholeCamera(), lon0=CAM_LON + 0.02, lat0=CAM_LAT)]
    path = site(tmp_path, CAMERA + homography_yaml(far))
    [issue] = issues_of(path)
    assert issue.path == "cameras[0].location"
    assert issue.message.startswith("the nearest control point is 17") and "same datum" in issue.message


def test_missing_files_point_at_the_config(tmp_path: Path) -> None:
    path = site(tmp_path, grid="{cells: nowhere.geojson, roster: roster.yaml}")
    issues = issues_of(path)
    assert [(i.file, i.line, i.path, i.message) for i in issues] == [
        (path, 1, "grid.cells", f"file not found: {tmp_path / 'nowhere.geojson'}")
    ]  # the roster is still checked, alone: it is clean


def test_grid_and_roster_issues_are_included(tmp_path: Path) -> None:
    path = site(tmp_path, CAMERA)
    doc = json.loads((tmp_path / "grid.geojson").read_text(encoding="utf-8"))
    doc["features"][-1]["properties"]["code"] = "110101001003000"
    (tmp_path / "grid.geojson").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    issues = issues_of(path)
    assert [(i.file.name, i.path, i.message) for i in issues] == [
        (
            "grid.geojson",
            "features[13].properties.code",
            "code: the grid part of 110101001003000 (digits 13–15) is all zeros",
        ),
        ("roster.yaml", "grids.110101001003003", "unknown grid 110101001003003: not in the grid file"),
    ]
