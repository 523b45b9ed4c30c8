"""Running the scenarios on a git revision's `sentinel` package: a detached `git worktree` of the revision
(kept under the evaluation cache while the run lasts), a folder holding only a link named `sentinel` to
the worktree's package, and one child process per scenario (`bench/_run_one.py`) with that folder first on
PYTHONPATH and the harness's tree after it. The scenarios, clips, camera configs and matching are the
harness's; everything that analyses a frame is the revision's.

A revision given as "." is the tree the harness itself is in. For a committed revision the child's result is
kept under the cache, keyed by (commit, scenario recipe, camera config, runner version): re-running the
same revision on the same scenario reuses it (said in the output as "results reused").
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import _cameras

ROOT = Path(__file__).resolve().parents[1]
RUNNER_VERSION = 1


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class Revision:
    label: str  # what the user named: "main", "i15-eval-after", "."
    sha: str | None  # None: the harness's own working tree (results never reused)
    tree: Path  # the checkout whose `sentinel/` runs
    shim: Path  # a folder holding only `sentinel` -> tree/sentinel
    made_worktree: bool = False
    model: str | None = None  # a model card run instead of the default (`--model`: e.g. the INT8 card)

    @property
    def short(self) -> str:
        return self.sha[:9] if self.sha else "worktree"

    @property
    def sentinel(self) -> Path:
        return self.tree / "sentinel"

    def describe(self) -> str:
        if self.sha is None:
            dirty = _git("status", "--porcelain", "--", "sentinel")
            head = _git("rev-parse", "--short=9", "HEAD")
            return f"{self.label} (this tree, HEAD {head}{', sentinel/ modified' if dirty else ''}){self._with()}"
        return f"{self.label} ({self.short}){self._with()}"

    def _with(self) -> str:
        return f" with {self.model}" if self.model else ""


def prepare(label: str, cache: Path, model: str | None = None) -> Revision:
    """The revision named `label`; `model`: a model card (path, relative to the harness's root or absolute)
    to run instead of the default one -- its label then carries the card's name."""
    if model is not None:
        card = Path(model) if Path(model).is_absolute() else ROOT / model
        if not card.is_file():
            raise SystemExit(f"evaluate: model card {model} not found")
        model = str(card)
    rev = _prepare(label, cache)
    if model is not None:
        rev.model = model
        rev.label = f"{rev.label}+{Path(model).stem}"
    return rev


def _prepare(label: str, cache: Path) -> Revision:
    if label == ".":
        shim = cache / "shims" / "this-tree"
        _link(shim, ROOT / "sentinel")
        return Revision(".", None, ROOT, shim)
    sha = _git("rev-parse", "--verify", f"{label}^{{commit}}")
    tree = cache / "trees" / sha[:12]
    made = False
    if not (tree / "sentinel").is_dir():
        tree.parent.mkdir(parents=True, exist_ok=True)
        _git("worktree", "add", "--detach", str(tree), sha)
        made = True
    shim = cache / "shims" / sha[:12]
    _link(shim, tree / "sentinel")
    if len(label) >= 20 and sha.startswith(label.lower()):  # a commit id: show it short
        label = sha[:9]
    return Revision(label, sha, tree, shim, made)


def cleanup(rev: Revision) -> None:
    if rev.made_worktree:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(rev.tree)], capture_output=True
        )


def _link(shim: Path, target: Path) -> None:
    shim.mkdir(parents=True, exist_ok=True)
    link = shim / "sentinel"
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target, target_is_directory=True)


def result_path(rev: Revision, scenario: Any, cache: Path, detector_cache: bool) -> Path | None:
    if rev.sha is None:
        return None
    # the `base` camera config (twice: the key's first form also held the `i15` profile's hash, which was
    # the same while that profile added nothing); a result of the `i15` profile also records which
    # additions it ran with (`extra_hash`), checked on reuse
    spec = _cameras.spec_hash(scenario.camera, "base") * 2
    if os.environ.get(_cameras.ADAPTIVE_ENV):  # results with the adaptive rate on are kept apart
        spec += f" adaptive {os.environ[_cameras.ADAPTIVE_ENV]}"
    model = f" {Path(rev.model).name}" if rev.model else ""  # the default card keeps its earlier keys
    key = hashlib.sha256(
        f"{RUNNER_VERSION} {scenario.key()} {spec} {detector_cache}{model}".encode()
    ).hexdigest()
    key = key[:12]
    return cache / "results" / rev.sha[:12] / f"{scenario.name}_{key}.json"


def run_in(
    rev: Revision, scenario: Any, cache: Path, detector_cache: bool = True, nice: int = 10
) -> dict[str, Any]:
    """The child's result for `scenario` on `rev` (reused from an earlier run of the same commit if kept)."""
    keep = result_path(rev, scenario, cache, detector_cache)
    if keep is not None and keep.is_file():
        out = json.loads(keep.read_text())
        if out.get("profile") != "i15" or out.get("extra_hash") == _cameras.extra_hash():
            out["reused"] = True
            return out
    jobs = cache / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    tag = f"{rev.short}{'_' + Path(rev.model).stem if rev.model else ''}_{scenario.name}_{os.getpid()}"
    job = {
        "scenario": scenario.name,
        "out": str(jobs / f"{tag}.json"),
        "run_dir": str(
            cache / "runs" / (rev.short + (f"_{Path(rev.model).stem}" if rev.model else "")) / scenario.name
        ),
        "cache_db": str(cache / "detector_cache.sqlite") if detector_cache else None,
        "model": rev.model,
    }
    job_file = jobs / f"{tag}.job.json"
    job_file.write_text(json.dumps(job))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(rev.shim), str(ROOT)])
    env["SENTINEL_EVAL_CACHE"] = str(cache)
    env.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.monotonic()
    cmd = ["nice", "-n", str(nice), sys.executable, str(ROOT / "bench" / "_run_one.py"), str(job_file)]
    proc = subprocess.run(cmd, env=env, cwd=str(rev.shim), capture_output=True, text=True)
    out_file = Path(job["out"])
    if out_file.is_file():
        out = json.loads(out_file.read_text())
        out_file.unlink()
    else:
        out = {"scenario": scenario.name, "error": f"child exited {proc.returncode}: {proc.stderr[-3000:]}"}
    job_file.unlink(missing_ok=True)
    out["wall_seconds"] = time.monotonic() - t0
    out["extra_hash"] = _cameras.extra_hash()
    if keep is not None and "error" not in out:
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_text(json.dumps(out))
    return out
