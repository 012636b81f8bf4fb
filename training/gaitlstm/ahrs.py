"""A line-for-line port of npm `ahrs` 1.3.3's Madgwick IMU filter.

The edge runtime runs the npm package itself; this port exists so training
sees exactly the orientation the device will compute. Operation order is kept
as in `Madgwick.js` so both sides agree to ~1e-12 (golden vectors check it).
Only the 6-axis branch is ported: our feature pipeline passes no magnetometer.
"""

from __future__ import annotations

import math

import numpy as np


class MadgwickImu:
    """Madgwick's gradient-descent IMU filter (gyro + accelerometer)."""

    def __init__(self, beta: float, dt: float) -> None:
        self.beta = beta
        self.dt = dt
        self.q = [1.0, 0.0, 0.0, 0.0]
        self.resets = 0
        self.zero_corrections = 0

    def init_from_accel(self, ax: float, ay: float, az: float) -> None:
        """`init(ax, ay, az, 0, 0, 0)` of the npm package: attitude from gravity, heading 0."""
        pitch = -math.atan2(ax, math.sqrt(ay * ay + az * az))
        # cross(a, x) then cross(x, tmp1), as the package computes roll
        t1x = ay * 0.0 - az * 0.0
        t1y = az * 1.0 - ax * 0.0
        t1z = ax * 0.0 - ay * 1.0
        t2y = 0.0 * t1x - 1.0 * t1z
        t2z = 1.0 * t1y - 0.0 * t1x
        roll = math.atan2(t2y, t2z)
        # magnetometer (0,0,0): yh = 0, xh = 0, heading = -atan2(0, 0)
        cr, sr = math.cos(roll), math.sin(roll)
        sp = math.sin(pitch)
        yh = 0.0 * cr - 0.0 * sr
        xh = 0.0 * math.cos(pitch) + 0.0 * sr * sp + 0.0 * cr * sp
        heading = -math.atan2(yh, xh)
        cy, sy = math.cos(heading * 0.5), math.sin(heading * 0.5)
        cp, sp2 = math.cos(pitch * 0.5), math.sin(pitch * 0.5)
        cr2, sr2 = math.cos(roll * 0.5), math.sin(roll * 0.5)
        w = cr2 * cp * cy + sr2 * sp2 * sy
        x = sr2 * cp * cy - cr2 * sp2 * sy
        y = cr2 * sp2 * cy + sr2 * cp * sy
        z = cr2 * cp * sy - sr2 * sp2 * cy
        n = (w * w + x * x + y * y + z * z) ** -0.5
        self.q = [w * n, x * n, y * n, z * n]

    def update(self, gx: float, gy: float, gz: float, ax: float, ay: float, az: float) -> None:
        """One step. A zero gradient is a gyro-only step; a non-finite result (a
        non-finite input) re-initialises from the accelerometer and is counted."""
        raw_ax, raw_ay, raw_az = ax, ay, az
        q0, q1, q2, q3 = self.q
        beta = self.beta
        qd1 = 0.5 * (-q1 * gx - q2 * gy - q3 * gz)
        qd2 = 0.5 * (q0 * gx + q2 * gz - q3 * gy)
        qd3 = 0.5 * (q0 * gy - q1 * gz + q3 * gx)
        qd4 = 0.5 * (q0 * gz + q1 * gy - q2 * gx)
        finite = True
        if not (ax == 0.0 and ay == 0.0 and az == 0.0):
            rn = (ax * ax + ay * ay + az * az) ** -0.5
            ax *= rn
            ay *= rn
            az *= rn
            _2q0, _2q1, _2q2, _2q3 = 2.0 * q0, 2.0 * q1, 2.0 * q2, 2.0 * q3
            _4q0, _4q1, _4q2 = 4.0 * q0, 4.0 * q1, 4.0 * q2
            _8q1, _8q2 = 8.0 * q1, 8.0 * q2
            q0q0, q1q1, q2q2, q3q3 = q0 * q0, q1 * q1, q2 * q2, q3 * q3
            s0 = _4q0 * q2q2 + _2q2 * ax + _4q0 * q1q1 - _2q1 * ay
            s1 = _4q1 * q3q3 - _2q3 * ax + 4.0 * q0q0 * q1 - _2q0 * ay - _4q1 + _8q1 * q1q1 + _8q1 * q2q2 + _4q1 * az
            s2 = 4.0 * q0q0 * q2 + _2q0 * ax + _4q2 * q3q3 - _2q3 * ay - _4q2 + _8q2 * q1q1 + _8q2 * q2q2 + _4q2 * az
            s3 = 4.0 * q1q1 * q3 - _2q1 * ax + 4.0 * q2q2 * q3 - _2q2 * ay
            ss = s0 * s0 + s1 * s1 + s2 * s2 + s3 * s3
            if ss == 0.0:
                # The estimate already matches the accelerometer exactly: no correction.
                # (The npm package would compute 0 * Infinity = NaN here; the edge hands it
                # a zero accelerometer instead, which makes it take this same gyro-only step.)
                self.zero_corrections += 1
            else:
                rn = ss**-0.5
                qd1 -= beta * (s0 * rn)
                qd2 -= beta * (s1 * rn)
                qd3 -= beta * (s2 * rn)
                qd4 -= beta * (s3 * rn)
        if finite:
            q0 += qd1 * self.dt
            q1 += qd2 * self.dt
            q2 += qd3 * self.dt
            q3 += qd4 * self.dt
            rn = (q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3) ** -0.5
            q = [q0 * rn, q1 * rn, q2 * rn, q3 * rn]
            finite = all(math.isfinite(v) for v in q)
        if not finite:
            self.resets += 1
            self.init_from_accel(raw_ax, raw_ay, raw_az)
            return
        self.q = q


def run_madgwick(acc: np.ndarray, gyro: np.ndarray, beta: float, dt: float) -> tuple[np.ndarray, int]:
    """Orientation (N, 4) w,x,y,z after each sample, and the count of NaN resets."""
    f = MadgwickImu(beta, dt)
    n = acc.shape[0]
    out = np.empty((n, 4))
    a = acc.tolist()
    g = gyro.tolist()
    for k in range(n):
        ak, gk = a[k], g[k]
        if k == 0:
            # Initialise only: right after init the correction is rounding noise, which
            # the package normalises into a full step in a direction that differs in the
            # last bit between V8 and CPython. Skipping it keeps both sides identical.
            f.init_from_accel(ak[0], ak[1], ak[2])
        else:
            f.update(gk[0], gk[1], gk[2], ak[0], ak[1], ak[2])
        out[k] = f.q
    return out, f.resets
