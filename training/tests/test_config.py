"""TrainConfig: the dataclass every checkpoint stores, and the typed flags derived from it."""

from __future__ import annotations

import pytest

from gaitlstm.cli import parser
from gaitlstm.config import FitConfig, TrainConfig, train_config_from_args, train_config_from_dict


def test_train_config_gives_the_methods_epochs() -> None:
    assert TrainConfig(method="ua", ua_epochs=3).fit_config().epochs == 3
    assert TrainConfig(max_epochs=7, lr=0.01).fit_config() == FitConfig(epochs=7, lr=0.01, batch_size=64, seed=0, patience=5, max_minutes=14.0)


def test_the_train_flags_are_the_config_fields(tmp_path):
    """`make train ARGS=...` and `python -m gaitlstm.train` take the same typed flags."""
    a = parser().parse_args(["train", "--out", str(tmp_path), "--imus", "femur_r", "tibia_r", "--max-epochs", "3",
                             "--lr", "0.01", "--no-refit", "--heldout", "none", "--method", "ug"])
    cfg = train_config_from_args(a)
    assert cfg == TrainConfig(out=str(tmp_path), imus=("femur_r", "tibia_r"), max_epochs=3, lr=0.01, refit=False,
                              heldout=None, method="ug")
    with pytest.raises(SystemExit):
        parser().parse_args(["train", "--max-epochs", "three"])


def test_a_stored_config_reads_back_with_tuples() -> None:
    from dataclasses import asdict

    cfg = TrainConfig(imus=("femur_r",), heldout=None)
    d = asdict(cfg)
    d["imus"] = list(d["imus"])  # as JSON would give it
    assert train_config_from_dict(d, "x") == cfg
