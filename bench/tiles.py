"""Zone tiles' cost per analysed frame (issue 16): the pictures `CameraPipeline.detector_inputs` makes and the
detector's run over them, without tiles and with the street camera's tiles. Prints; asserts nothing.

    .venv/bin/python bench/tiles.py [--runs 40]

A 1280x720 yuv420p frame (vtest scaled) and vtest's own 768x576; for each: the median milliseconds of
making the detector's input (analysis image; or canvases: analysis image resized into the canvas, crops
converted from the YUV planes) and of the whole `analyse_batch` round, and their ratio to the plain camera
measured in the same process. Run on a quiet machine for figures to quote.
"""

from __future__ import annotations

import argparse
import statistics
import time

import av
import cv2

from bench import _cameras
from sentinel.config.models import CameraConfig
from sentinel.detect.detectors import load_detector
from sentinel.detect.settings import DetectorConfig
from sentinel.detect.tiles import input_size_of
from sentinel.ingest.reader import Frame
from sentinel.pipeline import CameraPipeline
from sentinel.pipeline.batch import analyse_batch
from tests.support.footage import vtest_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    cap = cv2.VideoCapture(str(vtest_path()))
    ok, img = cap.read()
    assert ok
    detector = load_detector(DetectorConfig())
    size = input_size_of(detector)
    zones = [{"name": n, "polygon": p} for n, p in _cameras.STREET_ZONES.items()]
    tiles = ["shopfront", "no_parking", "pavement"]
    for w, h in ((768, 576), (1280, 720)):
        video = av.VideoFrame.from_ndarray(cv2.resize(img, (w, h)), format="bgr24").reformat(format="yuv420p")
        base: dict[str, float] = {}
        for label, names in (("full view", []), ("tiles", tiles)):
            cam = CameraConfig.model_validate(
                {"id": "b", "source": "x.mp4", "zones": zones, "detect_tiles": names}
            )
            settings = DetectorConfig(motion_gate={"enabled": False})  # every frame to the detector
            pipe = CameraPipeline.for_camera(cam, settings, detector.class_names)
            make, round_ = [], []
            for run in range(args.runs + 3):
                frame = Frame("b", None, 0.0, True, 0, video=video)  # fresh: nothing converted yet
                t0 = time.perf_counter()
                pictures = pipe.detector_inputs(frame, size).pictures
                make.append(time.perf_counter() - t0)
                frame = Frame("b", None, 0.0, True, 0, video=video)
                t0 = time.perf_counter()
                analyse_batch([(pipe, frame)], detector)
                if run >= 3:  # after a warm-up
                    round_.append(time.perf_counter() - t0)
            make = make[3:]
            m, r = statistics.median(make) * 1e3, statistics.median(round_) * 1e3
            base.setdefault("m", m)
            base.setdefault("r", r)
            print(f"{w}x{h} {label:9s}: {len(pictures)} picture(s); input {m:6.2f} ms (x{m / base['m']:.2f}), "
                  f"round {r:6.1f} ms (x{r / base['r']:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
