"""Sensor-to-segment calibration from ordinary walking (docs/calibration.md).

Segment frame (OpenSim body frames): x anterior, y up along the segment, z to
the right. Input: one sensor's acc (m/s^2, gravity included) and gyro (rad/s)
on the 100 Hz grid. Output: C (3x3, rows = segment x, y, z in sensor
coordinates; v_segment = C v_sensor) and its quaternion, or a refusal.

Order of operations (each step's constants are module constants below):
1. still samples and still stands; 2. refusals for no motion / standing only /
too short; 3. stride period from the autocorrelation of |w|; 4. whole strides of
the longest walking stretch; 5. handedness; 6. vertical y = mean specific force;
7. flexion axis z = principal axis of the gyro orthogonal to y; 8. planarity;
9. the sign of z from the time asymmetry of the sagittal rate, or, when that is
uncertain and the foot of the same leg is given (`sign_partner`), from the
thigh-foot lead-lag correlation; 10. x = y x z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .handedness import Handedness, handedness
from .linalg import axis_angle_deg, cross, dot, jacobi_eigen_sym3, normalize, quat_from_matrix, rotation_angle_deg

# The algorithm this file implements (docs/calibration.md); a v2 manifest's calibration.algorithm names the
# one it was trained with. /2: the joint thigh+foot sign rule (a thigh with an uncertain own sign and a sign
# partner calibrates where /1 refused it).
CALIBRATION_ALGORITHM = "gait-calibration/2"
G = 9.80665
STILL_GYRO = 0.2  # rad/s: a sample is still when |w| is below this ...
STILL_ACC = 0.4  # m/s^2: ... and ||f| - g| below this
STAND_S = 1.0  # a still stand: at least this long without a non-still sample (a foot's stance is < 0.8 s)
NO_MOTION_GYRO = 0.05  # rad/s: every 1 s window's RMS |w| below this: the sensor never moves
MIN_WALK_S = 8.0  # shortest walking stretch calibrated (AB06's fast trials walk 9-10 s between their stands)
MIN_STRIDES = 6
STRIDE_MIN_S, STRIDE_MAX_S = 0.7, 2.0  # lags searched for the stride period
MIN_PERIODICITY = 0.1  # normalised autocorrelation at the stride period (white noise: < 0.06)
MIN_PLANARITY = 0.7  # share of the horizontal gyro's second moment on z
SIGN_LAG_S = 0.2  # lag of the time-asymmetry statistic
MIN_SIGN_MARGIN = 0.05  # |asymmetry| below this: sign uncertain on the sensor's own
MIN_JOINT_MARGIN = 0.3  # |thigh-foot lead-lag correlation| below this: uncertain jointly too (AB06, sim: >= 0.57)
RESTRAP_DEG = 10.0  # rotation between calibrations beyond which a stretch "stopped fitting"


@dataclass(frozen=True)
class Calibration:
    ok: bool
    reason: str  # "" when ok; else one of REASONS
    C: np.ndarray | None  # (3,3) sensor -> segment, rows x, y, z
    quat: tuple[float, float, float, float] | None  # (w, x, y, z) of C
    planarity: float
    sign_margin: float  # the asymmetry statistic after choosing the sign (>= 0)
    strides: int
    seconds: float  # walking time used
    stride_s: float
    periodicity: float
    handedness: Handedness | None
    stand_s: float  # longest still stand found, s
    agreement_deg: float | None  # rotation between C and the previous calibration, when one is given
    # Who decided z's sign: "own" (the time asymmetry), "joint" (the lead-lag correlation with
    # the foot of the same leg, when the own margin is below MIN_SIGN_MARGIN), "" (not reached).
    sign_source: str = ""
    # The lead-lag correlation on the chosen z (>= 0 when it decided); None without a sign partner.
    joint_margin: float | None = None


REASONS = ("too_short", "no_motion", "standing_only", "no_gait", "mirrored", "not_planar", "sign_uncertain")


def still_mask(acc: np.ndarray, gyro: np.ndarray) -> np.ndarray:
    wn = np.sqrt(gyro[:, 0] ** 2 + gyro[:, 1] ** 2 + gyro[:, 2] ** 2)
    an = np.sqrt(acc[:, 0] ** 2 + acc[:, 1] ** 2 + acc[:, 2] ** 2)
    return (wn < STILL_GYRO) & (np.abs(an - G) < STILL_ACC)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True."""
    out: list[tuple[int, int]] = []
    start = -1
    for i, m in enumerate(mask):
        if m and start < 0:
            start = i
        elif not m and start >= 0:
            out.append((start, i))
            start = -1
    if start >= 0:
        out.append((start, len(mask)))
    return out


def stands(acc: np.ndarray, gyro: np.ndarray, rate_hz: float) -> list[tuple[int, int]]:
    need = int(round(STAND_S * rate_hz))
    return [(a, b) for a, b in runs(still_mask(acc, gyro)) if b - a >= need]


def stride_period(gyro: np.ndarray, rate_hz: float) -> tuple[int, float]:
    """(lag in samples, normalised autocorrelation) of |w| over STRIDE_MIN_S..STRIDE_MAX_S.

    One leg's sensor repeats once per stride; |w| is mounting-invariant, so this
    runs before any axis is known. Normalisation: r(L) = sum x_k x_{k+L} / sum x_k^2
    with x = |w| - mean, which biases long lags down a little (the sums have n - L terms),
    the same on both sides of the contract.
    """
    wn = np.sqrt(gyro[:, 0] ** 2 + gyro[:, 1] ** 2 + gyro[:, 2] ** 2)
    x = wn - float(np.sum(wn)) / len(wn)
    r0 = float(np.dot(x, x))
    lo, hi = int(round(STRIDE_MIN_S * rate_hz)), min(int(round(STRIDE_MAX_S * rate_hz)), len(x) - 1)
    best, best_r = lo, -math.inf
    for L in range(lo, hi + 1):
        r = float(np.dot(x[:-L], x[L:])) / r0 if r0 > 0 else 0.0
        if r > best_r:
            best, best_r = L, r
    return best, best_r


def time_asymmetry(w: np.ndarray, lag: int) -> float:
    """(E[w_t^2 w_{t+L}] - E[w_t w_{t+L}^2]) / E[w^2]^1.5: odd in w and in time.

    Flipping z negates w, and so this; walking forward rather than backward in
    time gives it its sign (docs/calibration.md: positive with z to the right on
    AB06's and the simulated thighs and feet)."""
    a, b = w[:-lag], w[lag:]
    m2 = float(np.sum(w * w)) / len(w)
    num = (float(np.sum(a * a * b)) - float(np.sum(a * b * b))) / len(a)
    return num / m2**1.5 if m2 > 0 else 0.0


def lead_lag_correlation(w_thigh: np.ndarray, w_foot: np.ndarray, lag: int) -> float:
    """E[w_thigh,t w_foot,t+L] / sqrt(E[w_thigh^2] E[w_foot^2]): the joint sign statistic.

    Both are sagittal rates about right-pointing axes; in walking the foot's
    swing rotation follows the thigh's hip flexion by about 0.2 s (the knee
    extends in late swing), so with both z's right this is positive (AB06 24/24,
    min +0.575; simulated thighs and feet 18/18, min +0.68). Flipping the thigh's
    z negates it. Means over t < n - L for the product, over all samples for
    the energies (as time_asymmetry)."""
    a, b = w_thigh[:len(w_thigh) - lag], w_foot[lag:]
    et = float(np.sum(w_thigh * w_thigh)) / len(w_thigh)
    ef = float(np.sum(w_foot * w_foot)) / len(w_foot)
    num = float(np.sum(a * b)) / len(a)
    return num / math.sqrt(et * ef) if et > 0 and ef > 0 else 0.0


def _refuse(reason: str, **kw) -> Calibration:
    base = dict(C=None, quat=None, planarity=0.0, sign_margin=0.0, strides=0, seconds=0.0, stride_s=0.0, periodicity=0.0,
                handedness=None, stand_s=0.0, agreement_deg=None)
    base.update(kw)
    return Calibration(ok=False, reason=reason, **base)


def calibrate(acc: np.ndarray, gyro: np.ndarray, rate_hz: float = 100.0, previous: np.ndarray | None = None,
              vertical: str = "walking", check_handedness: bool = True,
              sign_partner: np.ndarray | None = None) -> Calibration:
    """Calibrate one sensor from 10-30 s of walking; `previous` (3x3) gives agreement_deg.

    sign_partner (thighs only): the sagittal rate (N,) of the CALIBRATED foot of the
    same leg on the same samples, (C_foot gyro_foot)_z. Then joint_margin is
    reported, and it decides z's sign when the thigh's own margin is below
    MIN_SIGN_MARGIN (sign_source "joint"; refused sign_uncertain only when it is
    below MIN_JOINT_MARGIN too).

    vertical="walking" (default, what training uses on every trial) takes y from the
    mean specific force over whole strides; "stand" takes it from the longest
    still stand when there is one (the anatomical long axis of a standing leg).
    check_handedness=False skips step 5 (the slow one; its score does not change
    under a remount, so a sweep over remounts of one stream computes it once).
    """
    acc = np.asarray(acc, dtype=float)
    gyro = np.asarray(gyro, dtype=float)
    n = len(acc)
    if sign_partner is not None:
        sign_partner = np.asarray(sign_partner, dtype=float)
        if sign_partner.shape != (n,):
            raise ValueError(f"sign_partner: expected the foot's sagittal rate on the same {n} samples, got shape {sign_partner.shape}")
    found = stands(acc, gyro, rate_hz)
    stand_s = max((b - a for a, b in found), default=0) / rate_hz
    if n == 0:
        return _refuse("no_motion")
    win = int(round(rate_hz))
    rms = [math.sqrt(float(np.sum(gyro[s:s + win] ** 2)) / len(gyro[s:s + win])) for s in range(0, max(n - win + 1, 1), win)]
    if max(rms) < NO_MOTION_GYRO:
        return _refuse("no_motion", stand_s=stand_s)
    # The walking stretch: the longest run of samples outside still stands.
    in_stand = np.zeros(n, dtype=bool)
    for a, b in found:
        in_stand[a:b] = True
    walks = runs(~in_stand)
    w0, w1 = max(walks, key=lambda r: r[1] - r[0], default=(0, 0))
    if (w1 - w0) < MIN_WALK_S * rate_hz:
        still_share = float(np.sum(in_stand)) / n
        return _refuse("standing_only" if still_share >= 0.5 else "too_short", stand_s=stand_s, seconds=(w1 - w0) / rate_hz)
    wa, wg = acc[w0:w1], gyro[w0:w1]
    lag, periodicity = stride_period(wg, rate_hz)
    if periodicity < MIN_PERIODICITY:
        return _refuse("no_gait", stand_s=stand_s, periodicity=periodicity, seconds=(w1 - w0) / rate_hz)
    strides = (w1 - w0) // lag
    if strides < MIN_STRIDES:
        return _refuse("too_short", stand_s=stand_s, periodicity=periodicity, strides=strides, stride_s=lag / rate_hz)
    used = strides * lag  # whole strides: the mean specific force is not biased by a part-stride
    ua, ug = wa[:used], wg[:used]
    common = dict(stand_s=stand_s, periodicity=periodicity, strides=strides, stride_s=lag / rate_hz, seconds=used / rate_hz)

    hand = handedness(ua, ug, rate_hz) if check_handedness else None
    common["handedness"] = hand
    if hand is not None and hand.decision == "mirrored":
        return _refuse("mirrored", **common)

    if vertical == "stand" and found:
        a, b = max(found, key=lambda r: r[1] - r[0])
        y = normalize(np.sum(acc[a:b], axis=0))
    elif vertical in ("walking", "stand"):
        y = normalize(np.sum(ua, axis=0))
    else:
        raise ValueError(f"vertical must be 'walking' or 'stand', got {vertical!r}")

    # Flexion axis: the principal axis of the gyro with its vertical part removed
    # (turning while walking is a rate about the vertical, not flexion).
    wy = ug @ y
    wh = ug - np.outer(wy, y)
    S = wh.T @ wh
    _, V = jacobi_eigen_sym3(S)
    e = V[:, 0]
    z = normalize(e - dot(e, y) * y)
    wz = ug @ z
    # Against the horizontal part only: a circuit's turns are vertical rates, not a non-planar gait.
    planarity = float(np.sum(wz * wz)) / float(np.sum(wh * wh))
    common["planarity"] = planarity
    if planarity < MIN_PLANARITY:
        return _refuse("not_planar", **common)
    lag_s = int(round(SIGN_LAG_S * rate_hz))
    asym = time_asymmetry(wz, lag_s)
    if asym < 0:
        z, wz, asym = -z, -wz, -asym
    source = "own"
    joint = None
    if sign_partner is not None:
        joint = lead_lag_correlation(wz, sign_partner[w0:w0 + used], lag_s)
        if asym < MIN_SIGN_MARGIN:
            # The thigh cannot tell forward from backward alone: its foot decides.
            source = "joint"
            if joint < 0:
                z, wz, asym, joint = -z, -wz, -asym, -joint
    common.update(sign_margin=asym, sign_source=source, joint_margin=joint)
    if asym < MIN_SIGN_MARGIN and (source == "own" or joint < MIN_JOINT_MARGIN):
        return _refuse("sign_uncertain", **common)
    x = cross(y, z)
    C = np.array([x, y, z])
    agreement = rotation_angle_deg(C, previous) if previous is not None else None
    return Calibration(ok=True, reason="", C=C, quat=quat_from_matrix(C), agreement_deg=agreement, **common)


@dataclass(frozen=True)
class Fit:
    decision: str  # "fits" | "stopped_fitting" | "undecided"
    angle_deg: float | None  # rotation between the given calibration and the new one
    vertical_deg: float | None  # angle between the two y axes
    flexion_deg: float | None  # angle between the two z axes
    reason: str  # the new stretch's refusal when undecided


def still_fits(C: np.ndarray, acc: np.ndarray, gyro: np.ndarray, rate_hz: float = 100.0,
               threshold_deg: float = RESTRAP_DEG, sign_partner: np.ndarray | None = None) -> Fit:
    """Does a new stretch of walking still fit calibration C? ("stopped_fitting": recalibrate.)

    sign_partner: as in calibrate (a thigh whose own sign is uncertain is judged with its foot's)."""
    new = calibrate(acc, gyro, rate_hz, sign_partner=sign_partner)
    if not new.ok or new.C is None:
        return Fit("undecided", None, None, None, new.reason)
    angle = rotation_angle_deg(new.C, C)
    fit = Fit("fits" if angle <= threshold_deg else "stopped_fitting", angle,
              axis_angle_deg(new.C[1], np.asarray(C)[1]), axis_angle_deg(new.C[2], np.asarray(C)[2]), "")
    return fit


def remount(acc: np.ndarray, gyro: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same motion read by a sensor turned by Q (v_new = Q v_old, Q proper): both channels rotate alike.

    A stream calibrated to C becomes one calibrated to C Q^T. Written per
    component (no matrix product) so the edge's port adds in the same order.
    """
    def turn(v: np.ndarray) -> np.ndarray:
        return np.stack([Q[i][0] * v[:, 0] + Q[i][1] * v[:, 1] + Q[i][2] * v[:, 2] for i in range(3)], axis=1)

    return turn(np.asarray(acc, dtype=float)), turn(np.asarray(gyro, dtype=float))
