"""Readings the edge drops before the pipeline, dropped here too (docs/contract.md
"Before the pipeline").

The edge's resampler drops a placement's sample when any of its values is not
finite or beyond `manifest.input_limits` (a bit flip, a wrong unit) and
interpolates the grid across it. Python did not: one 1e308 rad/s cell went
into the Madgwick filter and the windows, and `evaluate` scored features the
device never builds. `drop_out_of_limits` removes the same samples from a
Trial before the feature pipeline, so `np.interp` bridges them exactly as the
edge's resampler does, and says how many it dropped in the trial's notes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .io.types import G, ImuStream, Trial


@dataclass(frozen=True)
class InputLimits:
    acc_abs_max: float  # m/s^2, any axis
    gyro_abs_max: float  # rad/s, any axis

    def to_dict(self) -> dict[str, float]:
        return {"acc_abs_max": self.acc_abs_max, "gyro_abs_max": self.gyro_abs_max}

    @staticmethod
    def from_manifest(manifest: dict, source: str) -> InputLimits:
        try:
            lim = manifest["input_limits"]
            return InputLimits(float(lim["acc_abs_max"]), float(lim["gyro_abs_max"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{source}: input_limits needs acc_abs_max and gyro_abs_max numbers ({e!r})") from None


# Physical limits of the sensors the product's models are trained on (16 g,
# 2000 deg/s = 34.9 rad/s, rounded up): export writes them into every manifest.
PRODUCT_LIMITS = InputLimits(acc_abs_max=16 * G, gyro_abs_max=35.0)


def within_limits(stream: ImuStream, limits: InputLimits) -> np.ndarray:
    """(N,) bool: the samples the edge keeps (time and all six values finite, |value| <= limit)."""
    finite = np.isfinite(stream.t) & np.isfinite(stream.acc).all(axis=1) & np.isfinite(stream.gyro).all(axis=1)
    with np.errstate(invalid="ignore"):
        in_range = (np.abs(stream.acc) <= limits.acc_abs_max).all(axis=1) & (np.abs(stream.gyro) <= limits.gyro_abs_max).all(axis=1)
    return finite & in_range


def drop_out_of_limits(trial: Trial, limits: InputLimits, placements: tuple[str, ...] | None = None) -> Trial:
    """The trial without the samples the edge would drop, at `placements` (default: all).

    A placement without any gyroscope reading (an Xsens export without Gyr_*
    columns reads as NaN) is left as it is: dropping every sample would hide
    the cause, and `dataset.trial_streams` refuses it by name if a model uses it.
    """
    imus = dict(trial.imus)
    notes = list(trial.notes)
    for p in placements if placements is not None else tuple(imus):
        if p not in imus:
            continue  # the feature pipeline names a missing placement
        s = imus[p]
        if len(s.t) and np.isnan(s.gyro).all():
            continue
        keep = within_limits(s, limits)
        n_bad = int(len(keep) - keep.sum())
        if not n_bad:
            continue
        first = float(s.t[np.flatnonzero(~keep)[0]])
        imus[p] = ImuStream(
            t=s.t[keep], acc=s.acc[keep], gyro=s.gyro[keep],
            mag=None if s.mag is None else s.mag[keep], quat=None if s.quat is None else s.quat[keep],
        )
        notes.append(
            f"{trial.name}: {p}: {n_bad} reading(s) not finite or beyond input_limits (acc {limits.acc_abs_max:.1f} m/s^2, "
            f"gyro {limits.gyro_abs_max:.1f} rad/s) dropped, the first at t={first:.3f} s"
        )
    return replace(trial, imus=imus, notes=notes)
