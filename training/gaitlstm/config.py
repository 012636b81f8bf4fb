"""What a training run is asked to do: one dataclass, one typed flag per field.

`TrainConfig` is stored in every checkpoint (so a model says how it was
trained) and `add_train_args` derives the `train` command's flags from it, so
the two cannot drift apart. `FitConfig` is the part the fit loop needs; the
study builds one from its own settings, `train` from a TrainConfig.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from .features import PIPELINES
from .io.types import JOINTS_R


def default_data_dir() -> Path:
    """`../shared/data/camargo_ab06/trials` next to the repository, else the shipped demo trial."""
    root = Path(__file__).resolve().parents[2]
    shared = root.parent / "shared" / "data" / "camargo_ab06" / "trials"
    return shared if shared.is_dir() else root / "data" / "ab06"


METHODS = ("ui", "ug", "ua")
ARCHS = ("lstm", "cnn")


@dataclass
class TrainConfig:
    data: str = field(default_factory=lambda: str(default_data_dir()))
    out: str = "runs/reduced"
    arch: str = "lstm"
    method: str = "ui"
    imus: tuple[str, ...] = ("femur_r", "calcn_r")
    joints: tuple[str, ...] = JOINTS_R
    heldout: str | None = "*_04_01"
    # Whole trials validate better than trial ends: the last seconds of a trial
    # (slowing down, turning) are not like the rest, and their RMSE barely moved.
    val_trials: str | None = "*_03_01"
    refit: bool = True
    include: str = "*"
    seed: int = 0
    max_epochs: int = 40
    patience: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    train_stride: int = 5  # denser training windows than the contract's stride: same data, more views
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    test_subject: str | None = None
    val_subject: str | None = None
    base: str | None = None  # UG checkpoint for ua
    transfer_ratio: float = 0.2
    ua_epochs: int = 5
    beta: float = 0.1
    # Feature pipeline (docs/contract.md): gait-features/1 (raw sensor axes, the shipped
    # model) or gait-features/2 (each placement calibrated from its own walking and
    # rotated into the segment frame before the AHRS).
    pipeline: str = "gait-features/1"
    calibration_seconds: float = 30.0  # v2: the first seconds of each trial that calibrate it
    # Every training trial also seen in this many random sensor frames (reframe.random_remount);
    # validation and test trials stay as recorded.
    remount_augment: int = 0
    max_minutes: float = 14.0
    threads: int = 0  # 0: torch default

    def fit_config(self, epochs: int | None = None) -> FitConfig:
        """The fit loop's settings; `epochs` defaults to the method's (ua fine-tunes for ua_epochs)."""
        if epochs is None:
            epochs = self.ua_epochs if self.method == "ua" else self.max_epochs
        return FitConfig(epochs=epochs, lr=self.lr, batch_size=self.batch_size, seed=self.seed,
                         patience=self.patience, max_minutes=self.max_minutes)


@dataclass(frozen=True)
class FitConfig:
    """One call of `fit.fit`: Adam on MSE of z-scored targets, early stopping on validation."""

    epochs: int
    lr: float = 1e-3
    batch_size: int = 64
    seed: int = 0  # the batch order's generator; weights are seeded by the caller (fit.seed_everything)
    patience: int = 5  # epochs without a better validation RMSE before stopping
    max_minutes: float = math.inf


def _optional_str(s: str) -> str | None:
    return None if s in ("", "none") else s


def add_train_args(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, typed from its default."""
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        if f.name in ("imus", "joints"):
            p.add_argument(flag, nargs="+", default=list(value), help="placements in input order" if f.name == "imus" else None)
        elif f.name == "arch":
            p.add_argument(flag, choices=ARCHS, default=value)
        elif f.name == "method":
            p.add_argument(flag, choices=METHODS, default=value)
        elif f.name == "pipeline":
            p.add_argument(flag, choices=PIPELINES, default=value)
        elif isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        elif isinstance(value, (int, float)):
            p.add_argument(flag, type=type(value), default=value)
        else:
            p.add_argument(flag, default=value, type=_optional_str)


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    kw = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    kw["imus"], kw["joints"] = tuple(kw["imus"]), tuple(kw["joints"])
    return TrainConfig(**kw)


def train_config_from_dict(d: dict, source: str) -> TrainConfig:
    """A stored config (checkpoint): unknown keys are an error naming `source`, not dropped."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{source}: config has fields this version does not know: {unknown}")
    kw = dict(d)
    for k in ("imus", "joints"):
        if k in kw:
            kw[k] = tuple(kw[k])
    return TrainConfig(**kw)
