"""`gait-features/2`: the walking calibration before the AHRS (docs/contract.md,
docs/calibration.md), its refusals, the remount augmentation, `evaluate
--remounts`, and a v2 model's export and golden vectors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from conftest import DEMO_TRIAL, TINY, shared_or_skip
from gaitlstm.cli import main as cli
from gaitlstm.config import TrainConfig
from gaitlstm.contract import load_contract
from gaitlstm.manifest_schema import validate_manifest
from gaitlstm.dataset import load_recording, load_trials, to_recordings
from gaitlstm.export import export
from gaitlstm.features import (
    PIPELINE_V2, SEGMENT_REFERENCE, CalibrationRefused, FeatureConfig, grid_features, make_windows, window_starts,
)
from gaitlstm.io.types import ImuStream, Trial
from gaitlstm.reframe import random_remount, random_rotation
from gaitlstm.train import train

PLACEMENTS = ("femur_r", "calcn_r")
V2 = FeatureConfig(placements=PLACEMENTS, pipeline=PIPELINE_V2, euler_reference={p: SEGMENT_REFERENCE for p in PLACEMENTS})
V1 = FeatureConfig(placements=PLACEMENTS)


@pytest.fixture(scope="module")
def trial() -> Trial:
    return load_trials(DEMO_TRIAL)["ab06"][0]


def test_v2_features_do_not_depend_on_how_the_sensors_are_strapped_on(trial: Trial) -> None:
    """The calibration is rotation-equivariant, so a remounted trial's v2 features are the
    recorded ones; v1's are not (the reason for v2)."""
    rng = np.random.default_rng(7)
    for pipeline in (V2, V1):
        base = load_recording(trial, "ab06", pipeline).grid.rows
        moved = load_recording(random_remount(trial, PLACEMENTS, rng), "ab06", pipeline).grid.rows
        if pipeline is V2:
            np.testing.assert_allclose(moved, base, atol=1e-6, rtol=0)
        else:
            assert np.abs(moved - base).max() > 1.0


def test_v2_segment_frame_is_y_up_with_the_constant_euler_reference(trial: Trial) -> None:
    """The calibration rotates the walking vertical onto +y: acc's mean is about g on y, and
    with q_ref turning +z onto +y the mean roll and pitch are near 0 (far from gimbal lock)."""
    rows = load_recording(trial, "ab06", V2).grid.rows
    thigh = rows[:, :9]
    assert abs(thigh[:, 1].mean() - 9.8) < 1.0 and np.abs(thigh[:, [0, 2]].mean(axis=0)).max() < 1.0
    assert np.abs(thigh[:, 6:8].mean(axis=0)).max() < np.radians(20)
    assert np.abs(thigh[:, 7]).max() < np.radians(80)


def test_a_left_handed_thigh_is_detected_converted_and_reported(trial: Trial) -> None:
    """A Z label flipped on acc and gyro (after a random remount) is no rotation, so the
    calibration alone cannot absorb it; the pipeline's handedness test finds it mirrored,
    converts it (to_right_handed) and reports it, and the features are the recorded ones.
    A proper remount converts nothing."""
    base = load_recording(trial, "ab06", V2)
    assert base.grid.converted == {}
    left = load_recording(random_remount(trial, PLACEMENTS, np.random.default_rng(3), left_handed_thigh=True), "ab06", V2)
    assert list(left.grid.converted) == ["femur_r"] and left.grid.converted["femur_r"].decision == "mirrored"
    assert any("'femur_r': mirrored stream" in n and "converted to right-handed" in n for n in left.notes)
    np.testing.assert_allclose(left.grid.rows, base.grid.rows, atol=1e-6, rtol=0)
    # v1 has no calibration and converts nothing: the left-handed thigh reaches the model as is
    assert load_recording(random_remount(trial, PLACEMENTS, np.random.default_rng(3), left_handed_thigh=True), "ab06",
                          V1).grid.converted == {}


def test_a_refused_calibration_names_the_file_and_placement_and_is_never_used_raw(trial: Trial) -> None:
    # 6 s of walking: shorter than the 8 s a calibration needs.
    short = replace(trial, imus={p: ImuStream(t=s.t[:1200], acc=s.acc[:1200], gyro=s.gyro[:1200]) for p, s in trial.imus.items()})
    with pytest.raises(CalibrationRefused, match=r"levelground_ccw_normal_04_01.*placement 'femur_r'.*too_short") as e:
        load_recording(short, "ab06", V2)
    assert e.value.reason == "too_short" and e.value.trial == trial.name
    refused: list[CalibrationRefused] = []
    recs = to_recordings({"ab06": [short, trial]}, V2, refused=refused)
    assert [r.trial for r in recs["ab06"]] == [trial.name] and [x.trial for x in refused] == [trial.name]
    # v1 takes the same short trial (it never calibrates)
    assert len(load_recording(short, "ab06", V1).grid.t) > 0


@pytest.fixture(scope="module")
def v2_model(tmp_path_factory) -> tuple[dict, Path, dict]:
    out = tmp_path_factory.mktemp("v2run")
    ck = train(TrainConfig(data=str(DEMO_TRIAL), out=str(out), heldout=None, pipeline=PIPELINE_V2, remount_augment=1, **TINY))
    d = tmp_path_factory.mktemp("v2export") / "model"
    metrics = json.loads((out / "metrics.json").read_text())
    assert ck.feature_config.pipeline == PIPELINE_V2
    return export(out / "checkpoint.pt", d, "test-v2", "0.0.1"), d, metrics


def test_v2_export_writes_its_pipeline_and_calibration_settings(v2_model) -> None:
    m, d, metrics = v2_model
    validate_manifest(m, d / "manifest.json")  # the edge's schema, v2 branch (export checked it too)
    assert m["feature_pipeline"] == "gait-features/2"
    assert m["calibration"]["algorithm"] == "gait-calibration/2" and m["calibration"]["seconds"] == 30.0
    assert m["calibration"]["constants"]["MIN_WALK_S"] == 8.0 and m["calibration"]["constants"]["MIN_JOINT_MARGIN"] == 0.3
    assert {c["frame"] for c in m["channels"][:6]} == {"segment"}
    assert m["euler"]["reference"] == {p: list(SEGMENT_REFERENCE) for p in PLACEMENTS}
    c = load_contract(d)
    assert c.features.pipeline == PIPELINE_V2 and c.features.calibration_seconds == 30.0
    assert metrics["refused"] == []


def test_v2_golden_vectors_start_from_rotated_raw_inputs_and_reproduce(v2_model, trial: Trial) -> None:
    """The golden raw inputs are the trial read in other sensor frames, so only a
    calibration that works reproduces the golden features (which are the recorded trial's)."""
    _, d, _ = v2_model
    g = json.loads((d / "golden.json").read_text())
    c = load_contract(d)
    R = np.array(g["raw_remount"]["femur_r"])
    recorded = trial.imus["femur_r"]
    t0 = np.searchsorted(recorded.t, g["raw"]["femur_r"]["t"][0])
    np.testing.assert_allclose(np.array(g["raw"]["femur_r"]["acc"][:5]), recorded.acc[t0:t0 + 5] @ R.T, atol=1e-9)
    assert np.abs(R - np.eye(3)).max() > 0.5
    streams = {p: (np.array(v["t"]), np.array(v["acc"]), np.array(v["gyro"])) for p, v in g["raw"].items()}
    grid = grid_features(streams, c.features)
    x = make_windows(grid.rows, window_starts(len(grid.t), c.features.window, c.features.stride), c.features.window, 2)
    np.testing.assert_allclose(x, np.array(g["features"]), atol=g["tolerance"]["features_abs"], rtol=0)
    np.testing.assert_allclose(grid.calibrations["femur_r"].C, g["calibrations"]["femur_r"]["C"], atol=1e-9)
    # the same excerpt as recorded gives the same features: the rotation was undone
    plain = {p: (trial.imus[p].t, trial.imus[p].acc, trial.imus[p].gyro) for p in PLACEMENTS}
    plain = {p: tuple(a[(v[0] >= streams[p][0][0]) & (v[0] <= streams[p][0][-1])] for a in v) for p, v in plain.items()}
    np.testing.assert_allclose(grid_features(plain, c.features).rows, grid.rows, atol=1e-6, rtol=0)
    sess = ort.InferenceSession(str(d / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    y = np.stack([sess.run(None, {"imu_features": np.array(x[k:k + 1], dtype=np.float32)})[0][0] for k in range(len(x))])
    assert np.abs(y - np.array(g["outputs"]["int8"])).max() <= g["tolerance"]["outputs_abs_deg"]["int8"]


def test_evaluate_remounts_v2_scores_as_recorded_and_converts_left_handed_thighs(v2_model, demo_dir: Path, tmp_path: Path) -> None:
    # (The shipped v1 model is not compared here any more: it was trained on AB06's
    # thigh before the reader fixed its mirror, so it reads the fixed thigh wrongly in
    # every frame; test_v2_features_do_not_depend_on_how_the_sensors_are_strapped_on
    # shows v1's features moving under a remount.)
    _, d, _ = v2_model
    out = tmp_path / "v2.json"
    assert cli(["evaluate", "--model", str(d), "--data", str(demo_dir), "--remounts", "2", "--remount-seed", "5",
                "--json", str(out)]) == 0
    v2 = json.loads(out.read_text())
    assert v2["feature_pipeline"] == "gait-features/2" and v2["refused"] == []
    per = v2["remounted"]["per_remount"]
    assert [r["left_handed_thigh"] for r in per] == [False, True]
    # the left-handed thigh of remount 1 is converted and reported, nothing else is
    assert per[0]["converted"] == [] and per[1]["converted"] == ["levelground_ccw_normal_04_01~remount1: femur_r"]
    assert v2["converted"] == []
    # proper rotations and left-handed thighs alike: v2 scores exactly as recorded
    assert v2["remounted"]["proper"]["mean_rmse_deg"] == pytest.approx(v2["mean_rmse_deg"], abs=1e-3)
    assert v2["remounted"]["left_handed_thigh"]["mean_rmse_deg"] == pytest.approx(v2["mean_rmse_deg"], abs=1e-3)
    # seeded: the same seed gives the same frames
    again = tmp_path / "again.json"
    assert cli(["evaluate", "--model", str(d), "--data", str(demo_dir), "--remounts", "2", "--remount-seed", "5", "--json", str(again)]) == 0
    assert json.loads(again.read_text())["remounted"] == v2["remounted"]


def test_random_rotations_are_proper_and_seeded() -> None:
    a, b = random_rotation(np.random.default_rng(1)), random_rotation(np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a @ a.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(a) == pytest.approx(1.0)


def test_training_refuses_to_run_on_trials_that_all_fail_calibration(cohort: Path, tmp_path: Path) -> None:
    """The cohort fixture's trials are 7 s long, under the 8 s of walking a calibration
    needs: v2 training names the refusal instead of training on raw axes."""
    cfg = TrainConfig(data=str(cohort / "S0"), out=str(tmp_path), heldout=None, pipeline=PIPELINE_V2, **TINY)
    with pytest.raises(ValueError, match=r"every training trial's calibration was refused.*walk_0\d_01.*too_short"):
        train(cfg)


def test_v2_pipeline_decides_an_uncertain_thigh_sign_with_its_foot_and_notes_it() -> None:
    """AB06's levelground_cw_slow_04_01: its thigh's own sign margin is 0.040 (gait-calibration/1 refused
    it); the pipeline calibrates the feet first and hands the thigh its foot's sagittal rate."""
    folder = shared_or_skip("camargo_ab06", "trials")
    trials = load_trials(folder, include="levelground_cw_slow_04_01")
    (t,) = [t for ts in trials.values() for t in ts]
    rec = load_recording(t, "ab06", V2)
    thigh, foot = rec.grid.calibrations["femur_r"], rec.grid.calibrations["calcn_r"]
    assert thigh.ok and thigh.sign_source == "joint" and thigh.sign_margin < 0.05 and thigh.joint_margin > 0.5
    assert foot.sign_source == "own" and foot.joint_margin is None
    assert any("flexion sign decided by the joint thigh+foot rule" in n for n in rec.notes)
