"""Sensor-to-segment calibration (gaitlstm.mounting, docs/calibration.md)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import DEMO_TRIAL, REPO, shared_or_skip
from leg_models import legs_osim, walking
from scipy.spatial.transform import Rotation

from gaitlstm.io.camargo import read_camargo_trial
from gaitlstm.mounting import (calibrate, check_pair, guess_placement, handedness, lead_lag_correlation, remount, still_fits,
                               to_right_handed)
from gaitlstm.mounting import golden
from gaitlstm.mounting.linalg import jacobi_eigen_sym3, rotation_angle_deg
from gaitlstm.simulate import Motion, Mount, parse_osim, simulate_imus
from gaitlstm.simulate.imu import CAMARGO_MOUNTS
from gaitlstm.simulate.kinematics import Coordinates

GOLDEN = REPO / "test" / "fixtures" / "calibration" / "golden.json"


def shipped(placement: str, seconds: float = 15.0) -> tuple[np.ndarray, np.ndarray]:
    s = read_camargo_trial(DEMO_TRIAL / "levelground_ccw_normal_04_01_imu.csv.gz").imus[placement]
    n = int(seconds * 100)
    return s.acc[::2][:n], s.gyro[::2][:n]


def fitted_z(sensor: str) -> np.ndarray:
    """The segment's z axis in the recorded GYRO channels of AB06's sensor (validate's fitted mount)."""
    m = CAMARGO_MOUNTS[sensor]
    return m.gyro_axes @ m.R_BS[2, :]


def simulated(seconds: float = 14.0, cadence_hz: float = 0.9) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Right-handed sensors on the thigh and foot of the small test model, axes = segment axes."""
    model = parse_osim(legs_osim())
    t = np.arange(0.0, seconds + 0.2, 0.01)
    deg = walking(t, cadence_hz)
    values = {c: (v if c in ("pelvis_tx", "pelvis_ty") else np.radians(v)) for c, v in deg.items()}
    values |= {c: np.zeros_like(t) for c in model.coordinates if c not in values}
    motion = Motion(Coordinates(t=t, values=values, source="test"))
    mounts = {"femur_r": Mount("femur_r", p_BS=np.array([0.06, -0.2, 0.05])), "calcn_r": Mount("calcn_r", p_BS=np.array([0.1, 0.03, 0.0]))}
    imus = simulate_imus(model, motion, mounts, np.arange(0.05, seconds + 0.05, 0.01))
    return {k: (v.acc, v.gyro) for k, v in imus.items()}


def close(a, b, tol: float, path: str = "") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            close(a[k], b[k], tol, f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            close(x, y, tol, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert b is not None and abs(a - b) <= tol * max(1.0, abs(a)), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_golden_vectors_are_what_the_code_computes_now():
    want = json.loads(GOLDEN.read_text())
    got = json.loads(json.dumps(golden.build()))
    close(want, got, want["tolerance"]["abs"])


def test_jacobi_matches_numpy_on_random_symmetric_matrices():
    rng = np.random.default_rng(0)
    for _ in range(50):
        A = rng.normal(size=(3, 3))
        S = A @ A.T if rng.random() < 0.5 else A + A.T
        values, vectors = jacobi_eigen_sym3(S)
        ref = np.linalg.eigvalsh(S)[::-1]
        assert np.allclose(values, ref, atol=1e-12)
        assert np.allclose(S @ vectors, vectors * values, atol=1e-11)
        assert np.allclose(vectors.T @ vectors, np.eye(3), atol=1e-12)


def test_rotation_angle_is_accurate_near_zero_and_pi():
    for deg in (1e-5, 0.5, 90.0, 179.9):
        R = Rotation.from_rotvec(np.radians(deg) * np.array([0.6, 0.0, 0.8])).as_matrix()
        assert rotation_angle_deg(R, np.eye(3)) == pytest.approx(deg, rel=1e-9)


def test_handedness_tells_a_simulated_sensor_from_its_mirrored_copy():
    for placement, (acc, gyro) in simulated().items():
        right = handedness(acc, gyro)
        mirrored = handedness(*to_right_handed(acc, gyro))  # the Z-label flip is its own inverse
        assert right.decision == "right" and right.score > 0.5, (placement, right)
        assert mirrored.decision == "mirrored" and mirrored.score < -0.5, (placement, mirrored)


def test_a_consistent_mirror_passes_the_handedness_test():
    # All acc axes negated, gyro as is (AB06's thigh, docs/calibration.md): a proper sensor on the mirror-image motion.
    acc, gyro = simulated()["femur_r"]
    assert handedness(-acc, gyro).decision == "right"
    # A negated gyro is a true fault and is caught.
    assert handedness(acc, -gyro).decision == "mirrored"


def test_handedness_is_undecided_when_the_sensor_is_still():
    acc, gyro = golden.still_stream()
    h = handedness(acc, gyro)
    assert h.decision == "undecided" and h.reason == "too_still"


def test_ab06_thigh_and_foot_streams_are_right_handed():
    for placement in ("femur_r", "calcn_r"):
        assert handedness(*shipped(placement)).decision == "right", placement


def test_calibration_follows_a_remounted_sensor_exactly():
    rng = np.random.default_rng(3)
    for placement in ("femur_r", "calcn_r"):
        acc, gyro = shipped(placement)
        base = calibrate(acc, gyro)
        assert base.ok, base.reason
        for _ in range(3):
            Q = Rotation.random(random_state=rng).as_matrix()
            c = calibrate(*remount(acc, gyro, Q), previous=base.C)
            assert c.ok
            assert np.allclose(c.C, base.C @ Q.T, atol=1e-9)
            assert c.agreement_deg == pytest.approx(math.degrees(Rotation.from_matrix(Q).magnitude()), abs=1e-6)


def test_calibrated_flexion_axis_matches_ab06s_fitted_mounts_with_its_sign():
    for placement, sensor in (("femur_r", "thigh"), ("calcn_r", "foot")):
        c = calibrate(*shipped(placement))
        assert c.ok, (placement, c.reason)
        assert c.C[2] @ fitted_z(sensor) > math.cos(math.radians(20)), placement  # right side: z points right
        assert c.planarity > 0.85 and c.sign_margin > 0.1


def test_a_time_symmetric_gait_gives_no_flexion_sign():
    # The test model's joints are pure sinusoids: no arrow of time in the sagittal rate.
    acc, gyro = simulated()["femur_r"]
    c = calibrate(acc, gyro)
    assert not c.ok and c.reason == "sign_uncertain"
    assert c.planarity > 0.9


def foot_rate(acc: np.ndarray, gyro: np.ndarray) -> np.ndarray:
    """A foot's sagittal rate (C gyro)_z from its own calibration: the thigh's sign partner."""
    c = calibrate(acc, gyro)
    assert c.ok, c.reason
    return gyro @ c.C[2]


def test_a_thigh_without_an_arrow_of_time_takes_its_sign_from_its_foot():
    legs = golden.leg_streams()
    Q = Rotation.from_euler("xyz", [40.0, -75.0, 120.0], degrees=True).as_matrix()
    thigh = remount(*legs["sym_thigh"], Q)
    alone = calibrate(*thigh)
    assert alone.reason == "sign_uncertain" and alone.sign_source == "own" and alone.joint_margin is None
    joint = calibrate(*thigh, sign_partner=foot_rate(*legs["foot_follows"]))
    assert joint.ok and joint.sign_source == "joint" and joint.joint_margin > 0.7
    assert np.allclose(joint.C[2], Q[:, 2], atol=1e-6)  # the segment's own z, seen through the mount
    # Both turned around (the same walk read with the thigh's z reversed) is the same answer.
    flipped_partner = calibrate(*thigh, sign_partner=-foot_rate(*legs["foot_follows"]))
    assert flipped_partner.ok and np.allclose(flipped_partner.C[2], -Q[:, 2], atol=1e-6)
    late = calibrate(*thigh, sign_partner=foot_rate(*legs["foot_quarter"]))
    assert late.reason == "sign_uncertain" and late.sign_source == "joint" and abs(late.joint_margin) < 0.3


def test_the_joint_statistic_is_odd_in_the_thigh_and_a_confident_thigh_keeps_its_own_sign():
    acc, gyro = shipped("femur_r")
    w_foot = foot_rate(*shipped("calcn_r"))
    own = calibrate(acc, gyro)
    both = calibrate(acc, gyro, sign_partner=w_foot)
    assert both.sign_source == "own" and np.array_equal(both.C, own.C)
    assert both.joint_margin > 0.5  # reported, and it agrees with the own sign
    w = gyro @ own.C[2]
    assert lead_lag_correlation(-w, w_foot, 20) == pytest.approx(-lead_lag_correlation(w, w_foot, 20), abs=1e-15)
    with pytest.raises(ValueError, match="sign_partner: expected the foot's sagittal rate on the same 1500 samples"):
        calibrate(acc, gyro, sign_partner=w_foot[:-1])


def test_the_joint_rule_calibrates_ab06s_one_uncertain_thigh():
    """levelground_cw_slow_04_01's thigh: own margin 0.040 (refused); its foot decides, and rightly."""
    tr = read_camargo_trial(shared_or_skip("camargo_ab06", "trials") / "levelground_cw_slow_04_01_imu.csv.gz")
    (ta, tg), (fa, fg) = ((tr.imus[p].acc[::2][:3000], tr.imus[p].gyro[::2][:3000]) for p in ("femur_r", "calcn_r"))
    assert calibrate(ta, tg).reason == "sign_uncertain"
    c = calibrate(ta, tg, sign_partner=foot_rate(fa, fg))
    assert c.ok and c.sign_source == "joint" and c.joint_margin > 0.5, (c.reason, c.joint_margin)
    assert c.C[2] @ fitted_z("thigh") > math.cos(math.radians(25))


def test_weak_calibrations_are_refused_with_their_reason():
    acc, gyro = shipped("calcn_r")
    still_acc, still_gyro = golden.still_stream(2000)
    assert calibrate(still_acc, still_gyro).reason == "no_motion"
    swaying = still_gyro * 20  # a standing person: rates well above a table's, still by the stand rule
    stand_then_walk = (np.vstack([still_acc, acc[300:700]]), np.vstack([swaying, gyro[300:700]]))
    assert calibrate(*stand_then_walk).reason == "standing_only"
    assert calibrate(acc[:600], gyro[:600]).reason == "too_short"
    rng = np.random.default_rng(0)
    noise = calibrate(acc + rng.normal(0, 3, acc.shape), rng.normal(0, 2, gyro.shape))
    assert noise.reason in ("no_gait", "not_planar")
    assert calibrate(*to_right_handed(acc, gyro)).reason == "mirrored"


def test_a_gait_without_one_flexion_axis_is_not_planar():
    # The foot's sagittal rate on z, and the same rate half a stride later on x: two horizontal axes of
    # equal power and little correlation (0.07 on this trial), so no single flexion axis.
    acc, gyro = shipped("calcn_r")
    c = calibrate(acc, gyro)
    w = gyro @ c.C[2]
    later = np.roll(w, int(round(c.stride_s * 100 / 2)))
    two_axes = np.outer(w, c.C[2]) + np.outer(later, c.C[0])
    c2 = calibrate(acc, two_axes, check_handedness=False)
    assert not c2.ok and c2.reason == "not_planar" and c2.planarity < 0.7


def test_placement_check_tells_thigh_from_foot_and_catches_a_swap():
    thigh, foot = shipped("femur_r"), shipped("calcn_r")
    assert guess_placement(*thigh).placement == "femur"
    assert guess_placement(*foot).placement == "calcn"
    assert check_pair(*thigh, *foot).swapped is False
    assert check_pair(*foot, *thigh).swapped is True
    # Norms only: a remount changes nothing.
    Q = Rotation.from_euler("xyz", [30, 60, 90], degrees=True).as_matrix()
    assert guess_placement(*remount(*foot, Q)).score == pytest.approx(guess_placement(*foot).score, abs=1e-9)


def test_restrap_detection():
    acc, gyro = shipped("calcn_r")
    C = calibrate(acc, gyro).C
    small = Rotation.from_rotvec(np.radians(4) * np.array([1.0, 0, 0])).as_matrix()
    big = Rotation.from_rotvec(np.radians(30) * np.array([0, 0, 1.0])).as_matrix()
    assert still_fits(C, *remount(acc, gyro, small)).decision == "fits"
    f = still_fits(C, *remount(acc, gyro, big))
    assert f.decision == "stopped_fitting" and f.angle_deg == pytest.approx(30, abs=1e-6)
    assert still_fits(C, acc[:500], gyro[:500]).decision == "undecided"


def test_ab06_trials_from_shared_data():
    trials = sorted(shared_or_skip("camargo_ab06", "trials").glob("*_normal_0[12]_01_imu.csv.gz"))
    assert trials
    for p in trials:
        tr = read_camargo_trial(p)
        for placement, sensor in (("femur_r", "thigh"), ("calcn_r", "foot")):
            s = tr.imus[placement]
            c = calibrate(s.acc[::2], s.gyro[::2])
            assert c.ok, (p.name, placement, c.reason)
            assert c.C[2] @ fitted_z(sensor) > math.cos(math.radians(25)), (p.name, placement)
