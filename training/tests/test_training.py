"""The CI smoke path (yolov5 style): train one epoch, export, quantize, run the
ONNX models and compare with PyTorch; the three methods on a small cohort."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from gaitlstm.cli import main as cli
from gaitlstm.contract import load_contract
from gaitlstm.export import export, sha256
from gaitlstm.train import TrainConfig, split_ui, train

TINY = dict(max_epochs=1, train_stride=25, batch_size=32, threads=2)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Three 'subjects' cut from the shipped AB06 trial at different offsets, two trials each."""
    from conftest import DEMO_TRIAL

    root = tmp_path_factory.mktemp("cohort")
    imu = gzip.open(DEMO_TRIAL / "levelground_ccw_normal_04_01_imu.csv.gz", "rt").read().splitlines()
    ik = gzip.open(DEMO_TRIAL / "levelground_ccw_normal_04_01_ik.csv.gz", "rt").read().splitlines()
    for s in range(3):
        d = root / f"S{s}" / "trials"
        d.mkdir(parents=True)
        for k in range(2):
            a = 1 + s * 300 + k * 900
            rows = slice(a, a + 1400)
            (d / f"walk_{k:02d}_01_imu.csv").write_text("\n".join([imu[0], *imu[rows]]) + "\n")
            (d / f"walk_{k:02d}_01_ik.csv").write_text("\n".join([ik[0], *ik[rows]]) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import DEMO_TRIAL

    out = tmp_path_factory.mktemp("run")
    ck = train(TrainConfig(data=str(DEMO_TRIAL), out=str(out), heldout=None, **TINY))
    return out, ck


def test_checkpoint_carries_its_args_and_scores(trained):
    out, ck = trained
    assert (out / "checkpoint.pt").exists()
    assert ck["config"]["arch"] == "lstm" and ck["config"]["imus"] == ("femur_r", "calcn_r")
    assert ck["metrics"]["n_windows"] > 0
    assert set(ck["metrics"]["joints"]) == set(TrainConfig().joints)


def test_export_parity_manifest_and_golden(trained, tmp_path):
    out, _ = trained
    m = export(out / "checkpoint.pt", tmp_path / "model", "test-model", "0.0.1")
    d = tmp_path / "model"
    # PyTorch vs fp32 ONNX vs int8 on the same inputs
    assert m["metrics"]["parity"]["pytorch_vs_fp32_max_abs_deg"] < 1e-3
    assert m["metrics"]["parity"]["fp32_vs_int8_max_abs_deg"] < 5.0
    assert abs(m["metrics"]["int8"]["mean_rmse_deg"] - m["metrics"]["fp32"]["mean_rmse_deg"]) < 1.0
    # the contract
    assert m["schema"] == "gait-model-contract/1" and m["feature_pipeline"] == "gait-features/1"
    assert m["placements"] == ["femur_r", "calcn_r"] and len(m["channels"]) == 9
    assert m["tensors"]["input"]["shape"] == ["batch", 50, 18]
    assert m["model"]["sha256"] == sha256(d / m["model"]["file"])
    assert m["variants"]["fp32"]["sha256"] == sha256(d / "model.fp32.onnx")
    assert set(m["euler"]["reference"]) == {"femur_r", "calcn_r"}
    g = json.loads((d / "golden.json").read_text())
    assert np.array(g["features"]).shape[1:] == (50, 18)
    assert np.array(g["outputs"]["int8"]).shape[1:] == (50, 5)
    assert abs(g["raw"]["femur_r"]["t"][1] - g["raw"]["femur_r"]["t"][0] - 0.005) < 1e-9  # source rate kept
    # the ONNX file carries the contract too
    c = load_contract(d / "model.int8.onnx")
    assert c.manifest["name"] == "test-model" and c.features.window == 50


def test_evaluate_cli_on_a_folder(trained, tmp_path, demo_dir, capsys):
    out, _ = trained
    export(out / "checkpoint.pt", tmp_path / "model", "test-model", "0.0.1")
    dest = tmp_path / "scores.json"
    assert cli(["evaluate", "--model", str(tmp_path / "model" / "manifest.json"), "--data", str(demo_dir), "--json", str(dest)]) == 0
    r = json.loads(dest.read_text())
    assert set(r["joints"]) == {"hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_flexion_r", "ankle_dorsiflexion_r"}
    assert r["n_windows"] > 50 and r["mean_rmse_deg"] > 0
    assert {"rmse_deg", "nrmse", "r"} <= set(r["joints"]["knee_flexion_r"])


def test_ui_split_holds_out_matching_trials_completely(cohort):
    from gaitlstm.dataset import load_trials, to_recordings
    from gaitlstm.features import FeatureConfig

    recs = to_recordings(load_trials(cohort / "S0"), FeatureConfig(placements=("femur_r", "calcn_r")))
    s = split_ui(recs, TrainConfig(heldout="walk_01_01"))
    assert [r.trial for r in s.test] == ["walk_01_01"]
    assert all(not r.trial.startswith("walk_01_01") for r in s.train + s.val)


def test_ug_then_ua_on_a_cohort(cohort, tmp_path):
    ug = train(TrainConfig(data=str(cohort), out=str(tmp_path / "ug"), method="ug", test_subject="S2", val_subject="S1", heldout=None, **TINY))
    assert ug["train_trials"] and all(t.startswith("walk_") for t in ug["train_trials"])
    assert ug["metrics"]["n_windows"] > 0
    ua = train(TrainConfig(data=str(cohort), out=str(tmp_path / "ua"), method="ua", test_subject="S2", base=str(tmp_path / "ug" / "checkpoint.pt"), transfer_ratio=0.3, ua_epochs=1, heldout=None, **TINY))
    assert ua["metrics"]["n_windows"] > 0
    assert ua["feature_config"] == ug["feature_config"]  # the base model's contract is kept


def test_cnn_architecture_trains(demo_dir, tmp_path):
    ck = train(TrainConfig(data=str(demo_dir), out=str(tmp_path), arch="cnn", heldout=None, **TINY))
    assert ck["metrics"]["mean_rmse_deg"] > 0


def test_ug_needs_three_subjects(demo_dir, tmp_path):
    with pytest.raises(ValueError, match="subjects"):
        train(TrainConfig(data=str(demo_dir), out=str(tmp_path), method="ug", heldout=None, **TINY))


def test_evaluate_takes_a_thigh_and_foot_only_recording(tmp_path, demo_dir, repo):
    """A new user's trial needs only the placements the model uses."""
    imu = gzip.open(demo_dir / "levelground_ccw_normal_04_01_imu.csv.gz", "rt").read().splitlines()
    header = imu[0].split(",")
    keep = [i for i, c in enumerate(header) if c == "time" or c.startswith(("thigh_", "foot_"))]
    rows = [",".join(line.split(",")[i] for i in keep) for line in imu[:1200]]
    (tmp_path / "mine_imu.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "mine_ik.csv.gz").write_bytes((demo_dir / "levelground_ccw_normal_04_01_ik.csv.gz").read_bytes())
    out = tmp_path / "scores.json"
    assert cli(["evaluate", "--model", str(repo / "models" / "reduced-femur-calcn-lstm"), "--data", str(tmp_path), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["n_windows"] > 0


def test_cli_reports_bad_input_without_a_traceback(tmp_path, repo):
    import subprocess
    import sys

    (tmp_path / "x_imu.csv").write_text("time,thigh_Accel_X\n0.0,1\n")
    r = subprocess.run(
        [sys.executable, "-m", "gaitlstm", "evaluate", "--data", str(tmp_path)],
        cwd=repo / "training", capture_output=True, text=True,
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "x_imu.csv" in r.stderr and "thigh_Accel_Y" in r.stderr
