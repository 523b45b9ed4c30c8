"""The `Detections` value type: one frame's boxes as numpy columns (after Roboflow supervision)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes normalised to 0..1 as (x1, y1, x2, y2), with score and class id per row.

    `track_id` is -1 until a tracker has assigned ids.
    """

    xyxy: np.ndarray  # float32 [N, 4]
    score: np.ndarray  # float32 [N]
    class_id: np.ndarray  # int32 [N]
    track_id: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or self.score.shape != (n,) or self.class_id.shape != (n,):
            raise ValueError("Detections columns must have matching lengths")
        if self.track_id.shape != (n,):
            object.__setattr__(self, "track_id", np.full(n, -1, dtype=np.int64))

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            np.empty((0, 4), dtype=np.float32),
            np.empty(0, dtype=np.float32),
            np.empty(0, dtype=np.int32),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        return Detections(self.xyxy[index], self.score[index], self.class_id[index], self.track_id[index])

    def bottom_centres(self) -> np.ndarray:
        """The point where an object stands on the ground: [N, 2] (x, y)."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)

    def with_tracks(self, track_id: np.ndarray) -> Detections:
        return Detections(self.xyxy, self.score, self.class_id, track_id.astype(np.int64))
