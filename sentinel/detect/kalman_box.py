"""A constant-velocity Kalman filter on one box: centre (cx, cy) and size (w, h), with their velocities.

State [cx, cy, w, h, vcx, vcy, vw, vh] in normalised image units (velocities per second). Time steps are
seconds, not frames: the analysis rate of a camera varies (0.5-5 fps, the motion gate skips frames). Noise is
proportional to the box height, as in SORT/ByteTrack: a near (tall) object jitters and moves more in pixels.
"""

from __future__ import annotations

import numpy as np

# Standard deviations as fractions of the box height. Measurement: the detector's jitter on a still box
# (about 5% of its height on NanoDet). Process: how far reality departs from constant velocity per second --
# a walker turns or stops within a second or two, so the velocity noise is large.
MEASURE_STD = 0.05
POSITION_STD = 0.05  # per sqrt(second)
VELOCITY_STD = 0.25  # per second per sqrt(second)
INITIAL_VELOCITY_STD = 0.6  # a new track's unknown speed, per second (a walker: about half a height per s)

_H = np.hstack([np.eye(4), np.zeros((4, 4))])  # we observe the box, not its velocity


def box_to_state(box: np.ndarray) -> np.ndarray:
    """xyxy -> (cx, cy, w, h)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])


def boxes_to_states(xyxy: np.ndarray) -> np.ndarray:
    """[N, 4] xyxy -> [N, 4] (cx, cy, w, h)."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return np.column_stack(
        [(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]]
    )


def state_to_box(z: np.ndarray) -> np.ndarray:
    """(cx, cy, w, h, ...) -> xyxy float32 (sizes kept positive)."""
    cx, cy = z[0], z[1]
    w, h = max(float(z[2]), 1e-4), max(float(z[3]), 1e-4)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float32)


class KalmanBox:
    def __init__(self, box: np.ndarray) -> None:
        z = box_to_state(box)
        self.x = np.concatenate([z, np.zeros(4)])
        h = max(z[3], 1e-3)
        pos, vel = (2 * MEASURE_STD * h) ** 2, (INITIAL_VELOCITY_STD * h) ** 2
        self.P = np.diag([pos, pos, pos, pos, vel, vel, vel / 4, vel / 4])

    def predicted(self, dt: float) -> np.ndarray:
        """The box expected `dt` seconds after the last update (the filter itself is unchanged)."""
        return state_to_box(self.x[:4] + max(dt, 0.0) * self.x[4:])

    def update(self, box: np.ndarray, dt: float) -> None:
        """Advance by `dt` seconds, then correct with the observed `box`."""
        x, P = self._propagate(dt)
        S = _H @ P @ _H.T + self._measure_cov()
        K = P @ _H.T @ np.linalg.inv(S)
        self.x = x + K @ (box_to_state(box) - _H @ x)
        self.P = (np.eye(8) - K @ _H) @ P

    def distances(self, states: np.ndarray, dt: float) -> np.ndarray:
        """Squared Mahalanobis distance of each box (rows of `boxes_to_states`) from the prediction `dt`
        seconds ahead: a displacement measured in the filter's own uncertainty, which grows with the time
        since the last sighting and shrinks as the track's speed becomes known."""
        x, P = self._propagate(dt)
        S = _H @ P @ _H.T + self._measure_cov()
        z = states - x[:4]
        return np.asarray(np.einsum("ni,ij,nj->n", z, np.linalg.inv(S), z))

    def _propagate(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        dt = max(dt, 0.0)
        F = np.eye(8)
        F[:4, 4:] = dt * np.eye(4)
        h = max(self.x[3], 1e-3)
        q_pos, q_vel = (POSITION_STD * h) ** 2 * dt, (VELOCITY_STD * h) ** 2 * dt
        Q = np.diag([q_pos, q_pos, q_pos / 4, q_pos / 4, q_vel, q_vel, q_vel / 4, q_vel / 4])
        return F @ self.x, F @ self.P @ F.T + Q

    def _measure_cov(self) -> np.ndarray:
        return np.eye(4) * (MEASURE_STD * max(self.x[3], 1e-3)) ** 2
