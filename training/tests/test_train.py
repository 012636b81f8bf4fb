"""`train` (the CI smoke path, yolov5 style): one epoch of each method on tiny data;
the checkpoint carries its args, splits and scores."""

import numpy as np
import pytest
from conftest import TINY

from gaitlstm.config import TrainConfig
from gaitlstm.dataset import fit_euler_reference, load_trials
from gaitlstm.export import export
from gaitlstm.train import train


def test_checkpoint_carries_its_args_and_scores(trained):
    out, ck = trained
    assert (out / "checkpoint.pt").exists()
    assert ck.config.arch == "lstm" and ck.config.imus == ("femur_r", "calcn_r")
    assert ck.metrics["n_windows"] > 0
    assert set(ck.metrics["joints"]) == set(TrainConfig().joints)


def test_ug_then_ua_on_a_cohort(rotated_cohort, tmp_path):
    """Default subjects: S2 (last by name) tests, S1 validates. S2 wears its IMUs
    turned, so an Euler reference fitted on it too would differ."""
    ug = train(TrainConfig(data=str(rotated_cohort), out=str(tmp_path / "ug"), method="ug", heldout=None, **TINY))
    assert ug.train_trials == ["S0/walk_00_01", "S0/walk_01_01"]
    assert all(t.startswith("S2/") for t in ug.test_trials)
    assert ug.metrics["n_windows"] > 0
    trials = load_trials(rotated_cohort)
    imus = ("femur_r", "calcn_r")
    without_test = fit_euler_reference(trials["S0"] + trials["S1"], imus)
    with_test = fit_euler_reference(trials["S0"] + trials["S1"] + trials["S2"], imus)
    for p in imus:
        assert ug.feature_config.euler_reference[p] == pytest.approx(without_test[p], abs=1e-12)
        assert not np.allclose(with_test[p], without_test[p], atol=1e-3)  # the rotation matters

    # export scores S2 only, with baselines fitted on S0
    m = export(tmp_path / "ug" / "checkpoint.pt", tmp_path / "ug-model", "ug", "0.0.1")
    assert m["metrics"]["heldout_trials"] == ["S2/walk_00_01", "S2/walk_01_01"]
    assert m["provenance"]["subjects"] == {"train": ["S0"], "val": ["S1"], "test": ["S2"]}
    assert "trained on S0, tested on S2" in m["provenance"]["dataset"] and "AB06" not in m["provenance"]["dataset"]
    assert m["metrics"]["pytorch"]["mean_rmse_deg"] == pytest.approx(ug.metrics["mean_rmse_deg"], abs=1e-4)

    ua = train(TrainConfig(data=str(rotated_cohort), out=str(tmp_path / "ua"), method="ua", base=str(tmp_path / "ug" / "checkpoint.pt"), transfer_ratio=0.3, ua_epochs=1, heldout=None, **TINY))
    assert ua.metrics["n_windows"] > 0
    assert ua.feature_config == ug.feature_config  # the base model's contract is kept
    assert "S2/walk_00_01" in ua.train_trials and "S0/walk_00_01" in ua.train_trials
    m = export(tmp_path / "ua" / "checkpoint.pt", tmp_path / "ua-model", "ua", "0.0.1")
    assert m["metrics"]["heldout_trials"] == ["S2/walk_00_01[0.30:1.00]", "S2/walk_01_01[0.30:1.00]"]
    assert m["metrics"]["pytorch"]["mean_rmse_deg"] == pytest.approx(ua.metrics["mean_rmse_deg"], abs=1e-4)


def test_default_training_on_the_demo_folder_says_what_to_pass(demo_dir, tmp_path):
    """`make train` on a clone without ../shared: the only trial is held out."""
    with pytest.raises(ValueError, match=r"ab06: no training trials left after holding out '\*_04_01'.*--data .*--heldout none"):
        train(TrainConfig(data=str(demo_dir), out=str(tmp_path), **TINY))


def test_cnn_architecture_trains(demo_dir, tmp_path):
    ck = train(TrainConfig(data=str(demo_dir), out=str(tmp_path), arch="cnn", heldout=None, **TINY))
    assert ck.metrics["mean_rmse_deg"] > 0


def test_ug_needs_three_subjects(demo_dir, tmp_path):
    with pytest.raises(ValueError, match="subjects"):
        train(TrainConfig(data=str(demo_dir), out=str(tmp_path), method="ug", heldout=None, **TINY))
