"""Bounded input for the YAML files a technician writes (config, camera registry, roster): a file over the
size limit, an alias bomb ("billion laughs") and nesting too deep are each one line and exit 2, and the bomb
is refused without expanding it (the memory of `sentinel check` stays bounded)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from sentinel.cases.roster import load_roster
from sentinel.cli.main import main
from sentinel.config.yaml_source import MAX_BYTES, MAX_VALUES, ConfigError, load_yaml

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def billion_laughs(levels: int = 10) -> str:
    """The classic: each level is a list of nine aliases of the level below; level 9 is 10^9 values."""
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\nsite: {id: laughs}\n"


def check_in_child(config: Path) -> tuple[int, str, int]:
    """Run `sentinel check` in a child process: exit code, output and the child's peak RSS in bytes. The
    child may not grow past 2 GB of address space, so a regression fails the test instead of the machine."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (2048 * MB, 2048 * MB))

    proc = subprocess.Popen(
        [sys.executable, "-m", "sentinel.cli.main", "check", "--config", str(config)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=limit,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.stdout is not None
    out = proc.stdout.read().decode("utf-8", "replace")
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out, usage.ru_maxrss * 1024  # Linux reports kilobytes


def test_billion_laughs_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    small = tmp_path / "small.yaml"  # the same work up to the refusal, without a bomb: the baseline
    small.write_text('a: &a ["lol", "lol"]\nb: [*a, *a]\nsite: {id: laughs}\n', encoding="utf-8")
    base_code, base_out, base_rss = check_in_child(small)
    assert base_code == 2 and "a: unknown key" in base_out, base_out

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs(), encoding="utf-8")
    code, out, rss = check_in_child(bomb)
    assert code == 2, out
    # the first level too big on its own (lol6: 9^7 values) is on line 7
    assert (
        out.strip()
        == f"{bomb}:7: expands to more than {MAX_VALUES} values through YAML aliases: not a config"
    )
    assert rss - base_rss < 200 * MB, (rss, base_rss)


def test_a_bomb_in_the_camera_registry_names_that_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "cameras.yaml"
    registry.write_text(billion_laughs(8).replace("site: {id: laughs}", "cameras: [*lol7]"), encoding="utf-8")
    config = tmp_path / "sentinel.yaml"
    config.write_text("cameras_file: cameras.yaml\n", encoding="utf-8")
    assert main(["check", "--config", str(config)]) == 2
    out = capsys.readouterr()
    text = (out.err + out.out).strip()
    assert text.startswith(f"{registry}:") and "through YAML aliases" in text and "\n" not in text, text


def test_a_bomb_in_the_roster_is_refused(tmp_path: Path) -> None:
    roster = tmp_path / "roster.yaml"
    roster.write_text(billion_laughs(8).replace("site: {id: laughs}", "people: {}"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_roster(roster)
    assert str(err.value) == (
        f"{roster}:7: expands to more than {MAX_VALUES} values through YAML aliases: not a config"
    )


def test_aliases_within_the_bound_still_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(billion_laughs(6), encoding="utf-8")  # lol5: 9^6 = 531441 values, under the bound
    tree = load_yaml(path)
    assert len(tree["lol5"]) == 9 and tree["lol5"][0] is tree["lol4"]


def test_a_file_over_the_size_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("site: {id: big}\n" + "# padding\n" * (MAX_BYTES // 10 + 1), encoding="utf-8")
    assert main(["check", "--config", str(path)]) == 2
    out = capsys.readouterr()
    assert (
        out.err + out.out
    ).strip() == f"{path}: file is larger than {MAX_BYTES} bytes (1 MiB): not a config file"
    at_limit = tmp_path / "padded.yaml"
    at_limit.write_text("site: {id: big}\n" + "#" * (MAX_BYTES - 17) + "\n", encoding="utf-8")
    assert at_limit.stat().st_size == MAX_BYTES
    assert load_yaml(at_limit)["site"]["id"] == "big"


def test_nesting_too_deep_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("site: " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    assert main(["check", "--config", str(path)]) == 2
    out = capsys.readouterr()
    assert (out.err + out.out).strip() == f"{path}: invalid YAML: nested too deeply"
