"""`export`: fp32 + int8 ONNX, manifest and golden vectors from a checkpoint, scored
on exactly the checkpoint's test parts."""

import json

import numpy as np
import pytest

from gaitlstm.config import TrainConfig
from gaitlstm.contract import load_contract
from gaitlstm.dataset import load_trials
from gaitlstm.export import export, sha256
from gaitlstm.train import train


def test_export_parity_manifest_and_golden(exported):
    m, d = exported
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
    assert m["resampling"]["max_gap_s"] == 0.1
    assert m["ahrs"]["first_sample"] == "init-only" and m["ahrs"]["zero_gradient"] == "gyro-only-step"
    g = json.loads((d / "golden.json").read_text())
    assert np.array(g["features"]).shape[1:] == (50, 18)
    assert np.array(g["outputs"]["int8"]).shape[1:] == (50, 5)
    assert abs(g["raw"]["femur_r"]["t"][1] - g["raw"]["femur_r"]["t"][0] - 0.005) < 1e-9  # source rate kept
    # the ONNX file carries the contract too
    c = load_contract(d / "model.int8.onnx")
    assert c.manifest["name"] == "test-model" and c.features.window == 50
    # what it was trained on and what it is, from the checkpoint (not a fixed "subject AB06" / "3 x 128")
    assert m["architecture"] == {"type": "lstm", "layers": 3, "hidden": 128, "dropout": 0.2}
    assert m["provenance"]["subjects"] == {"train": ["ab06"], "val": ["ab06"], "test": ["ab06"]}
    assert m["provenance"]["dataset"].startswith("data/ab06: trained on ab06, tested on ab06")
    assert m["input_limits"] == {"acc_abs_max": 16 * 9.80665, "gyro_abs_max": 35.0}


def test_export_scores_the_fraction_split_test_tail_only(trained, exported, demo_dir):
    """heldout=None tests on the last 20% of the trial: export scores that tail
    (the PyTorch score equals training's), not the whole trial with its training part."""
    out, ck = trained
    m, d = exported
    assert [p.to_dict() for p in ck.test_parts] == [{"subject": "ab06", "trial": "levelground_ccw_normal_04_01", "start": 0.8, "end": 1.0}]
    assert ck.train_trials == ck.test_trials == ["ab06/levelground_ccw_normal_04_01"]
    assert m["metrics"]["heldout_trials"] == ["ab06/levelground_ccw_normal_04_01[0.80:1.00]"]
    assert m["metrics"]["pytorch"]["mean_rmse_deg"] == pytest.approx(ck.metrics["mean_rmse_deg"], abs=1e-4)
    assert m["metrics"]["pytorch"]["n_windows"] == ck.metrics["n_windows"]
    assert m["provenance"]["test_set"] == [p.to_dict() for p in ck.test_parts]
    # golden vectors start where the test part starts, not at the trial start
    g = json.loads((d / "golden.json").read_text())
    t_all = load_trials(demo_dir)["ab06"][0].imus["femur_r"].t
    assert g["part"]["start"] == 0.8
    assert g["raw"]["femur_r"]["t"][0] > t_all[0] + 0.75 * (t_all[-1] - t_all[0])


def test_export_names_a_trial_missing_from_the_data_folder(rotated_cohort, demo_dir, tmp_path):
    ug = tmp_path / "ug"
    train(TrainConfig(data=str(rotated_cohort), out=str(ug), method="ug", heldout=None, max_epochs=0, threads=2, train_stride=50))
    with pytest.raises(ValueError, match=r"missing, e\.g\. S0/walk_00_01.*--data"):
        export(ug / "checkpoint.pt", tmp_path / "m", "x", "0.0.1", data_dir=demo_dir)

