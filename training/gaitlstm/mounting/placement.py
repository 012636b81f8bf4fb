"""Which segment does a stream look like: thigh (femur) or foot (calcn)? (docs/calibration.md)

Both features are norms, so they need no calibration and survive any mounting
and a mirrored stream: the foot turns faster (the push-off and swing roll of the
foot, |w| 99th percentile 6.4-11.3 rad/s on AB06 against 2.9-6.8 for the
thigh) and takes the heel-strike impact and the push-off on the sensor directly
(||f| - g| 99th percentile 17-58 m/s^2 against 5-18). Each feature's log ratio
to a threshold between the two groups is averaged; a pair of streams from one
walk is compared feature by feature, which removes the walker's speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

G = 9.80665
GYRO_P99_SPLIT = 6.5  # rad/s
ACC_P99_SPLIT = 17.5  # m/s^2
UNDECIDED = 0.05  # |score| below this: cannot tell


def percentile99(x: np.ndarray) -> float:
    """The 99th percentile with linear interpolation between order statistics (numpy's default)."""
    s = np.sort(np.asarray(x, dtype=float))
    pos = 0.99 * (len(s) - 1)
    i = int(math.floor(pos))
    j = min(i + 1, len(s) - 1)
    return float(s[i] + (pos - i) * (s[j] - s[i]))


@dataclass(frozen=True)
class PlacementFeatures:
    gyro_p99: float  # rad/s, 99th percentile of |w|
    acc_p99: float  # m/s^2, 99th percentile of ||f| - g|


@dataclass(frozen=True)
class PlacementGuess:
    placement: str  # "femur" | "calcn" | "undecided"
    score: float  # > 0 foot-like, < 0 thigh-like (mean log ratio)
    confidence: float  # |score| / 0.5, capped at 1
    features: PlacementFeatures


def features(acc: np.ndarray, gyro: np.ndarray) -> PlacementFeatures:
    wn = np.sqrt(gyro[:, 0] ** 2 + gyro[:, 1] ** 2 + gyro[:, 2] ** 2)
    an = np.sqrt(acc[:, 0] ** 2 + acc[:, 1] ** 2 + acc[:, 2] ** 2)
    return PlacementFeatures(percentile99(wn), percentile99(np.abs(an - G)))


def _guess(score: float, f: PlacementFeatures) -> PlacementGuess:
    label = "undecided" if abs(score) < UNDECIDED else ("calcn" if score > 0 else "femur")
    return PlacementGuess(label, score, min(1.0, abs(score) / 0.5), f)


def guess_placement(acc: np.ndarray, gyro: np.ndarray) -> PlacementGuess:
    f = features(acc, gyro)
    score = 0.5 * (math.log(f.gyro_p99 / GYRO_P99_SPLIT) + math.log(f.acc_p99 / ACC_P99_SPLIT))
    return _guess(score, f)


@dataclass(frozen=True)
class PairCheck:
    swapped: bool | None  # None: undecided
    score: float  # > 0: the stream labelled foot is the more foot-like one (as expected)
    thigh: PlacementFeatures
    foot: PlacementFeatures


def check_pair(thigh_acc: np.ndarray, thigh_gyro: np.ndarray, foot_acc: np.ndarray, foot_gyro: np.ndarray) -> PairCheck:
    """Were the thigh and foot sensors of one walk swapped? Compares their features directly."""
    ft, ff = features(thigh_acc, thigh_gyro), features(foot_acc, foot_gyro)
    score = 0.5 * (math.log(ff.gyro_p99 / ft.gyro_p99) + math.log(ff.acc_p99 / ft.acc_p99))
    return PairCheck(None if abs(score) < UNDECIDED else score < 0, score, ft, ff)
