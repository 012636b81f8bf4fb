"""What makes a real IMU differ from a perfect one, seeded.

Defaults come from the Xsens MTi 1-series datasheet (Movella, the sensor
family of the Xsens DOT / MTi-1/2/3): accelerometer noise density
120 ug/sqrt(Hz), in-run bias stability 0.03 mg, range +-16 g; gyroscope
noise density 0.007 deg/s/sqrt(Hz), in-run bias stability 10 deg/h, range
+-2000 deg/s. Values marked ASSUMED have no datasheet line (turn-on bias
residual, scale error, placement, soft tissue); docs/simulator.md says why
each was picked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import bilinear, lfilter
from scipy.spatial.transform import Rotation

from ..io.types import G
from .mount import Mount

MICRO_G = 1e-6 * G
DEG = np.pi / 180.0


@dataclass(frozen=True)
class NoiseModel:
    # White noise, continuous-time densities (discrete std = density * sqrt(rate), the Kalibr convention).
    acc_noise_density: float = 120 * MICRO_G  # m/s^2/sqrt(Hz), datasheet
    gyro_noise_density: float = 0.007 * DEG  # rad/s/sqrt(Hz), datasheet
    # Bias: a constant per sensor and axis plus a random walk whose std reaches
    # the datasheet in-run bias stability after `bias_walk_tau_s`.
    acc_bias_std: float = 5e-3 * G  # m/s^2, ASSUMED turn-on residual after factory calibration
    gyro_bias_std: float = 0.2 * DEG  # rad/s, ASSUMED
    acc_bias_stability: float = 0.03e-3 * G  # m/s^2, datasheet
    gyro_bias_stability: float = 10 * DEG / 3600  # rad/s, datasheet
    bias_walk_tau_s: float = 100.0
    # Per-axis gain error (1 + N(0, std)).
    acc_scale_std: float = 0.005  # ASSUMED
    gyro_scale_std: float = 0.005  # ASSUMED
    # Saturation (datasheet ranges).
    acc_range: float = 16 * G
    gyro_range: float = 2000 * DEG
    # Placement error: per-axis rotation-vector std and per-axis offset std.
    mount_rotation_std: float = 2.0 * DEG  # ASSUMED: ~3.5 deg RMS total
    mount_offset_std: float = 0.006  # m, ASSUMED: ~1 cm RMS total
    # Soft tissue: sensor pose jiggles relative to the bone like a damped
    # mass-spring driven by noise (natural frequency, damping ratio, RMS size).
    tissue_freq_hz: float = 12.0  # ASSUMED (wobbling-mass studies: 10-20 Hz)
    tissue_damping: float = 0.3
    tissue_rotation_rms: float = 0.2 * DEG  # per axis
    tissue_offset_rms: float = 0.0003  # m per axis

    @classmethod
    def ideal(cls) -> "NoiseModel":
        """Every error zero: useful to switch single terms on in tests."""
        return cls(**{f: 0.0 for f in cls.__dataclass_fields__ if f not in ("bias_walk_tau_s", "acc_range", "gyro_range", "tissue_freq_hz", "tissue_damping")})

    def with_(self, **changes: float) -> "NoiseModel":
        return replace(self, **changes)

    def misplace(self, mount: Mount, rng: np.random.Generator) -> Mount:
        """The mount as actually strapped on: a small random rotation and offset."""
        dR = Rotation.from_rotvec(rng.normal(0.0, self.mount_rotation_std, 3)).as_matrix()
        dp = rng.normal(0.0, self.mount_offset_std, 3)
        return replace(mount, R_BS=mount.R_BS @ dR, p_BS=mount.p_BS + dp)


@dataclass
class SensorErrors:
    """One sensor's drawn errors (constant over a recording)."""

    acc_scale: np.ndarray  # (3,)
    gyro_scale: np.ndarray
    acc_bias: np.ndarray  # (3,) m/s^2
    gyro_bias: np.ndarray  # (3,) rad/s
    model: NoiseModel

    @classmethod
    def draw(cls, m: NoiseModel, rng: np.random.Generator) -> "SensorErrors":
        return cls(
            acc_scale=1.0 + rng.normal(0.0, m.acc_scale_std, 3),
            gyro_scale=1.0 + rng.normal(0.0, m.gyro_scale_std, 3),
            acc_bias=rng.normal(0.0, m.acc_bias_std, 3),
            gyro_bias=rng.normal(0.0, m.gyro_bias_std, 3),
            model=m,
        )

    def apply(self, acc: np.ndarray, gyro: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        m = self.model
        dt = float(np.median(np.diff(t))) if len(t) > 1 else 0.01
        rate = 1.0 / dt
        n = len(t)

        def walk(stability: float) -> np.ndarray:
            step = stability / np.sqrt(m.bias_walk_tau_s) * np.sqrt(dt)
            return np.cumsum(rng.normal(0.0, step, (n, 3)), axis=0)

        acc_out = acc * self.acc_scale + self.acc_bias + walk(m.acc_bias_stability)
        acc_out += rng.normal(0.0, m.acc_noise_density * np.sqrt(rate), (n, 3))
        gyro_out = gyro * self.gyro_scale + self.gyro_bias + walk(m.gyro_bias_stability)
        gyro_out += rng.normal(0.0, m.gyro_noise_density * np.sqrt(rate), (n, 3))
        return np.clip(acc_out, -m.acc_range, m.acc_range), np.clip(gyro_out, -m.gyro_range, m.gyro_range)


def resonant_noise(n: int, rate_hz: float, freq_hz: float, damping: float, rms: float, rng: np.random.Generator) -> np.ndarray:
    """(n,3) white noise through a damped oscillator w^2/(s^2 + 2 z w s + w^2), scaled to `rms` per axis."""
    if rms == 0.0 or n < 2:
        return np.zeros((n, 3))
    w = 2 * np.pi * min(freq_hz, 0.4 * rate_hz)
    b, a = bilinear([w * w], [1.0, 2 * damping * w, w * w], fs=rate_hz)
    warm = int(5 * rate_hz / freq_hz / max(damping, 0.05))  # let the filter forget its zero start
    x = lfilter(b, a, rng.normal(size=(n + warm, 3)), axis=0)[warm:]
    return x * (rms / np.maximum(x.std(axis=0), 1e-12))


def soft_tissue_offsets(m: NoiseModel, t: np.ndarray, rng: np.random.Generator) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
    """A smooth function t -> (rotation vector (N,3), offset (N,3)) of the sensor relative to the bone."""
    if m.tissue_rotation_rms == 0.0 and m.tissue_offset_rms == 0.0:
        return None
    rate = 1.0 / float(np.median(np.diff(t)))
    rot = CubicSpline(t, resonant_noise(len(t), rate, m.tissue_freq_hz, m.tissue_damping, m.tissue_rotation_rms, rng))
    off = CubicSpline(t, resonant_noise(len(t), rate, m.tissue_freq_hz, m.tissue_damping, m.tissue_offset_rms, rng))
    return lambda tt: (rot(tt), off(tt))
