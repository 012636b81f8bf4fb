"""Where a sensor sits on its body (its own module: `imu` simulates with it and
`noise` misplaces it, and neither may import the other)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Mount:
    """Where a sensor sits on its body, and how its channels are labelled.

    The sensor axes are the accelerometer's. `acc_signs` multiplies its
    channels (a -1 makes a mirrored frame); `gyro_axes` (a signed permutation)
    maps sensor-frame angular velocity to the recorded gyro channels. A real,
    right-handed sensor has all +1 and the identity; recorded datasets do not
    always: AB06's shank gyro channels are permuted relative to its
    accelerometer (docs/simulator.md), and a virtual cohort meant to look like
    AB06 must reproduce that. (AB06's thigh file is a consistent mirror, but
    the reader negates its accelerometer, so as read it is right-handed.)
    """

    body: str
    R_BS: np.ndarray = field(default_factory=lambda: np.eye(3))  # sensor axes in body coordinates (columns)
    p_BS: np.ndarray = field(default_factory=lambda: np.zeros(3))  # sensor origin in the body frame, m
    acc_signs: np.ndarray = field(default_factory=lambda: np.ones(3))
    gyro_axes: np.ndarray = field(default_factory=lambda: np.eye(3))
