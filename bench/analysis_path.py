"""The analysis path per camera, change by change (issue 7): what each step costs, old way against new way,
measured in the same process, alternating, as medians (the machine is shared: figures are noisy).

  convert  CPU per analysed frame of 720p keyframes, excluding inference: the old path (full-resolution BGR,
           detector preprocessing and image rules on it) against the new one (grey thumbnail from the luma
           plane for the motion gate; a 640-wide BGR made straight from YUV for detector and image rules;
           a gated frame needs the thumbnail only)
  gate     the worker's analysis round (`sentinel.pipeline.analyse_batch` over `CameraPipeline`, real
           NanoDet detector, count_in_zone rule) with the motion gate against without it: detector runs,
           CPU per analysed frame, and whether the detections of skipped frames agree with what the
           detector would have found
  batch    one batched ONNX run over N frames against N runs of the batch-1 graph (a batch-N copy of the
           NanoDet graph, made by editing its input and reshape shapes)
  decode   the reader decoding every frame (`decode: all`, GOP longer than the analysis interval) with and
           without skipping the rest of a GOP once the next sample is due at the next keyframe: frames
           decoded and reader CPU per analysed second, 720p at 1 fps, GOP 2 s and 4 s
  adaptive `sentinel replay`'s path (reader, motion gate, real NanoDet, count_in_zone) over a quiet clip (a still
           view with sensor noise for 110 s, then 10 s of people) and a busy one (vtest, people throughout),
           768x576 with a keyframe a second, at 1 fps with the adaptive rate off (min_analyze_fps 1) and on
           (down to 0.25 fps after 10 s still): frames analysed, inferences, frames decoded and process CPU
           per camera-second, on against off
  ingest   the reader's CPU per camera-second stage by stage (demux, the per-packet loop, the clip ring,
           keyframe decode), before and after issue 19's per-packet work (bench/_ingest.py); `--rtsp S`
           adds S seconds of the same on the GStreamer RTSP test server (real time)
  memory   RSS/PSS per camera of 16 readers on the local 720p file (one child process per variant):
           decoder threads, full BGR in the mailbox or the lazy frame, the clip packet ring

    .venv/bin/python bench/analysis_path.py [--only convert,gate,batch,decode,adaptive,ingest,memory] [--rtsp 0] [--readers 16] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from sentinel.config.models import CameraConfig, DetectorConfig, MotionGateConfig  # noqa: E402
from sentinel.detect.detections import Detections  # noqa: E402
from sentinel.detect.motion_gate import MotionGate  # noqa: E402
from sentinel.ingest.reader import Frame, StreamReader  # noqa: E402
from sentinel.pipeline import CameraPipeline, analyse_batch, camera_rules  # noqa: E402
from tests.support.footage import crowd_then_empty, still_then_vtest, vtest_h264  # noqa: E402

ANALYSIS_WIDTH = 640


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (2-core machine shared with others)"


def keyframes(path: Path, every: int = 1, limit: int = 1000) -> list[av.VideoFrame]:
    """The decoded keyframes of a file (every `every`-th), as the reader's decoder gives them."""
    out: list[av.VideoFrame] = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_count, s.codec_context.skip_frame = 1, "NONKEY"
        for n, frame in enumerate(c.decode(s)):
            if n % every == 0:
                out.append(frame)
            if len(out) >= limit:
                break
    return out


def cpu_ms(fn: Callable[[], object]) -> float:
    t0 = time.thread_time()
    fn()
    return (time.thread_time() - t0) * 1000.0


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------- convert


def bench_convert(rounds: int) -> None:
    from sentinel.detect.detectors import load_detector

    print("\n== convert: CPU per analysed frame without inference, 720p keyframes (ms, thread CPU) ==")
    frames = keyframes(vtest_h264(), limit=24)
    det: Any = load_detector(DetectorConfig().model)
    buf = np.empty((3, 416, 416), np.float32)
    image_rules = [
        {"kind": "static_object", "event_type": "garbage_exposed", "min_duration": 60},
        {"kind": "scene_change", "event_type": "illegal_construction"},
        {"kind": "camera_health", "event_type": "camera_tampered"},
    ]
    cam = CameraConfig.model_validate({"id": "b", "source": "/x", "rules": image_rules})
    rules = {k: camera_rules(cam, det.class_names, None) for k in ("old", "new")}
    gate = MotionGate(MotionGateConfig(max_skip=3600))
    ts = {"old": 0.0, "new": 0.0}
    empty = Detections.empty()

    def run_rules(kind: str, image: np.ndarray) -> None:
        from sentinel.detect.rules import FrameContext

        ts[kind] += 2.0
        for r in rules[kind]:
            r.evaluate(FrameContext("b", ts[kind], empty, image, None))

    def old_boxes(f: Frame) -> None:  # before: the reader converted to full BGR, the detector shrank it
        det.preprocess_into(f.image, buf)

    def new_open(f: Frame) -> None:  # gate says run: thumbnail, 640 BGR from YUV, preprocess that
        gate.decide(f.thumbnail(*gate.thumbnail_size(f.width, f.height)), 0.0)
        det.preprocess_into(f.analysis_image(ANALYSIS_WIDTH), buf)

    def new_nogate(f: Frame) -> None:  # gate disabled: 640 BGR from YUV, preprocess that
        det.preprocess_into(f.analysis_image(ANALYSIS_WIDTH), buf)

    def new_gated(f: Frame) -> None:  # gate says skip: the thumbnail is all
        gate.decide(f.thumbnail(*gate.thumbnail_size(f.width, f.height)), 0.0)

    def old_rules(f: Frame) -> None:
        old_boxes(f)
        run_rules("old", f.image)

    def new_rules(f: Frame) -> None:
        new_open(f)
        run_rules("new", f.analysis_image(ANALYSIS_WIDTH))

    cases: dict[str, Callable[[Frame], None]] = {
        "boxes-only camera, old (full BGR + preprocess)": old_boxes,
        "boxes-only camera, new, gate disabled": new_nogate,
        "boxes-only camera, new, gate open": new_open,
        "boxes-only camera, new, gated": new_gated,
        "image rules camera, old (full BGR)": old_rules,
        "image rules camera, new (640 from YUV)": new_rules,
    }
    for vf in frames[:12]:  # warm up: reference views, background models
        run_rules("old", Frame("b", None, 0, True, 0, video=vf).image)
        run_rules("new", Frame("b", None, 0, True, 0, video=vf).analysis_image(ANALYSIS_WIDTH))
    times: dict[str, list[float]] = {k: [] for k in cases}
    names = list(cases)
    for rnd in range(rounds):
        for i, vf in enumerate(frames):
            order = names[(i + rnd) % len(names) :] + names[: (i + rnd) % len(names)]
            for name in order:  # a fresh Frame each time: nothing cached between variants
                f = Frame("b", None, 0.0, True, i, video=vf)
                times[name].append(cpu_ms(lambda f=f, name=name: cases[name](f)))
    base = med(times[names[0]])
    base_rules = med(times[names[4]])
    for name in names:
        ref = base if name.startswith("boxes") else base_rules
        print(f"  {name:48s} {med(times[name]):6.2f} ms   x{ref / med(times[name]):5.2f} vs old")
    f = Frame("b", None, 0.0, True, 0, video=frames[0])
    parts = {
        "full BGR (to_ndarray bgr24)": lambda: Frame("b", None, 0, True, 0, video=frames[0]).image,
        "640x360 BGR from YUV planes": lambda: Frame("b", None, 0, True, 0, video=frames[0]).analysis_image(
            640
        ),
        "640x360 BGR by swscale reformat": lambda: frames[0].reformat(640, 360, format="bgr24").to_ndarray(),
        "96x54 grey thumbnail from luma": lambda: Frame("b", None, 0, True, 0, video=frames[0]).thumbnail(
            96, 54
        ),
        "preprocess 1280x720 -> 416 (letterbox + normalise)": lambda: det.preprocess_into(f.image, buf),
        "preprocess 640x360 -> 416 (letterbox + normalise)": lambda: det.preprocess_into(
            f.analysis_image(640), buf
        ),
    }
    ptimes: dict[str, list[float]] = {k: [] for k in parts}
    for _ in range(rounds * 20):
        for k, fn in parts.items():
            ptimes[k].append(cpu_ms(fn))
    print("  parts (median):")
    for k, v in ptimes.items():
        print(f"    {k:40s} {med(v):6.3f} ms")
    print(
        f"  full BGR frame {1280 * 720 * 3 / 1e6:.2f} MB vs 640x360 BGR {640 * 360 * 3 / 1e6:.2f} MB per analysed frame"
    )
    print("  " + load())


# ---------------------------------------------------------------- gate


def iou_match(a: Detections, b: Detections, thr: float = 0.5) -> tuple[int, int]:
    """(boxes of `b` matched by a box of `a` at IoU >= thr, boxes in `b`)."""
    if len(b) == 0:
        return 0, 0
    if len(a) == 0:
        return 0, len(b)
    x1 = np.maximum(a.xyxy[:, None, 0], b.xyxy[None, :, 0])
    y1 = np.maximum(a.xyxy[:, None, 1], b.xyxy[None, :, 1])
    x2 = np.minimum(a.xyxy[:, None, 2], b.xyxy[None, :, 2])
    y2 = np.minimum(a.xyxy[:, None, 3], b.xyxy[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda d: (d.xyxy[:, 2] - d.xyxy[:, 0]) * (d.xyxy[:, 3] - d.xyxy[:, 1])  # noqa: E731
    iou = inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)
    return int((iou.max(axis=0) >= thr).sum()), len(b)


def still_view_clip(seconds: int = 80) -> Path:
    """A still 720p view (a vtest frame without its moving people: the per-pixel median of its keyframes)
    with sensor noise (sigma 3 grey levels, new every frame), H.264 at 0.5 fps of keyframes."""
    path = REPO / "var" / "cache" / "footage" / f"still_view_{seconds}s_v1.mp4"
    if path.is_file():
        return path
    frames = [f.to_ndarray(format="bgr24") for f in keyframes(vtest_h264(), limit=15)]
    background = np.median(np.stack(frames), axis=0).astype(np.float32)
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"g": "50", "keyint_min": "50", "sc_threshold": "0", "preset": "veryfast"}
        for _ in range(seconds // 2):  # one keyframe per 2 s is all the analysis decodes
            img = np.clip(background + rng.normal(0, 3.0, background.shape), 0, 255).astype(np.uint8)
            vf = av.VideoFrame.from_ndarray(img, format="bgr24")
            vf.pict_type = av.video.frame.PictureType.I
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)
    return path


def bench_gate(rounds: int) -> None:
    from sentinel.detect.detectors import load_detector

    print("\n== gate: analysis round with / without the motion gate, real NanoDet, 0.5 fps ==")
    det: Any = load_detector(DetectorConfig().model)
    footage = {
        "vtest 720p (busy plaza, people always moving)": keyframes(vtest_h264(), limit=40),
        "crowd 20 s then empty 40 s (768x576)": keyframes(crowd_then_empty(), every=2, limit=30),
        "still 720p view + sensor noise, through H.264": keyframes(still_view_clip(), limit=40),
    }
    rule = [{"kind": "count_in_zone", "event_type": "crowd_gathering", "min_count": 3, "min_duration": 10}]
    cam = CameraConfig.model_validate(
        {"id": "g", "source": "/x", "clip_pre": 0, "clip_post": 0, "rules": rule}
    )
    for label, frames in footage.items():
        cpu: dict[str, list[float]] = {"ungated": [], "gated": []}
        runs = {"ungated": 0, "gated": 0}
        matched = total = 0
        count_err: list[int] = []
        for rnd in range(rounds):
            pipes = {
                "ungated": CameraPipeline(
                    cam, camera_rules(cam, det.class_names, None), MotionGateConfig(enabled=False), ANALYSIS_WIDTH,
                ),
                "gated": CameraPipeline(
                    cam, camera_rules(cam, det.class_names, None), MotionGateConfig(), ANALYSIS_WIDTH
                ),
            }  # fmt: skip
            for i, vf in enumerate(frames):
                ts = 1000.0 + 2.0 * i
                order = ["ungated", "gated"] if (i + rnd) % 2 == 0 else ["gated", "ungated"]
                for name in order:
                    f = Frame("g", None, ts, True, i, video=vf)
                    box: list[int] = []
                    cpu[name].append(
                        cpu_ms(
                            lambda p=pipes[name], f=f, box=box: box.append(
                                analyse_batch([(p, f)], det).inferred
                            )
                        )
                    )
                    runs[name] += box[0]
                a, b = pipes["gated"].last_dets, pipes["ungated"].last_dets
                assert a is not None and b is not None
                m, n = iou_match(a, b)
                matched, total = matched + m, total + n
                count_err.append(abs(len(a) - len(b)))
        n_frames = len(frames) * rounds
        mean = {k: statistics.fmean(v) for k, v in cpu.items()}
        print(f"  {label}: {len(frames)} frames x {rounds} rounds")
        for k in ("ungated", "gated"):
            print(
                f"    {k:8s} detector ran on {runs[k]:4d}/{n_frames} frames ({100 * runs[k] / n_frames:5.1f} %)   "
                f"CPU per analysed frame: median {med(cpu[k]):6.2f} ms, mean {mean[k]:6.2f} ms"
            )
        share = 100.0 * matched / total if total else 100.0
        print(
            f"    gain x{mean['ungated'] / mean['gated']:.2f} (mean CPU per frame); gated detections agree with "
            f"fresh ones: {share:.1f} % of boxes matched (IoU >= 0.5), median |count diff| {med(count_err):.0f}, "
            f"max {max(count_err)}"
        )
    print("  " + load())


# ---------------------------------------------------------------- batch


def batch_variant(model: Path, n: int) -> Path:
    """A copy of the NanoDet graph with batch n: input dim 0 and the head's reshape targets [1, C, -1]."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(model))
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = n
    for init in m.graph.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.int64 and a.shape == (3,) and a[0] == 1 and a[2] == -1:  # Reshape targets
            b = a.copy()
            b[0] = n
            init.CopyFrom(numpy_helper.from_array(b, init.name))
    path = Path(tempfile.gettempdir()) / f"nanodet-batch{n}-{os.getpid()}.onnx"
    onnx.save(m, str(path))
    return path


def bench_batch(rounds: int) -> None:
    import onnxruntime as ort

    from sentinel.detect.detectors import load_detector

    print("\n== batch: batch-N graph vs N runs of the batch-1 graph (1 intra-op thread, ms per frame) ==")
    det: Any = load_detector(DetectorConfig().model)
    model = det.model_path
    frames = keyframes(vtest_h264(), limit=8)
    x = np.empty((8, 3, 416, 416), np.float32)
    for i, vf in enumerate(frames):
        det.preprocess_into(Frame("b", None, 0, True, 0, video=vf).analysis_image(ANALYSIS_WIDTH), x[i])

    def session(path: Path) -> Any:
        o = ort.SessionOptions()
        o.intra_op_num_threads, o.inter_op_num_threads = 1, 1
        o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])

    one = session(model)
    name = one.get_inputs()[0].name
    for n in (2, 4, 8):
        path = batch_variant(model, n)
        many = session(path)
        ref = [one.run(None, {name: x[i : i + 1]}) for i in range(n)]
        got = many.run(None, {name: x[:n]})
        diff = max(float(np.abs(got[k][i] - ref[i][k][0]).max()) for k in range(len(got)) for i in range(n))
        loop_ms: list[float] = []
        batch_ms: list[float] = []
        for r in range(rounds * 3):
            pair = [
                (loop_ms, lambda n=n: [one.run(None, {name: x[i : i + 1]}) for i in range(n)]),
                (batch_ms, lambda n=n, many=many: many.run(None, {name: x[:n]})),
            ]
            for target, fn in pair if r % 2 == 0 else pair[::-1]:
                target.append(cpu_ms(fn) / n)
        path.unlink(missing_ok=True)
        gain = med(loop_ms) / med(batch_ms)
        print(
            f"  N={n}: loop {med(loop_ms):6.1f} ms/frame, batched {med(batch_ms):6.1f} ms/frame, "
            f"gain x{gain:.2f} (max output diff {diff:.1e})"
        )
    print("  batching pays only above x1.15: the worker keeps running frames one by one")
    print("  " + load())


# ---------------------------------------------------------------- memory


def smaps() -> tuple[float, float]:
    """(RSS, PSS) of this process in MB."""
    vals = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] in ("Rss:", "Pss:"):
            vals[parts[0]] = int(parts[1]) / 1024.0
    return vals["Rss:"], vals["Pss:"]


MEMORY_VARIANTS = {
    "old: 1 thread, full BGR converted in the reader": dict(threads=1, ttype="SLICE", lazy=False, ring=False),
    "new: 1 thread, lazy frame (YUV kept)": dict(threads=1, ttype="SLICE", lazy=True, ring=False),
    "PyAV default: auto threads, slice": dict(threads=0, ttype="SLICE", lazy=True, ring=False),
    "FFmpeg default: auto threads, frame+slice": dict(threads=0, ttype="AUTO", lazy=True, ring=False),
    "new + clip packet ring (10 s + slack)": dict(threads=1, ttype="SLICE", lazy=True, ring=True),
}


def memory_child(variant: str, readers: int, seconds: float) -> None:
    """Runs in a child process: `readers` cameras on the 720p file in real time, one-frame mailboxes taken
    every 2 s by an analysis stand-in; prints JSON with RSS/PSS before and after."""
    from sentinel.pipeline.clips import ring_for

    v = MEMORY_VARIANTS[variant]
    clip = vtest_h264()
    StreamReader.decode_threads = int(v["threads"])  # type: ignore[call-overload]
    StreamReader.thread_type = str(v["ttype"])
    cv2.setNumThreads(1)
    Frame("w", np.zeros((720, 1280, 3), np.uint8), 0, True, 0).analysis_image(640)  # warm code paths
    time.sleep(0.5)
    before = smaps()
    boxes: dict[str, Frame | None] = {}
    lock = threading.Lock()
    rings = []
    lag: list[float] = []
    readers_: list[StreamReader] = []
    for i in range(readers):
        cam = CameraConfig.model_validate(
            {"id": f"c{i}", "source": str(clip), "decode": "keyframes", "analyze_fps": 0.5, "realtime": True}
        )

        def on_frame(f: Frame, lazy: bool = bool(v["lazy"])) -> None:
            if not lazy:
                f = Frame(f.camera_id, f.image, f.ts, f.keyframe, f.seq)  # as before: BGR made in the reader
            with lock:
                boxes[f.camera_id] = f

        ring = ring_for(10.0, 10.0) if v["ring"] else None
        if ring is not None:
            rings.append(ring)
        reader = StreamReader(
            cam, on_frame, lambda s: None, on_packet=ring.offer if ring is not None else None
        )
        readers_.append(reader)
        reader.start()
        time.sleep(0.05)
    end = time.monotonic() + seconds
    peak = before
    while time.monotonic() < end:
        time.sleep(2.0)
        with lock:
            taken = [f for f in boxes.values() if f is not None]
            boxes.clear()
        for f in taken:
            f.analysis_image(640)
            lag.append(time.time() - f.ts)
        del taken
        now = smaps()
        peak = (max(peak[0], now[0]), max(peak[1], now[1]))
    after = smaps()
    ring_bytes = sum(getattr(r, "_bytes", 0) for r in rings)
    for r in readers_:
        r.stop()
    delivered = sum(r.status().frames_delivered for r in readers_)
    print(
        json.dumps(
            {
                "before": before,
                "after": after,
                "peak": peak,
                "ring_bytes": ring_bytes,
                "delivered": delivered,
                "lag_median": med(lag),
            }  # fmt: skip
        )
    )
    os._exit(0)


def bench_memory(readers: int, seconds: float, repeats: int) -> None:
    print(
        f"\n== memory: {readers} readers, 720p H.264 GOP 50 keyframes at 0.5 fps, real time, {seconds:g} s =="
    )
    print("  (one child process per variant and repeat; per camera = (after - before) / readers)")
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in MEMORY_VARIANTS}
    for rep in range(repeats):
        names = list(MEMORY_VARIANTS) if rep % 2 == 0 else list(MEMORY_VARIANTS)[::-1]
        for name in names:
            proc = subprocess.run(
                [sys.executable, __file__, "--memory-child", name, str(readers), str(seconds)],
                capture_output=True, text=True, timeout=seconds + 120,
            )  # fmt: skip
            line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
            if proc.returncode != 0 or not line.startswith("{"):
                print(f"  {name}: failed: {proc.stderr[-500:]}")
                continue
            results[name].append(json.loads(line))
    for name, rs in results.items():
        if not rs:
            continue
        rss = med([(r["after"][0] - r["before"][0]) / readers for r in rs])
        pss = med([(r["after"][1] - r["before"][1]) / readers for r in rs])
        peak = med([(r["peak"][1] - r["before"][1]) / readers for r in rs])
        ring = med([r["ring_bytes"] / readers / 1e6 for r in rs])
        got = med([r["delivered"] / readers for r in rs])
        expected = seconds * 0.5
        extra = f", ring {ring:.2f} MB" if ring else ""
        print(
            f"  {name:46s} RSS {rss:5.2f} MB  PSS {pss:5.2f} MB (peak {peak:5.2f}) per camera{extra}; "
            f"frames delivered {got:4.1f} of ~{expected:.0f} per camera"
        )
    print("  decoder output lag, keyframes only (720p GOP 50 = one keyframe per 2 s):")
    for threads, ttype in ((1, "SLICE"), (0, "SLICE"), (2, "FRAME"), (0, "AUTO")):
        first, out, used = decode_lag(threads, ttype)
        print(
            f"    thread_count {threads} ({used} used), {ttype:5s}: first picture out after keyframe packet {first}"
            f" -> every picture {2.0 * (first - 1):.0f} s late; {out} pictures for 20 packets"
        )
    print("  " + load())


def decode_lag(threads: int, ttype: str) -> tuple[int, int, int]:
    """(keyframe packets in before the first picture comes out, pictures out for 20 packets, threads used)."""
    with av.open(str(vtest_h264())) as c:
        s = c.streams.video[0]
        s.thread_count, s.thread_type, s.codec_context.skip_frame = threads, ttype, "NONKEY"
        sent, first, out = 0, 0, 0
        for p in c.demux(s):
            if p.size == 0 or not p.is_keyframe:
                continue
            sent += 1
            n = len(p.decode())
            if n and not first:
                first = sent
            out += n
            if sent >= 20:
                break
        return first, out, int(s.codec_context.thread_count)


def read_through(clip: Path, frames: int, skip: bool, slack: bool = True) -> tuple[float, int]:
    """(reader CPU ms, frames decoded) to deliver `frames` samples at 1 fps from `clip`, read as fast as
    it decodes; `skip=False` turns off skipping the rest of a GOP (the reader as it was), `slack=False`
    sampling a keyframe just after the due time."""
    import sentinel.ingest.reader as reader_module

    done = threading.Event()
    got: list[Frame] = []

    def on_frame(f: Frame) -> None:
        got.append(f)
        if len(got) >= frames:
            done.set()

    cam = CameraConfig.model_validate(
        {"id": "d", "source": str(clip), "decode": "all", "analyze_fps": 1.0, "realtime": False}
    )
    original, original_slack = reader_module.rest_of_gop_unneeded, reader_module.KEYFRAME_SLACK
    if not slack:
        reader_module.KEYFRAME_SLACK = 0.0
    if not skip:
        reader_module.rest_of_gop_unneeded = lambda *a: False  # type: ignore[assignment]
    try:
        reader = StreamReader(cam, on_frame, lambda s: None)
        c0 = time.process_time()  # the process's CPU: the reader thread's, this one only waits
        reader.start()
        done.wait(120)
        reader.stop()
        reader.join(10)
        return (time.process_time() - c0) * 1000.0, reader.status().frames_decoded
    finally:
        reader_module.rest_of_gop_unneeded, reader_module.KEYFRAME_SLACK = original, original_slack


def bench_decode(rounds: int) -> None:
    frames = 60
    print(f"decode: every frame vs up to the sample, 720p 25 fps analysed at 1 fps, {frames} samples")
    for gop in (50, 100):
        clip = vtest_h264(1280, 720, fps=25, gop=gop)
        rows: dict[bool, list[tuple[float, int]]] = {True: [], False: []}
        for _ in range(rounds):
            for skip in (False, True):  # alternating: the machine is shared
                rows[skip].append(read_through(clip, frames, skip))
        full_ms, part_ms = med([r[0] for r in rows[False]]), med([r[0] for r in rows[True]])
        full_n, part_n = rows[False][0][1], rows[True][0][1]
        print(
            f"  GOP {gop / 25:.0f} s: decoded {full_n} -> {part_n} frames ({part_n / full_n:.2f}), "
            f"CPU per analysed second {full_ms / frames:.1f} -> {part_ms / frames:.1f} ms "
            f"(ratio {part_ms / full_ms:.2f}, median of {rounds})"
        )
    clip = vtest_h264(1280, 720, fps=25, gop=52)  # GOP 2.08 s: keyframes drift past the 1 s grid
    runs: dict[bool, list[tuple[float, int]]] = {True: [], False: []}
    for _ in range(rounds):
        for slack in (False, True):
            runs[slack].append(read_through(clip, frames, True, slack))
    a_ms, b_ms = med([r[0] for r in runs[False]]), med([r[0] for r in runs[True]])
    a_n, b_n = runs[False][0][1], runs[True][0][1]
    print(
        f"  GOP 2.08 s, a keyframe up to 0.25 s after a due time sampled instead: decoded {a_n} -> {b_n} frames "
        f"({b_n / a_n:.2f}), CPU per analysed second {a_ms / frames:.1f} -> {b_ms / frames:.1f} ms "
        f"(ratio {b_ms / a_ms:.2f}, median of {rounds})"
    )


# ---------------------------------------------------------------- adaptive


def replay_once(clip: Path, adaptive: bool, detector: Any) -> dict[str, float]:
    """One replay of `clip` (the real `sentinel replay` path, lockstep reader); its counts and CPU."""
    from sentinel.config.models import SentinelConfig
    from sentinel.replay.runner import replay

    rule = {"kind": "count_in_zone", "event_type": "crowd_gathering", "min_count": 3, "min_duration": 10}
    cam = CameraConfig.model_validate(
        {"id": "a", "source": str(clip), "analyze_fps": 1.0, "clip_pre": 0, "clip_post": 0, "rules": [rule],
         **({"min_analyze_fps": 0.25, "slow_after": 10} if adaptive else {})}
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        c0 = time.process_time()  # the whole process: reader thread and analysis
        res = replay(clip, SentinelConfig(cameras=[cam]), "a", Path(out), detector, annotated=False)
        cpu = time.process_time() - c0
    secs = max(res.media_seconds, 1e-9)
    return {"frames": res.frames, "inferred": res.frames_inferred, "decoded": res.frames_decoded,
            "cpu_ms_per_s": 1000.0 * cpu / secs, "seconds": secs, "alerts": len(res.alerts)}  # fmt: skip


def bench_adaptive(rounds: int) -> None:
    from sentinel.detect.detectors import load_detector

    print(
        "\n== adaptive: the analysis rate off (1 fps) vs on (1 -> 0.25 fps after 10 s still), replay path =="
    )
    det: Any = load_detector(DetectorConfig().model)
    clips = {
        "quiet (still 110 s, then people 10 s)": still_then_vtest(still_s=110, moving_s=10),
        "busy (vtest, people throughout)": vtest_h264(768, 576, fps=10, gop=10),
    }
    for label, clip in clips.items():
        rows: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for rnd in range(rounds):
            for adaptive in (False, True) if rnd % 2 == 0 else (True, False):  # alternating: shared machine
                rows[adaptive].append(replay_once(clip, adaptive, det))
        print(f"  {label}, {rows[False][0]['seconds']:.0f} s, median of {rounds}:")
        for adaptive in (False, True):
            r = rows[adaptive][0]
            cpu = med([x["cpu_ms_per_s"] for x in rows[adaptive]])
            print(
                f"    {'on ' if adaptive else 'off'}  analysed {r['frames']:4.0f}  inferences {r['inferred']:4.0f}  "
                f"decoded {r['decoded']:5.0f}  CPU {cpu:6.1f} ms per camera-second  alerts {r['alerts']:.0f}"
            )
        off, on = rows[False][0], rows[True][0]
        cpu_off = med([x["cpu_ms_per_s"] for x in rows[False]])
        cpu_on = med([x["cpu_ms_per_s"] for x in rows[True]])
        print(
            f"    on/off: analysed x{on['frames'] / off['frames']:.2f}, inferences "
            f"x{on['inferred'] / max(off['inferred'], 1):.2f}, decoded x{on['decoded'] / max(off['decoded'], 1):.2f}, "
            f"CPU x{cpu_on / cpu_off:.2f}"
        )
    print("  " + load())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="convert,gate,batch,decode,adaptive,memory")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--readers", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument(
        "--rtsp", type=float, default=0.0, help="ingest: seconds per round on RTSP (0: file only)"
    )
    ap.add_argument(
        "--memory-child", nargs=3, metavar=("VARIANT", "READERS", "SECONDS"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]), float(args.memory_child[2]))
        return
    cv2.setNumThreads(1)  # as in a worker
    print(f"analysis path bench, {load()}")
    only = set(args.only.split(","))
    if "convert" in only:
        bench_convert(args.rounds)
    if "gate" in only:
        bench_gate(args.rounds)
    if "batch" in only:
        bench_batch(args.rounds)
    if "decode" in only:
        bench_decode(args.rounds)
    if "adaptive" in only:
        bench_adaptive(args.rounds)
    if "ingest" in only:
        from bench._ingest import bench_ingest

        bench_ingest(max(args.rounds, 5), args.rtsp)
    if "memory" in only:
        bench_memory(args.readers, args.seconds, args.repeats)


if __name__ == "__main__":
    main()
