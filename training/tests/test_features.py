import math

import numpy as np
import pytest

from gaitlstm.dataset import load_trials
from gaitlstm.features import (
    FeatureConfig,
    euler_zyx,
    grid_features,
    grid_times,
    make_windows,
    published_mask,
    quat_multiply,
    resample,
    shortest_arc_from_z,
    window_starts,
    wrap_angle,
)


def test_grid_spans_the_overlap_of_all_placements():
    g = grid_times([0.003, 0.0], [1.0, 0.9951], 100.0)
    assert g[0] == pytest.approx(0.003)
    assert g[-1] <= 0.9951 and g[-1] + 0.01 > 0.9951
    assert np.allclose(np.diff(g), 0.01)


def test_grid_rejects_non_overlapping_streams():
    with pytest.raises(ValueError, match="do not overlap"):
        grid_times([0.0, 5.0], [1.0, 6.0], 100.0)


def test_resample_200_to_100_hz_keeps_every_other_sample():
    t = np.arange(0, 1, 0.005)
    v = np.stack([np.sin(t), np.cos(t)], 1)
    out = resample(t, v, grid_times([0.0], [t[-1]], 100.0))
    assert np.allclose(out, v[::2][: len(out)], atol=1e-12)


def test_euler_of_known_rotations():
    half = math.sqrt(0.5)
    c, s = math.cos(math.pi / 8), math.sin(math.pi / 8)  # 45 deg pitch: pitch 90 deg is gimbal lock
    q = np.array([[1, 0, 0, 0], [half, half, 0, 0], [c, 0, s, 0], [half, 0, 0, half]], float)
    e = euler_zyx(q)
    assert np.allclose(e, [[0, 0, 0], [math.pi / 2, 0, 0], [0, math.pi / 4, 0], [0, 0, math.pi / 2]], atol=1e-9)


def test_shortest_arc_maps_z_onto_the_direction():
    d = np.array([-1.0, 0.02, 0.05])
    q = np.array(shortest_arc_from_z(d))
    # rotate +z by q: v' = q * (0, z) * conj(q)
    v = quat_multiply(quat_multiply(q, np.array([0, 0, 0, 1.0])), q * [1, -1, -1, -1])
    assert np.allclose(v[1:], d / np.linalg.norm(d), atol=1e-9)


def test_wrap_angle_range():
    a = wrap_angle(np.array([math.pi, -math.pi, 3 * math.pi, 0.1 - 2 * math.pi]))
    assert np.allclose(a, [math.pi, math.pi, math.pi, 0.1])


def test_windows_start_at_zero_every_stride_and_publish_a_gap_free_stream():
    starts = window_starts(130, 50, 25)
    assert starts.tolist() == [0, 25, 50, 75]
    mask = published_mask(len(starts), 50, 25)
    published = np.concatenate([s + np.flatnonzero(m) for s, m in zip(starts, mask)])
    assert published.tolist() == list(range(125))
    assert window_starts(49, 50, 25).size == 0


def test_a_shorter_first_stride_moves_the_later_windows_and_the_stream_stays_gap_free():
    # The edge's staggered windows (docs/contract.md step 7): window 1 starts 7 samples after window 0.
    starts = window_starts(132, 50, 25, first_stride=7)
    assert starts.tolist() == [0, 7, 32, 57, 82]
    mask = published_mask(len(starts), 50, 25, first_stride=7)
    assert mask[1].sum() == 7 and mask[2].sum() == 25
    published = np.concatenate([s + np.flatnonzero(m) for s, m in zip(starts, mask)])
    assert published.tolist() == list(range(132))
    assert window_starts(50, 50, 25, first_stride=7).tolist() == [0]
    assert window_starts(130, 50, 25, first_stride=25).tolist() == window_starts(130, 50, 25).tolist()
    with pytest.raises(ValueError, match="1..stride"):
        window_starts(130, 50, 25, first_stride=0)


def test_heading_is_relative_to_the_window_start():
    rows = np.zeros((100, 9))
    rows[:, 8] = np.linspace(3.0, 3.6, 100)  # crosses +pi
    w = make_windows(rows, np.array([0, 25]), 50, 1)
    assert w[0, 0, 8] == 0 and w[1, 0, 8] == 0
    assert np.all(np.abs(w[:, :, 8]) < 0.5)


def test_grid_features_shape_and_gravity_attitude():
    t = np.arange(0, 2, 0.005)
    acc = np.tile([0.0, 0.0, 9.81], (len(t), 1))
    acc[:, 0] = 0.01 * np.sin(t)  # avoid an exactly aligned first correction
    gyro = np.zeros((len(t), 3))
    cfg = FeatureConfig(placements=("femur_r", "calcn_r"))
    g = grid_features({"femur_r": (t, acc, gyro), "calcn_r": (t, acc, gyro)}, cfg)
    assert g.rows.shape == (len(g.t), 18)
    assert np.abs(g.rows[:, 6:8]).max() < 0.01  # level: roll and pitch ~ 0


def test_missing_placement_is_named():
    cfg = FeatureConfig(placements=("femur_r", "calcn_r"))
    t = np.arange(0, 1, 0.01)
    with pytest.raises(ValueError, match="calcn_r"):
        grid_features({"femur_r": (t, np.ones((100, 3)), np.zeros((100, 3)))}, cfg)


def test_grid_features_refuse_a_gap(demo_dir):
    trial = load_trials(demo_dir)["ab06"][0]
    fc = FeatureConfig(placements=("femur_r", "calcn_r"))
    streams = {p: (trial.imus[p].t.copy(), trial.imus[p].acc, trial.imus[p].gyro) for p in fc.placements}
    grid_features(streams, fc)  # the shipped trial has no gap
    t = streams["calcn_r"][0]
    t[500:] += 0.2  # a 0.205 s hole after sample 499
    with pytest.raises(ValueError, match=r"placement 'calcn_r'.*t=\d+\.\d+ s.*max_gap_s=0.1"):
        grid_features(streams, fc)


def test_real_ab06_trials_have_no_gap():
    from conftest import shared_or_skip
    from gaitlstm.features import first_gap

    trials = load_trials(shared_or_skip("camargo_ab06", "trials"))
    gaps = [f"{t.name}/{p}" for ts in trials.values() for t in ts for p, s in t.imus.items() if first_gap(s.t, 0.1) is not None]
    assert gaps == []

