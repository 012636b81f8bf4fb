"""The Python Madgwick port against its own physics and against the npm package itself."""

import json
import math
import shutil
import subprocess

import numpy as np
import pytest

from conftest import REPO
from gaitlstm.ahrs import MadgwickImu, run_madgwick


def test_init_from_gravity_gives_level_attitude():
    f = MadgwickImu(beta=0.1, dt=0.01)
    f.init_from_accel(0.0, 0.0, 9.81)
    assert f.q == pytest.approx([1.0, 0.0, 0.0, 0.0], abs=1e-12)


def test_exactly_zero_correction_step_is_a_gyro_step_not_nan():
    # Identity attitude and gravity exactly on z: the gradient is exactly zero,
    # which turns the npm package's filter NaN forever.
    f = MadgwickImu(beta=0.1, dt=0.01)
    f.update(0.0, 0.0, 1.0, 0.0, 0.0, 9.81)
    assert f.zero_corrections == 1 and f.resets == 0
    assert f.q[3] == pytest.approx(math.sin(0.005), abs=1e-6)  # 10 ms at 1 rad/s about z
    f.update(0.1, 0.0, 0.0, 0.0, 0.3, 9.8)
    assert all(math.isfinite(v) for v in f.q)


def test_constant_yaw_rate_integrates_with_the_given_time_step():
    n = 100
    acc = np.tile([0.0, 1e-3, 9.81], (n, 1))
    gyro = np.tile([0.0, 0.0, 1.0], (n, 1))
    q, _ = run_madgwick(acc, gyro, beta=0.1, dt=0.01)  # sample 0 initialises, 99 steps integrate
    w, x, y, z = q[-1]
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    assert yaw == pytest.approx(0.99, abs=0.02)


NODE_SCRIPT = """
const AHRS = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const f = new AHRS({algorithm: 'Madgwick', sampleInterval: 10, beta: input.beta});
const out = [];
input.acc.forEach((a, k) => {
  const g = input.gyro[k];
  if (k === 0) f.init(a[0], a[1], a[2], 0, 0, 0);
  else f.update(g[0], g[1], g[2], a[0], a[1], a[2], 0, 0, 0, input.dt);
  const q = f.getQuaternion();
  out.push([q.w, q.x, q.y, q.z]);
});
console.log(JSON.stringify(out));
"""


def test_port_matches_the_npm_package_on_real_walking_data(demo_dir):
    ahrs = REPO / "node_modules" / "ahrs"
    node = shutil.which("node")
    assert node and ahrs.is_dir(), "needs node and node_modules/ahrs (make setup-node)"
    from gaitlstm.io.camargo import read_camargo_trial

    trial = read_camargo_trial(demo_dir / "levelground_ccw_normal_04_01_imu.csv.gz")
    s = trial.imus["femur_r"]
    acc, gyro = s.acc[:1500:2], s.gyro[:1500:2]
    payload = json.dumps({"acc": acc.tolist(), "gyro": gyro.tolist(), "beta": 0.1, "dt": 0.01})
    res = subprocess.run([node, "-e", NODE_SCRIPT, str(ahrs)], input=payload, capture_output=True, text=True, check=True)
    js = np.array(json.loads(res.stdout))
    py, resets = run_madgwick(acc, gyro, beta=0.1, dt=0.01)
    assert resets == 0
    assert np.abs(js - py).max() < 1e-9
