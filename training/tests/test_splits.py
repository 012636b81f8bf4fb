"""UI / UG / UA splits, planned on trial names; q_ref sees only training and validation parts."""

import numpy as np
import pytest
from conftest import TINY

from gaitlstm.config import TrainConfig
from gaitlstm.dataset import fit_euler_reference, load_trials, trial_names
from gaitlstm.splits import feature_config, plan_ui, split_ui
from gaitlstm.train import train


def test_ui_split_holds_out_matching_trials_completely(cohort):
    from gaitlstm.dataset import load_trials, to_recordings
    from gaitlstm.features import FeatureConfig

    recs = to_recordings(load_trials(cohort / "S0"), FeatureConfig(placements=("femur_r", "calcn_r")))
    s = split_ui(recs, TrainConfig(heldout="walk_01_01", val_trials=None))
    assert [r.trial for r in s.test] == ["walk_01_01"]
    assert all(not r.trial.startswith("walk_01_01") for r in s.train + s.val)


def test_ui_reference_leaves_out_the_test_tails(demo_dir):
    """Without --heldout the last 20% of every trial tests: turning the sensors in
    that tail must not move q_ref."""
    cfg = TrainConfig(data=str(demo_dir), heldout=None)
    trials = load_trials(demo_dir)
    plan = plan_ui(trial_names(trials), cfg)
    before = feature_config(cfg, trials, plan).euler_reference
    for t in trials["ab06"]:
        for p in cfg.imus:
            acc = t.imus[p].acc
            tail = slice(int(round(0.8 * len(acc))), None)
            acc[tail] = acc[tail][:, [2, 1, 0]] * [1, 1, -1]
    after = feature_config(cfg, trials, plan).euler_reference
    assert after == before
    everything = fit_euler_reference(trials["ab06"], tuple(cfg.imus))
    assert not np.allclose(everything["femur_r"], before["femur_r"], atol=1e-3)


def test_val_trials_matching_nothing_is_an_error(cohort, tmp_path):
    with pytest.raises(ValueError, match=r"--val-trials '\*_03_01' matches none.*--val-trials none"):
        train(TrainConfig(data=str(cohort / "S0"), out=str(tmp_path), heldout="walk_01_01", val_trials="*_03_01", **TINY))
    with pytest.raises(ValueError, match=r"--heldout 'nope' matches none"):
        train(TrainConfig(data=str(cohort / "S0"), out=str(tmp_path), heldout="nope", **TINY))

