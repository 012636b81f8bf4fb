"""A trained model and everything needed to rebuild, export and score it.

The file is a plain dict (torch.save) with the keys of `Checkpoint`, so
checkpoints written before this class existed load too; `Checkpoint.load`
checks the keys and names the file when one is missing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import TrainConfig, train_config_from_dict
from .dataset import Part
from .features import FeatureConfig
from .models import Normalized, build_model

REQUIRED = ("config", "feature_config", "norm", "state_dict")


@dataclass
class Checkpoint:
    config: TrainConfig  # how it was trained (the `train` flags)
    feature_config: FeatureConfig  # the contract's feature settings (q_ref fitted on train + val)
    norm: dict[str, np.ndarray]  # x_mean, x_std, y_mean, y_std: the graph's normalization
    state_dict: dict[str, torch.Tensor]
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)  # PyTorch on the test parts, as published
    train_minutes: float = float("nan")
    # Exactly what trained, validated and tests (fractions of trials), for export and report.
    train_parts: list[Part] = field(default_factory=list)
    val_parts: list[Part] = field(default_factory=list)
    test_parts: list[Part] = field(default_factory=list)
    torch_version: str = torch.__version__
    device: str = "cpu"

    @property
    def train_trials(self) -> list[str]:
        return sorted({f"{p.subject}/{p.trial}" for p in self.train_parts})

    @property
    def test_trials(self) -> list[str]:
        return sorted({f"{p.subject}/{p.trial}" for p in self.test_parts})

    @property
    def subjects(self) -> dict[str, list[str]]:
        """Who trained and who tests, by subject name (for the manifest's provenance)."""
        return {role: sorted({p.subject for p in parts}) for role, parts in (("train", self.train_parts), ("test", self.test_parts))}

    def model(self) -> Normalized:
        """The network with its weights, in eval mode, on the CPU."""
        fc = self.feature_config
        net = build_model(self.config.arch, fc.n_features, len(self.config.joints))
        model = Normalized(net, **self.norm)
        model.load_state_dict(self.state_dict)
        model.eval()
        return model

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "feature_config": asdict(self.feature_config),
            "norm": {k: np.asarray(v) for k, v in self.norm.items()},
            "state_dict": self.state_dict,
            "history": self.history,
            "metrics": self.metrics,
            "train_minutes": self.train_minutes,
            "train_parts": [p.to_dict() for p in self.train_parts],
            "val_parts": [p.to_dict() for p in self.val_parts],
            "test_parts": [p.to_dict() for p in self.test_parts],
            # Redundant with the parts; kept for readers of older checkpoints.
            "train_trials": self.train_trials,
            "test_trials": self.test_trials,
            "torch": self.torch_version,
            "device": self.device,
        }

    def save(self, path: str | Path) -> None:
        torch.save(self.to_dict(), path)

    @staticmethod
    def from_dict(d: dict, source: str) -> Checkpoint:
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            raise ValueError(f"{source}: not a gaitlstm checkpoint (no {', '.join(missing)})")
        fcd = dict(d["feature_config"])
        fcd["placements"] = tuple(fcd["placements"])
        fcd["euler_reference"] = {p: tuple(q) for p, q in fcd.get("euler_reference", {}).items()}
        parts = {role: [Part.from_dict(p) for p in d.get(f"{role}_parts", [])] for role in ("train", "val", "test")}
        return Checkpoint(
            config=train_config_from_dict(d["config"], source),
            feature_config=FeatureConfig(**fcd),
            norm={k: np.asarray(v) for k, v in d["norm"].items()},
            state_dict=d["state_dict"],
            history=list(d.get("history", [])),
            metrics=dict(d.get("metrics", {})),
            train_minutes=float(d.get("train_minutes", float("nan"))),
            train_parts=parts["train"], val_parts=parts["val"], test_parts=parts["test"],
            torch_version=str(d.get("torch", "")),
            device=str(d.get("device", "")),
        )

    @staticmethod
    def load(path: str | Path) -> Checkpoint:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such checkpoint")
        # weights_only=False: the file holds numpy arrays and dicts besides tensors; only
        # load checkpoints you trained (pickle).
        return Checkpoint.from_dict(torch.load(path, weights_only=False), str(path))
