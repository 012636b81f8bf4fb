"""Is a stream right-handed? A data fault, not a mounting (docs/calibration.md, "Handedness").

For a rigid sensor with orientation R (sensor -> world), dR/dt = R [w]x and the
specific force f = R^T (a - g_w). Over a window, the gyro-integrated orientation
R_k (R_0 = I) turns every sample's specific force into the window-start frame,
where it is the linear acceleration minus gravity: the mean over the window is
(Delta v) / T - g, whose norm is g up to the velocity change over the window. Integrating the gyro the wrong way round
(-w) does not line the samples up, and that mean is off g.

Why not the textbook test df/dt = -w x f: on a swinging limb the tangential
acceleration cancels most of gravity's turning in the specific force (a free
pendulum's accelerometer sees no tangential gravity at all), so the
instantaneous test is biased: it calls simulated right-handed thigh and foot
sensors mirrored (docs/calibration.md gives the numbers). Window means let the
linear acceleration integrate to a velocity change instead.

The test sees only whether the gyro turns the accelerometer's vectors
consistently: stream = (A f, G w) with A, G orthogonal is consistent exactly when
G = det(A) A. A flipped Z label on BOTH channels (A = G = diag(1, 1, -1)) is not
(the gyro is an axial vector: a mirror changes its other two components), nor is a
negated gyro (G = -A, A proper). All three accelerometer axes negated with the
gyro as is, or one acc axis and the two other gyro axes flipped, IS consistent: it
is a proper sensor watching the mirror image of the motion, and no one-stream
test can see it (AB06's thigh, docs/calibration.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .linalg import rodrigues

G = 9.80665
WINDOW = 400  # samples (4 s at 100 Hz): several strides, so the velocity change / T is small against g
HOP = 200
DECIDE = 0.2  # |score| below this: undecided
MIN_RATE = 0.3  # rad/s, mean |w|: stiller than this and both hypotheses explain the data


@dataclass(frozen=True)
class Handedness:
    score: float  # (D- - D+) / (D- + D+) in [-1, 1]: > 0 right-handed, < 0 mirrored
    decision: str  # "right" | "mirrored" | "undecided"
    reason: str  # why undecided, else ""
    windows: int


def window_error(acc: np.ndarray, gyro: np.ndarray, start: int, n: int, sign: float, dt: float) -> float:
    """(|mean_k R_k f_k| - g)^2 over samples start..start+n, R integrated from sign * gyro."""
    R = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    mx = my = mz = 0.0
    for k in range(start, start + n):
        a0, a1, a2 = float(acc[k][0]), float(acc[k][1]), float(acc[k][2])
        mx += R[0][0] * a0 + R[0][1] * a1 + R[0][2] * a2
        my += R[1][0] * a0 + R[1][1] * a1 + R[1][2] * a2
        mz += R[2][0] * a0 + R[2][1] * a1 + R[2][2] * a2
        E = rodrigues(np.array([sign * gyro[k][0], sign * gyro[k][1], sign * gyro[k][2]]), dt)
        R = [[R[i][0] * E[0][j] + R[i][1] * E[1][j] + R[i][2] * E[2][j] for j in range(3)] for i in range(3)]
    mx, my, mz = mx / n, my / n, mz / n
    e = math.sqrt(mx * mx + my * my + mz * mz) - G
    return e * e


def handedness(acc: np.ndarray, gyro: np.ndarray, rate_hz: float = 100.0) -> Handedness:
    """Score and decision for one stream (acc m/s^2, gyro rad/s, grid rate)."""
    n = len(acc)
    dt = 1.0 / rate_hz
    starts = list(range(0, n - WINDOW + 1, HOP))
    if not starts:
        return Handedness(0.0, "undecided", "too_short", 0)
    mean_rate = sum(math.sqrt(float(g[0] * g[0] + g[1] * g[1] + g[2] * g[2])) for g in gyro) / n
    dp = dm = 0.0
    for s in starts:
        dp += window_error(acc, gyro, s, WINDOW, 1.0, dt)
        dm += window_error(acc, gyro, s, WINDOW, -1.0, dt)
    score = (dm - dp) / (dm + dp) if dm + dp > 0 else 0.0
    if mean_rate < MIN_RATE:
        return Handedness(score, "undecided", "too_still", len(starts))
    if abs(score) < DECIDE:
        return Handedness(score, "undecided", "weak", len(starts))
    return Handedness(score, "right" if score > 0 else "mirrored", "", len(starts))


# The conversion for a stream found mirrored. A Z label flipped on both channels
# (acc' = M f, gyro' = M w, M = diag(1, 1, -1)) is undone by flipping it back on
# both: the physical z axis again. The other fault the test flags, a negated gyro
# (acc' = f, gyro' = -w), would need the gyro negated instead; the two fixes differ
# by exactly the consistent mirror the test cannot see, so the data cannot choose:
# we undo the label flip, the fault the brief and the cohort simulator model.
RIGHT_HANDED_ACC_SIGNS = (1.0, 1.0, -1.0)
RIGHT_HANDED_GYRO_SIGNS = (1.0, 1.0, -1.0)


def to_right_handed(acc: np.ndarray, gyro: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip the Z channel of both acc and gyro (see above for why both, and why Z)."""
    return acc * np.array(RIGHT_HANDED_ACC_SIGNS), gyro * np.array(RIGHT_HANDED_GYRO_SIGNS)
