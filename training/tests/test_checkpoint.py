"""A checkpoint carries its config, feature config, normalization, splits and history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gaitlstm.checkpoint import Checkpoint
from gaitlstm.config import TrainConfig
from gaitlstm.dataset import Part
from gaitlstm.features import FeatureConfig
from gaitlstm.fit import new_model, seed_everything
from gaitlstm.models import architecture
from gaitlstm.predict import load_predictor, torch_predictor


def _checkpoint(arch: str = "lstm") -> Checkpoint:
    seed_everything(0)
    fc = FeatureConfig(placements=("femur_r", "calcn_r"), euler_reference={"femur_r": (1.0, 0.0, 0.0, 0.0), "calcn_r": (0.0, 1.0, 0.0, 0.0)})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, fc.window, fc.n_features)).astype(np.float32)
    y = rng.normal(size=(4, fc.window, 5)).astype(np.float32)
    model, norm = new_model(arch, fc, x, y)
    cfg = TrainConfig(data="somewhere", arch=arch, heldout=None, seed=3)
    return Checkpoint(cfg, fc, norm, model.state_dict(), history=[{"epoch": 1, "train_loss": 0.5}],
                      metrics={"mean_rmse_deg": 2.0}, train_minutes=0.1,
                      train_parts=[Part("s1", "walk", 0.0, 0.64)], val_parts=[Part("s1", "walk", 0.64, 0.8)],
                      test_parts=[Part("s1", "walk", 0.8, 1.0), Part("s2", "run")])


def test_save_then_load_gives_the_same_checkpoint_and_model(tmp_path: Path) -> None:
    ck = _checkpoint()
    ck.save(tmp_path / "checkpoint.pt")
    back = Checkpoint.load(tmp_path / "checkpoint.pt")
    assert back.config == ck.config and back.feature_config == ck.feature_config
    assert (back.train_parts, back.val_parts, back.test_parts) == (ck.train_parts, ck.val_parts, ck.test_parts)
    assert back.history == ck.history and back.metrics == ck.metrics
    assert back.test_trials == ["s1/walk", "s2/run"] and back.subjects == {"train": ["s1"], "test": ["s1", "s2"]}
    x = np.random.default_rng(1).normal(size=(2, 50, 18)).astype(np.float32)
    cpu = torch.device("cpu")
    np.testing.assert_array_equal(torch_predictor(back.model(), cpu)(x), torch_predictor(ck.model(), cpu)(x))
    # `evaluate`/`predict` take a checkpoint as they take an exported model
    m = load_predictor(tmp_path / "checkpoint.pt")
    assert m.features == ck.feature_config and m.joints == ck.config.joints
    np.testing.assert_array_equal(m.predict(x), torch_predictor(ck.model(), cpu)(x))


def test_the_file_is_the_plain_dict_older_code_wrote(tmp_path: Path) -> None:
    """Checkpoints written before the class existed load; the dict keeps their keys."""
    d = _checkpoint().to_dict()
    assert {"config", "feature_config", "norm", "state_dict", "train_parts", "test_parts", "train_trials", "torch"} <= set(d)
    assert d["config"]["arch"] == "lstm" and d["test_parts"][0] == {"subject": "s1", "trial": "walk", "start": 0.8, "end": 1.0}


def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path: Path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match=r"x.pt: not a gaitlstm checkpoint \(no config, feature_config, norm\)"):
        Checkpoint.load(tmp_path / "x.pt")
    d = _checkpoint().to_dict()
    d["config"]["wings"] = 2
    torch.save(d, tmp_path / "y.pt")
    with pytest.raises(ValueError, match=r"y.pt: config has fields this version does not know: \['wings'\]"):
        Checkpoint.load(tmp_path / "y.pt")
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        Checkpoint.load(tmp_path / "nope.pt")


@pytest.mark.parametrize(("arch", "expected"), [
    ("lstm", {"type": "lstm", "layers": 3, "hidden": 128, "dropout": 0.2}),
    ("cnn", {"type": "cnn", "conv_channels": [24, 8, 10], "kernel": 5}),
])
def test_the_architecture_is_read_off_the_model(arch: str, expected: dict) -> None:
    assert architecture(_checkpoint(arch).model()) == expected


def test_architecture_reads_a_changed_model_not_a_fixed_string() -> None:
    from gaitlstm.models import LstmRegressor

    assert architecture(LstmRegressor(18, 5, hidden=16, layers=2, dropout=0.0))["hidden"] == 16
