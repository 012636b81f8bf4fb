"""The one fit loop (train, UA fine-tuning and the study use it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaitlstm.config import FitConfig
from gaitlstm.features import FeatureConfig
from gaitlstm.fit import fit, new_model, normalization, seed_everything, stack

FC = FeatureConfig(placements=("femur_r",))


def _data(n: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FC.window, FC.n_features)).astype(np.float32)
    y = (x[:, :, :2] * 3.0 + 1.0).astype(np.float32)  # learnable: two joints from two channels
    return x, y


def _model(x: np.ndarray, y: np.ndarray):
    seed_everything(0)
    torch.set_num_threads(1)
    model, _ = new_model("cnn", FC, x, y)
    return model


def test_without_validation_every_epoch_runs_and_on_epoch_sees_each() -> None:
    x, y = _data()
    seen = []
    h = fit(_model(x, y), x, y, FitConfig(epochs=3, batch_size=8), torch.device("cpu"), None, seen.append)
    assert [e["epoch"] for e in h] == [1, 2, 3] and seen == [1, 2, 3]
    assert all("val_rmse_deg" not in e for e in h)


def test_early_stopping_keeps_the_best_validation_epoch() -> None:
    x, y = _data()
    vx, vy = _data(8, seed=1)
    # lr so high the loss diverges after the first steps: validation gets worse, patience 1 stops it
    cfg = FitConfig(epochs=20, lr=0.5, batch_size=4, patience=1)
    model = _model(x, y)
    h = fit(model, x, y, cfg, torch.device("cpu"), (vx, vy))
    assert len(h) < 20
    best = min(e["val_rmse_deg"] for e in h)
    from gaitlstm.fit import val_rmse

    assert val_rmse(model, vx, vy, torch.device("cpu")) == pytest.approx(best, rel=1e-6)  # the best epoch's weights


def test_the_same_seed_trains_the_same_weights() -> None:
    x, y = _data()
    runs = []
    for _ in range(2):
        model = _model(x, y)
        fit(model, x, y, FitConfig(epochs=2, batch_size=8, seed=5), torch.device("cpu"))
        runs.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])


def test_normalization_is_per_column_of_the_training_windows() -> None:
    x, y = _data()
    n = normalization(x, y)
    np.testing.assert_allclose(n["x_mean"], x.reshape(-1, x.shape[-1]).mean(0), rtol=1e-5, atol=1e-6)
    assert n["y_std"].shape == (2,) and n["y_std"].dtype == np.float32


def test_stack_says_when_there_is_no_full_window() -> None:
    with pytest.raises(ValueError, match="no full window"):
        stack([], FC, 25)
