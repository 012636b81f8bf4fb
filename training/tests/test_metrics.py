import numpy as np
import pytest

from gaitlstm.metrics import gait_cycles, joint_metrics, nrmse, rmse


def test_rmse_and_nrmse():
    true = np.array([0.0, 10.0, 20.0])
    pred = true + 2.0
    assert rmse(pred, true) == pytest.approx(2.0)
    assert nrmse(pred, true) == pytest.approx(0.1)


def test_gait_cycles_cut_at_hip_flexion_peaks():
    rate = 100.0
    t = np.arange(0, 10, 1 / rate)
    hip = 20 * np.cos(2 * np.pi * t / 1.1)  # peaks every 1.1 s, first at t=0 (not a peak)
    cycles = gait_cycles(hip, rate)
    assert len(cycles) >= 7
    assert all(abs((b - a) / rate - 1.1) < 0.02 for a, b in cycles)


def test_joint_metrics_perfect_and_offset():
    rate = 100.0
    t = np.arange(0, 6, 1 / rate)
    true = np.stack([20 * np.cos(2 * np.pi * t), 5 * np.sin(2 * np.pi * t)], 1)
    m = joint_metrics([(true + [1.0, 0.0], true)], ("hip_flexion_r", "knee_flexion_r"), rate)
    assert m["joints"]["hip_flexion_r"]["rmse_deg"] == pytest.approx(1.0)
    assert m["joints"]["hip_flexion_r"]["r"] == pytest.approx(1.0)
    assert m["joints"]["knee_flexion_r"]["rmse_deg"] == pytest.approx(0.0)
    assert m["mean_rmse_deg"] == pytest.approx(0.5)
    assert m["n_cycles"] >= 4
