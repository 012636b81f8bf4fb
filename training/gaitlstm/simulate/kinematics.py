"""Coordinates over time -> body poses in ground (forward kinematics).

A `Motion` holds the model's coordinates as smooth functions of time (a
cubic spline through the, optionally low-passed, samples), so poses can be
evaluated at any instant and differentiated numerically without the noise
of differencing raw samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import butter, filtfilt
from scipy.spatial.transform import Rotation

from ..io.camargo import _Table  # the project's CSV table (header row + numeric cells, DataError on bad cells)
from ..io.errors import DataError
from ..io.opensim import read_opensim_table
from .osim import GROUND, Joint, OsimModel


@dataclass
class Coordinates:
    """Sampled coordinates in SI units: radians, metres."""

    t: np.ndarray  # (N,) s
    values: dict[str, np.ndarray]  # coordinate -> (N,)
    source: str
    notes: list[str] = field(default_factory=list)


def read_coordinates(path: str | Path, model: OsimModel) -> Coordinates:
    """An IK result in degrees (`.mot`/`.sto`, or a Camargo `*_ik.csv[.gz]`) -> radians/metres.

    Which columns are angles comes from the model (a coordinate that only
    drives translations is in metres), so `pelvis_tx` stays in metres and a
    knee angle driving knee translations stays an angle. Coordinates the
    table lacks keep the model's default value (noted).
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".mot", ".sto")):
        table = read_opensim_table(path, to_degrees=True)
        t, raw = table.time, {c: v for c, v in table.data.items() if np.ndim(v) == 1}
    elif name.endswith((".csv", ".csv.gz")):
        csv = _Table(path)
        csv.require(["time"])
        data = csv.numbers(csv.columns)
        t = data[:, 0]
        raw = {c: data[:, k] for k, c in enumerate(csv.columns) if k > 0}
    else:
        raise DataError(path, "expected a .mot/.sto table or a Camargo *_ik.csv[.gz]")
    if len(t) < 4:
        raise DataError(path, f"{len(t)} rows: too short to simulate (need at least 4)")
    if np.any(np.diff(t) <= 0):
        i = int(np.flatnonzero(np.diff(t) <= 0)[0]) + 1
        raise DataError(path, f"time not increasing at row {i + 1} ({t[i]:.6g} s after {t[i - 1]:.6g} s)", column="time")

    notes: list[str] = []
    values: dict[str, np.ndarray] = {}
    for cname, coord in model.coordinates.items():
        if cname not in raw or coord.locked:
            values[cname] = np.full(len(t), coord.default)
            if cname not in raw:
                notes.append(f"{path.name}: no column {cname!r}; held at the model default {coord.default:g}")
            continue
        column = raw[cname]
        bad = ~np.isfinite(column)
        if bad.any():
            if bad.all():
                raise DataError(path, "no finite value", column=cname)
            column = np.interp(t, t[~bad], column[~bad])
            notes.append(f"{path.name}: column {cname!r}: {int(bad.sum())} missing values interpolated")
        values[cname] = column if coord.translational else np.radians(column)
    return Coordinates(t=t, values=values, source=str(path), notes=notes)


def lowpass(x: np.ndarray, rate_hz: float, cutoff_hz: float | None, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass (the usual mocap filter); None or >= Nyquist: unchanged."""
    if cutoff_hz is None or cutoff_hz >= 0.5 * rate_hz:
        return x
    b, a = butter(order, cutoff_hz / (0.5 * rate_hz))
    pad = min(3 * max(len(a), len(b)) * 4, len(x) - 1)
    return filtfilt(b, a, x, padlen=pad)


class Motion:
    """Coordinates as C2 functions of time."""

    def __init__(self, coords: Coordinates, lowpass_hz: float | None = None) -> None:
        t = coords.t
        rate = 1.0 / float(np.median(np.diff(t)))
        self.t0, self.t1 = float(t[0]), float(t[-1])
        self.source = coords.source
        self._splines = {c: CubicSpline(t, lowpass(v, rate, lowpass_hz)) for c, v in coords.values.items()}

    def __call__(self, t: np.ndarray) -> dict[str, np.ndarray]:
        t = np.asarray(t, dtype=float)
        return {c: s(t) for c, s in self._splines.items()}


# --------------------------------------------------------------------------- forward kinematics


def _axis_rotations(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    return Rotation.from_rotvec(angle[:, None] * axis[None, :]).as_matrix()


def joint_transform(joint: Joint, q: dict[str, np.ndarray], n: int) -> np.ndarray:
    """X_FM (n,4,4): the child offset frame in the parent offset frame."""
    X = np.tile(np.eye(4), (n, 1, 1))
    for a in joint.axes:
        x = q[a.coordinate] if a.coordinate is not None else np.zeros(n)
        amount = np.broadcast_to(a.function(x), (n,))
        if a.kind == "rotation":
            # Body-fixed sequence: each rotation about an axis of the already rotated frame.
            X[:, :3, :3] = X[:, :3, :3] @ _axis_rotations(a.axis, amount)
        else:
            # Translations along axes fixed in F.
            X[:, :3, 3] += amount[:, None] * a.axis[None, :]
    return X


def body_transforms(model: OsimModel, q: dict[str, np.ndarray], bodies: list[str] | None = None) -> dict[str, np.ndarray]:
    """Body -> X_G_body (n,4,4) for `bodies` (default: all) and everything above them."""
    n = len(next(iter(q.values())))
    wanted = bodies if bodies is not None else model.bodies
    out: dict[str, np.ndarray] = {GROUND: np.tile(np.eye(4), (n, 1, 1))}
    for body in wanted:
        for joint in model.chain(body):
            if joint.child_body in out:
                continue
            X_M = np.linalg.inv(joint.X_child_M)
            out[joint.child_body] = out[joint.parent_body] @ joint.X_parent_F @ joint_transform(joint, q, n) @ X_M
    return out
