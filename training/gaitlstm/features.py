"""The contract's feature pipelines `gait-features/1` and `/2` (docs/contract.md), in Python.

One implementation for all of training, evaluation and golden vectors; the
edge runtime's TypeScript implementation is held to the same golden vectors.
Steps: resample to the grid -> (v2 only: calibrate each placement from its
first `calibration_seconds` of walking, converting a mirrored stream to
right-handed first, and rotate acc and gyro into the segment frame) -> Madgwick per placement -> Euler of q * q_ref -> feature
rows -> windows with heading relative to the window start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .ahrs import run_madgwick
from .mounting.calibrate import Calibration, calibrate
from .mounting.handedness import Handedness, to_right_handed

PIPELINE_V1 = "gait-features/1"  # raw sensor axes (the shipped model)
PIPELINE_V2 = "gait-features/2"  # sensor -> segment frame by the walking calibration, before the AHRS
PIPELINES = (PIPELINE_V1, PIPELINE_V2)

CHANNELS = (
    ("acc_x", "m/s^2"), ("acc_y", "m/s^2"), ("acc_z", "m/s^2"),
    ("gyro_x", "rad/s"), ("gyro_y", "rad/s"), ("gyro_z", "rad/s"),
    ("roll", "rad"), ("pitch", "rad"), ("yaw_rel", "rad"),
)  # fmt: skip
N_CH = len(CHANNELS)
YAW = 8  # column of the heading channel inside one placement's block


@dataclass(frozen=True)
class FeatureConfig:
    """Everything the feature pipeline depends on; written into the manifest."""

    placements: tuple[str, ...]
    rate_hz: float = 100.0
    window: int = 50
    stride: int = 25
    beta: float = 0.1
    # placement -> (w, x, y, z) shortest-arc rotation from +z to the mean gravity direction
    euler_reference: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    # The edge restarts its grid after a hole longer than this (docs/contract.md step 2);
    # interpolating across one here would train on features the edge never builds.
    max_gap_s: float = 0.1
    # v1 stays the default: the shipped model, its golden vectors and older checkpoints
    # (which have no such key) keep meaning exactly what they meant.
    pipeline: str = PIPELINE_V1
    # v2: each placement is calibrated on the first this-many seconds of its grid, as
    # the edge calibrates from the first walking of a session (docs/calibration.md
    # takes 8-30 s). On AB06 (15-33 s trials) that is the whole trial except the end
    # of the three longest; 20 s would refuse one more training trial (a slow
    # trial's foot starts with a long stand).
    calibration_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.pipeline not in PIPELINES:
            raise ValueError(f"unknown feature pipeline {self.pipeline!r}; valid: {', '.join(PIPELINES)}")

    @property
    def calibrated(self) -> bool:
        return self.pipeline == PIPELINE_V2

    @property
    def dt(self) -> float:
        return 1.0 / self.rate_hz

    @property
    def n_features(self) -> int:
        return N_CH * len(self.placements)


def grid_times(starts: list[float], ends: list[float], rate_hz: float) -> np.ndarray:
    """Grid `t_start + k / rate` over the span every placement covers."""
    t0, t1 = max(starts), min(ends)
    if t1 < t0:
        raise ValueError(f"placements do not overlap in time ({t0:.3f} s > {t1:.3f} s)")
    n = int(math.floor((t1 - t0) * rate_hz + 1e-9)) + 1
    return t0 + np.arange(n) / rate_hz


def resample(t: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of every column at the grid times (np.interp semantics)."""
    return np.stack([np.interp(grid, t, values[:, c]) for c in range(values.shape[1])], axis=1)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b for (..., 4) arrays, w first."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def euler_zyx(q: np.ndarray) -> np.ndarray:
    """(N, 4) quaternions -> (N, 3) roll, pitch, yaw in radians (ZYX sequence)."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    roll = np.arctan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2.0 * (w * y - z * x), -1.0, 1.0))
    yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return np.stack([roll, pitch, yaw], axis=1)


def wrap_angle(a: np.ndarray) -> np.ndarray:
    """Wrap radians into (-pi, pi]."""
    w = np.mod(a + math.pi, 2.0 * math.pi) - math.pi
    return np.where(w == -math.pi, math.pi, w)


def shortest_arc_from_z(direction: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion rotating +z onto `direction` along the shortest arc."""
    d = np.asarray(direction, dtype=float)
    d = d / np.linalg.norm(d)
    dot = float(d[2])
    if dot < -1.0 + 1e-9:  # opposite: any 180 deg turn about a horizontal axis
        return (0.0, 1.0, 0.0, 0.0)
    axis = np.cross([0.0, 0.0, 1.0], d)
    q = np.array([1.0 + dot, axis[0], axis[1], axis[2]])
    q /= np.linalg.norm(q)
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))


# v2's q_ref, the same for every placement and fitted on no data: the segment frame's
# y IS the walking vertical (the mean specific force the calibration rotated onto
# +y), so the v1 fit would land within a few degrees of this anyway. Turning +z
# onto +y keeps v1's convention (Euler z up in the mean posture: roll and pitch
# near 0, pitch far from the +-90 deg gimbal lock, which needs the anterior x
# axis vertical).
SEGMENT_REFERENCE = shortest_arc_from_z(np.array([0.0, 1.0, 0.0]))


def euler_reference_from_accel(accs: list[np.ndarray]) -> tuple[float, float, float, float]:
    """The contract's q_ref for one placement: from its mean specific force over training data."""
    total = np.concatenate(accs, axis=0).mean(axis=0)
    return shortest_arc_from_z(total)


@dataclass
class GridFeatures:
    """Per-sample features on the grid, before windowing (yaw still absolute)."""

    t: np.ndarray  # (N,) grid times, s
    rows: np.ndarray  # (N, 9 * n_placements)
    ahrs_resets: int
    # v2: the calibration each placement's rows were rotated with (empty for v1)
    calibrations: dict[str, Calibration] = field(default_factory=dict)
    # v2: placements whose stream the handedness test found mirrored, and which were
    # converted (to_right_handed) before their calibration: the test's verdict on the stream as given
    converted: dict[str, Handedness] = field(default_factory=dict)


class CalibrationRefused(ValueError):
    """A v2 placement whose walking calibration was refused: its features are not
    built (never from raw axes: the model would see a frame it was not trained on)."""

    def __init__(self, placement: str, calibration: Calibration, source: str = "", subject: str = "", trial: str = ""):
        self.placement, self.calibration, self.source = placement, calibration, source
        self.subject, self.trial, self.reason = subject, trial, calibration.reason
        where = f"{source}: " if source else ""
        super().__init__(
            f"{where}placement '{placement}': walking calibration refused ({calibration.reason}; "
            f"{calibration.seconds:.1f} s of walking used, planarity {calibration.planarity:.2f}, "
            f"sign margin {calibration.sign_margin:.3f}"
            + (f", joint thigh+foot margin {calibration.joint_margin:.3f}" if calibration.joint_margin is not None else "")
            + "; docs/calibration.md)"
        )

    def at(self, source: str, subject: str = "", trial: str = "") -> CalibrationRefused:
        """The same refusal, naming the file (and the trial) it came from."""
        return CalibrationRefused(self.placement, self.calibration, source, subject, trial)


@dataclass(frozen=True)
class SegmentFrame:
    """v2's step 2b for one placement: the stream in the segment frame, how it got there."""

    acc: np.ndarray
    gyro: np.ndarray
    calibration: Calibration
    # the handedness verdict on the stream as given when it was mirrored and converted, else None
    converted: Handedness | None = None


def segment_frame(acc: np.ndarray, gyro: np.ndarray, cfg: FeatureConfig, placement: str,
                  foot: SegmentFrame | None = None) -> SegmentFrame:
    """v2's step: calibrate on the first `cfg.calibration_seconds` of the grid and
    rotate the whole stream, v_segment = C v_sensor (acc and gyro alike).

    `foot` (for a thigh): the same leg's foot, already in its segment frame; its
    sagittal rate is the thigh's sign partner (the joint sign rule decides a
    thigh whose own sign margin is below MIN_SIGN_MARGIN; docs/calibration.md).

    A stream the handedness test finds mirrored (a left-handed sensor: a Z label
    flipped on acc and gyro) is a data fault, not a mounting: it is converted
    (`to_right_handed`, the whole stream) and calibrated again, and the
    conversion is reported (`converted`), rather than refused."""
    n = int(round(cfg.calibration_seconds * cfg.rate_hz))
    partner = None if foot is None else foot.gyro[:n, 2]  # (C_foot gyro_foot)_z on the same grid samples
    cal = calibrate(acc[:n], gyro[:n], cfg.rate_hz, sign_partner=partner)
    converted = None
    if cal.reason == "mirrored":
        converted = cal.handedness
        acc, gyro = to_right_handed(acc, gyro)
        cal = calibrate(acc[:n], gyro[:n], cfg.rate_hz, sign_partner=partner)
    if not cal.ok or cal.C is None:
        raise CalibrationRefused(placement, cal)
    return SegmentFrame(acc @ cal.C.T, gyro @ cal.C.T, cal, converted)


def first_gap(t: np.ndarray, max_gap_s: float) -> int | None:
    """Index of the first sample that follows a hole longer than `max_gap_s`
    (or a clock jumping back by more than that), None when the stream has none."""
    dt = np.diff(np.asarray(t, dtype=float))
    bad = np.flatnonzero(np.abs(dt) > max_gap_s)
    return int(bad[0]) + 1 if len(bad) else None


def grid_features(
    streams: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], cfg: FeatureConfig
) -> GridFeatures:
    """streams[placement] = (t, acc, gyro) at the source rate -> feature rows on the grid."""
    missing = [p for p in cfg.placements if p not in streams]
    if missing:
        raise ValueError(f"missing placements {missing}; have {sorted(streams)}")
    for p in cfg.placements:
        t = streams[p][0]
        i = first_gap(t, cfg.max_gap_s)
        if i is not None:
            raise ValueError(
                f"placement '{p}': {t[i] - t[i - 1]:+.3f} s between samples at t={t[i - 1]:.3f} s and "
                f"t={t[i]:.3f} s (more than max_gap_s={cfg.max_gap_s:g} s); the edge restarts its grid "
                "there, so split the recording at the gap instead of training across it"
            )
    grid = grid_times(
        [float(streams[p][0][0]) for p in cfg.placements],
        [float(streams[p][0][-1]) for p in cfg.placements],
        cfg.rate_hz,
    )
    blocks = []
    resets = 0
    cals: dict[str, Calibration] = {}
    converted: dict[str, Handedness] = {}
    on_grid = {p: (resample(streams[p][0], streams[p][1], grid), resample(streams[p][0], streams[p][2], grid)) for p in cfg.placements}
    frames: dict[str, SegmentFrame] = {}
    if cfg.calibrated:
        # Feet first: a thigh's sign partner is the calibrated foot of the same leg (femur_r <- calcn_r).
        # A refusal is raised for the first refused placement in the contract's order, as before.
        refused: dict[str, CalibrationRefused] = {}
        for p in sorted(cfg.placements, key=lambda p: not p.startswith("calcn_")):
            foot = frames.get("calcn_" + p.removeprefix("femur_")) if p.startswith("femur_") else None
            try:
                frames[p] = segment_frame(*on_grid[p], cfg, p, foot=foot)
            except CalibrationRefused as e:
                refused[p] = e
        if refused:
            raise next(refused[p] for p in cfg.placements if p in refused)
    for p in cfg.placements:
        acc_g, gyro_g = on_grid[p]
        if cfg.calibrated:
            sf = frames[p]
            acc_g, gyro_g, cals[p] = sf.acc, sf.gyro, sf.calibration
            if sf.converted is not None:
                converted[p] = sf.converted
        q, r = run_madgwick(acc_g, gyro_g, cfg.beta, cfg.dt)
        resets += r
        q_ref = np.asarray(cfg.euler_reference.get(p, (1.0, 0.0, 0.0, 0.0)))
        eul = euler_zyx(quat_multiply(q, np.broadcast_to(q_ref, q.shape)))
        blocks.append(np.concatenate([acc_g, gyro_g, eul], axis=1))
    return GridFeatures(t=grid, rows=np.concatenate(blocks, axis=1), ahrs_resets=resets, calibrations=cals,
                        converted=converted)


def window_starts(n_samples: int, window: int, stride: int, first_stride: int | None = None) -> np.ndarray:
    """Start indices of every full window (contract step 7).

    The first window starts at 0; window 1 at ``first_stride`` (default ``stride``: the
    edge shortens it to stagger wearers who started together); every later one ``stride``
    after the one before.
    """
    first = stride if first_stride is None else first_stride
    if not 1 <= first <= stride:
        raise ValueError(f"first_stride {first} must be within 1..stride ({stride})")
    if n_samples < window:
        return np.zeros(0, dtype=int)
    return np.concatenate([[0], np.arange(first, n_samples - window + 1, stride)]).astype(int)


def make_windows(rows: np.ndarray, starts: np.ndarray, window: int, n_placements: int) -> np.ndarray:
    """(n_windows, window, n_features) with each placement's yaw relative to the window start."""
    idx = starts[:, None] + np.arange(window)[None, :]
    w = rows[idx].copy()
    for p in range(n_placements):
        c = p * N_CH + YAW
        w[:, :, c] = wrap_angle(w[:, :, c] - w[:, :1, c])
    return w


def published_mask(n_windows: int, window: int, stride: int, first_stride: int | None = None) -> np.ndarray:
    """(n_windows, window) bool: the samples the edge publishes (contract step 10).

    All of window 0, the last ``first_stride`` of window 1 (default ``stride``), then the last ``stride``.
    """
    first = stride if first_stride is None else first_stride
    m = np.zeros((n_windows, window), dtype=bool)
    if n_windows:
        m[0, :] = True
        m[1:2, window - first :] = True
        m[2:, window - stride :] = True
    return m
