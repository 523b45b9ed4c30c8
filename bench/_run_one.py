"""One scenario replayed by one revision's `sentinel` (a child process of bench/evaluate.py).

    python -m bench._run_one JOB.json

The parent puts the revision's `sentinel` package first on PYTHONPATH (a folder holding only a link to it)
and the harness's own tree after it, so `bench` and `tests.support` (scenarios, footage) are the harness's
and every part of the analysis -- config models, replay, CameraPipeline, rules, detector -- is the
revision's. Writes the alerts, in media seconds from the clip's start, to the job's `out` file as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any


def profile_for() -> str:
    """`i15` when this revision's config models take every key of `bench._cameras.PROFILE_EXTRA`."""
    from bench import _cameras
    from sentinel.config import models

    if not _cameras.PROFILE_EXTRA:
        return "base"
    kinds = {
        "count_in_zone": "CountInZoneRule",
        "static_object": "StaticObjectRule",
        "dwell": "DwellRule",
        "camera_health": "CameraHealthRule",
        "scene_change": "SceneChangeRule",
        "camera": "CameraConfig",
    }
    for where, key, _ in _cameras.PROFILE_EXTRA:
        cls = getattr(models, kinds[where], None)
        if cls is None or key not in cls.model_fields:
            return "base"
    return "i15"


def run(job: dict[str, Any]) -> dict[str, Any]:
    import sentinel
    from bench import _cameras
    from bench._detcache import CachedDetector, for_config
    from bench.scenarios import scenarios, write_clip
    from sentinel.config.models import CameraConfig, SentinelConfig
    from sentinel.detect.detectors import load_detector
    from sentinel.replay.runner import replay

    out: dict[str, Any] = {
        "scenario": job["scenario"],
        "alerts": [],
        "sentinel": str(Path(sentinel.__file__).parent),
    }
    s = next(x for x in scenarios() if x.name == job["scenario"])
    clip = write_clip(s)
    profile = job.get("profile") or profile_for()
    out["profile"] = profile
    cam_id = s.name.replace(".", "_")[:64]
    spec = _cameras.spec(s.camera, cam_id, profile)
    if "min_analyze_fps" in CameraConfig.model_fields:  # a revision before the adaptive rate runs without
        spec = _cameras.adaptive(spec, os.environ.get(_cameras.ADAPTIVE_ENV, ""))
    if "detect_tiles" not in CameraConfig.model_fields:  # a revision before zone tiles (issue 16): full view
        spec.pop("detect_tiles", None)
    cam = CameraConfig.model_validate(spec)
    config = SentinelConfig(cameras=[cam])
    if job.get("model"):  # another model card (e.g. INT8) than the default one
        config = SentinelConfig(cameras=[cam], detector={"model": job["model"]})
    out["model"] = str(config.detector.model)
    if job.get("cache_db"):
        detector: Any = for_config(Path(job["cache_db"]), config)
    else:
        detector = load_detector(config.detector)
    run_dir = Path(job["run_dir"])
    shutil.rmtree(run_dir, ignore_errors=True)  # a reference view left by an earlier run would be reused
    t0 = time.monotonic()
    cpu0 = time.process_time()
    replayed = replay(clip, config, cam.id, run_dir, detector, annotated=False)
    out["run_seconds"] = time.monotonic() - t0
    out["cpu_seconds"] = time.process_time() - cpu0
    out["frames"], out["media_seconds"] = replayed.frames, replayed.media_seconds
    out["frames_inferred"] = replayed.frames_inferred
    out["frames_decoded"] = getattr(replayed, "frames_decoded", None)  # revisions before it: None
    if isinstance(detector, CachedDetector):
        detector.close()
        out["cache"] = {"hits": detector.hits, "misses": detector.misses, "signature": detector.signature,
                        "detector_seconds": detector.detector_seconds}  # fmt: skip
    origin = replayed.media_origin
    for a in replayed.alerts:
        at = datetime.fromisoformat(a.detected_at).timestamp() - origin
        started = datetime.fromisoformat(a.started_at).timestamp() - origin
        out["alerts"].append(
            {
                "event_type": a.event_type,
                "at": round(at * s.fps) / s.fps,
                "started": round(started * s.fps) / s.fps,
                "detail": a.detail,
                "boxes": [list(o.box) for o in a.objects],
                "severity": getattr(a, "severity", None),
            }
        )
    return out


def main() -> int:
    job = json.loads(Path(sys.argv[1]).read_text())
    try:
        import cv2

        cv2.setNumThreads(1)
        result = run(job)
    except Exception as exc:
        result = {
            "scenario": job["scenario"],
            "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}",
        }
    tmp = Path(job["out"] + ".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(job["out"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
