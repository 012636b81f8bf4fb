"""What every reader returns, in the contract's units (docs/contract.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# OpenSim body names; docs/contract.md "placement".
PLACEMENTS = ("pelvis", "torso", "femur_r", "femur_l", "tibia_r", "tibia_l", "calcn_r", "calcn_l")

# The model's outputs, project sign convention (docs/contract.md "Sign conventions"), degrees.
JOINTS_R = ("hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_flexion_r", "ankle_dorsiflexion_r")

# Standard gravity: the contract's g -> m/s^2 factor, shared with the edge.
G = 9.80665


@dataclass
class ImuStream:
    """One IMU in contract units."""

    t: np.ndarray  # (N,) seconds, float64, strictly increasing
    acc: np.ndarray  # (N,3) m/s^2, specific force incl. gravity, sensor frame
    gyro: np.ndarray  # (N,3) rad/s (NaN where the file had no gyroscope, see XsensRecording.has_gyro)
    mag: np.ndarray | None = None  # (N,3), the file's units
    quat: np.ndarray | None = None  # (N,4) w,x,y,z sensor->earth, if the file had orientation

    def __post_init__(self) -> None:
        # Catch shape mix-ups where the stream is built, not three modules later.
        n = np.shape(self.t)[0] if np.ndim(self.t) == 1 else -1
        if n < 0:
            raise ValueError(f"ImuStream.t must be 1-D, got shape {np.shape(self.t)}")
        for name, width in (("acc", 3), ("gyro", 3), ("mag", 3), ("quat", 4)):
            value = getattr(self, name)
            if value is not None and np.shape(value) != (n, width):
                raise ValueError(f"ImuStream.{name} must have shape ({n}, {width}), got {np.shape(value)}")


@dataclass
class Trial:
    """One recording: IMUs by placement plus (optionally) reference joint angles."""

    name: str  # e.g. "levelground_ccw_normal_04_01"
    imus: dict[str, ImuStream]  # placement -> stream
    angles_t: np.ndarray | None  # (M,) s
    angles: dict[str, np.ndarray]  # joint name (project convention, degrees) -> (M,)
    rate_hz: float  # source sample rate (inferred)
    source: str  # file path(s)
    notes: list[str] = field(default_factory=list)  # anything counted/repaired
