"""Training, top to bottom: data -> split -> normalization -> model -> epochs
with early stopping on validation RMSE -> held-out scores -> checkpoint.

Methods of the study:
  ui  user-individualized: per subject, the first 80% of every trial trains
      (20% of that validates), the last 20% tests; or, with --heldout, the
      matching trials test, --val-trials validate (--val-trials none: the last
      20% of every other trial) and the rest train. A --heldout or --val-trials
      pattern that matches nothing, or no trial left to train, is an error (not
      a silent run without test or validation data). With --refit the epoch
      count found on validation is then trained again on training + validation.
  ug  user-generalized: train on some subjects, validate on --val-subject,
      test on the unseen --test-subject (default: the last subject by name).
The Euler reference (q_ref) is fitted on the training and validation parts only.
  ua  user-adaptive: fine-tune a UG checkpoint (--base) on the first
      --transfer-ratio of the new subject's trials for --ua-epochs, test on the rest.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .dataset import (
    Part,
    Recording,
    cut,  # noqa: F401  (re-exported: older callers import it from here)
    default_data_dir,
    fit_reference_on,
    keep_trials,
    load_trials,
    realize,
    to_recordings,
    trial_names,
)
from .evaluate import score
from .features import FeatureConfig
from .io.types import JOINTS_R, Trial
from .models import Normalized, build_model


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
    max_minutes: float = 14.0
    threads: int = 0  # 0: torch default


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------- splits
#
# A split is decided on trial names alone, as parts (subject, trial, fractions),
# before any feature is computed: the Euler reference is then fitted on the
# training and validation parts only, and the checkpoint stores the parts so
# export and report rebuild exactly the same recordings.

@dataclass
class SplitPlan:
    train: list[Part]
    val: list[Part]
    test: list[Part]


@dataclass
class Split:
    train: list[Recording]
    val: list[Recording]
    test: list[Recording]


def plan_ui(trials: dict[str, list[str]], cfg: TrainConfig) -> SplitPlan:
    """Per subject; see the module docstring. A --val-trials pattern that matches
    none of the training trials is an error, not a silent run without validation
    (pass --val-trials none for the temporal split of every training trial)."""
    plan = SplitPlan([], [], [])
    for subject, names in trials.items():
        for name in names:
            whole = Part(subject, name)
            if cfg.heldout and fnmatch.fnmatch(name, cfg.heldout):
                plan.test.append(whole)
            elif cfg.heldout and cfg.val_trials:
                (plan.val if fnmatch.fnmatch(name, cfg.val_trials) else plan.train).append(whole)
            else:
                end = 1.0 if cfg.heldout else 1.0 - cfg.test_fraction
                split_at = end * (1.0 - cfg.val_fraction)
                plan.train.append(Part(subject, name, 0.0, split_at))
                plan.val.append(Part(subject, name, split_at, end))
                if not cfg.heldout:
                    plan.test.append(Part(subject, name, end, 1.0))
    everything = sorted(f"{s}/{n}" for s, ns in trials.items() for n in ns)
    if cfg.heldout and not plan.test:
        raise ValueError(
            f"{cfg.data}: --heldout {cfg.heldout!r} matches none of its trials {everything}; "
            "pass a pattern that does, or --heldout none to test on the last "
            f"{cfg.test_fraction:.0%} of every trial"
        )
    if not plan.train:
        raise ValueError(
            f"{cfg.data}: no training trials left after holding out {cfg.heldout!r}"
            + (f" and validating on {cfg.val_trials!r}" if cfg.val_trials else "")
            + f" (include={cfg.include!r}; its trials: {everything}); pass --data ../shared/data/camargo_ab06/trials "
            "or --heldout none"
        )
    if cfg.heldout and cfg.val_trials and not plan.val:
        raise ValueError(
            f"{cfg.data}: --val-trials {cfg.val_trials!r} matches none of the training trials "
            f"{[p.label for p in plan.train]}; pass a pattern that does, or --val-trials none to validate "
            f"on the last {cfg.val_fraction:.0%} of every training trial"
        )
    return plan


def plan_ug(trials: dict[str, list[str]], cfg: TrainConfig) -> SplitPlan:
    subjects = sorted(trials)
    if len(subjects) < 3:
        raise ValueError(f"ug needs at least 3 subjects (train, validation, test); have {subjects}")
    test = cfg.test_subject or subjects[-1]
    val = cfg.val_subject or next((x for x in reversed(subjects) if x != test), None)
    if test not in trials or val not in trials or val == test:
        raise ValueError(f"ug needs distinct --test-subject and --val-subject among {subjects}")
    whole = lambda sub: [Part(sub, n) for n in trials[sub]]  # noqa: E731
    return SplitPlan([p for sub in subjects if sub not in (test, val) for p in whole(sub)], whole(val), whole(test))


def plan_ua(trials: dict[str, list[str]], cfg: TrainConfig) -> SplitPlan:
    subjects = sorted(trials)
    test = cfg.test_subject or subjects[-1]
    if test not in trials:
        raise ValueError(f"ua: --test-subject {test!r} not among {subjects}")
    r = cfg.transfer_ratio
    if not 0.0 < r < 1.0:
        raise ValueError(f"ua: --transfer-ratio must be in (0, 1), got {r}")
    return SplitPlan([Part(test, n, 0.0, r) for n in trials[test]], [], [Part(test, n, r, 1.0) for n in trials[test]])


PLANS = {"ui": plan_ui, "ug": plan_ug, "ua": plan_ua}


def names_of(recs: dict[str, list[Recording]]) -> dict[str, list[str]]:
    return {s: [r.trial for r in rs] for s, rs in recs.items()}


def materialize(recs: dict[str, list[Recording]], plan: SplitPlan) -> Split:
    return Split(realize(recs, plan.train), realize(recs, plan.val), realize(recs, plan.test))


def split_ui(recs: dict[str, list[Recording]], cfg: TrainConfig) -> Split:
    return materialize(recs, plan_ui(names_of(recs), cfg))


def split_ug(recs: dict[str, list[Recording]], cfg: TrainConfig) -> Split:
    return materialize(recs, plan_ug(names_of(recs), cfg))


def split_ua(recs: dict[str, list[Recording]], cfg: TrainConfig) -> Split:
    return materialize(recs, plan_ua(names_of(recs), cfg))


SPLITS = {"ui": split_ui, "ug": split_ug, "ua": split_ua}


def feature_config(cfg: TrainConfig, trials: dict[str, list[Trial]], plan: SplitPlan) -> FeatureConfig:
    """The contract's feature settings for a new model; q_ref sees only data that trains or validates."""
    ref = fit_reference_on(trials, plan.train + plan.val, tuple(cfg.imus))
    return FeatureConfig(placements=tuple(cfg.imus), beta=cfg.beta, euler_reference=ref)


# ---------------------------------------------------------------- training

def stack(recs: list[Recording], fc: FeatureConfig, stride: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[r.windows(fc, stride)[:2] for r in recs]) if recs else ((), ())
    xs = [x for x in xs if len(x)]
    ys = [y for y in ys if len(y)]
    if not xs:
        raise ValueError("no full window in the training split")
    return np.concatenate(xs), np.concatenate(ys)


def torch_predictor(model: nn.Module, dev: torch.device):
    def predict(x: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return model(torch.from_numpy(x).to(dev)).cpu().numpy()

    return predict


def val_rmse(model: nn.Module, x: np.ndarray, y: np.ndarray, dev: torch.device) -> float:
    pred = np.concatenate([torch_predictor(model, dev)(x[i : i + 512]) for i in range(0, len(x), 512)])
    return float(np.mean(np.sqrt(np.mean((pred - y) ** 2, axis=(0, 1)))))


def fit(
    model: Normalized, x: np.ndarray, y: np.ndarray, cfg: TrainConfig, dev: torch.device,
    val: tuple[np.ndarray, np.ndarray] | None, epochs: int,
) -> list[dict]:
    """Adam + MSE on z-scored targets; keeps the epoch with the best validation RMSE."""
    opt = torch.optim.Adam(model.net.parameters(), lr=cfg.lr)
    xt = torch.from_numpy(x)
    yt = (torch.from_numpy(y) - model.y_mean.cpu()) / model.y_std.cpu()
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []
    best = (math.inf, None)
    bad_epochs = 0
    t0 = time.monotonic()
    bar = tqdm(range(epochs), desc="epochs", unit="ep")
    for epoch in bar:
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            xb = ((xt[idx].to(dev)) - model.x_mean) / model.x_std
            loss = nn.functional.mse_loss(model.net(xb), yt[idx].to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        entry = {"epoch": epoch + 1, "train_loss": total / len(xt), "minutes": (time.monotonic() - t0) / 60}
        if val is not None:
            entry["val_rmse_deg"] = val_rmse(model, *val, dev)
            if entry["val_rmse_deg"] < best[0]:
                best = (entry["val_rmse_deg"], {k: v.detach().clone() for k, v in model.state_dict().items()})
                bad_epochs = 0
            else:
                bad_epochs += 1
        history.append(entry)
        bar.set_postfix({k: round(v, 4) for k, v in entry.items() if k != "epoch"})
        if val is not None and bad_epochs >= cfg.patience:
            break
        if entry["minutes"] > cfg.max_minutes:
            tqdm.write(f"stopping: time budget of {cfg.max_minutes} min reached")
            break
    if best[1] is not None:
        model.load_state_dict(best[1])
    return history


def new_model(cfg: TrainConfig, fc: FeatureConfig, x: np.ndarray, y: np.ndarray) -> tuple[Normalized, dict]:
    """A fresh network whose normalization comes from the training windows."""
    flat_x, flat_y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    norm = {
        "x_mean": flat_x.mean(0), "x_std": flat_x.std(0) + 1e-6,
        "y_mean": flat_y.mean(0), "y_std": flat_y.std(0) + 1e-6,
    }
    norm = {k: v.astype(np.float32) for k, v in norm.items()}
    return Normalized(build_model(cfg.arch, fc.n_features, len(cfg.joints)), **norm), norm


def train(cfg: TrainConfig) -> dict:
    """Run one training job; writes `<out>/checkpoint.pt` and `<out>/metrics.json`."""
    t_start = time.monotonic()
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dev = device()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.method not in SPLITS:
        raise ValueError(f"unknown method {cfg.method!r}; valid: {', '.join(SPLITS)}")

    if cfg.method == "ua" and not cfg.base:
        raise ValueError("ua needs --base <UG checkpoint>")
    base = torch.load(cfg.base, weights_only=False) if cfg.method == "ua" else None
    trials = load_trials(Path(cfg.data), include=cfg.include)
    plan = PLANS[cfg.method](trial_names(trials), cfg)
    used = keep_trials(trials, plan.train + plan.val + plan.test)
    fc = FeatureConfig(**base["feature_config"]) if base is not None else feature_config(cfg, used, plan)
    split = materialize(to_recordings(used, fc, cfg.joints), plan)
    x, y = stack(split.train, fc, cfg.train_stride)
    val = stack(split.val, fc, fc.stride) if split.val else None

    if base is not None:
        model = Normalized(build_model(base["config"]["arch"], fc.n_features, len(cfg.joints)), **base["norm"])
        model.load_state_dict(base["state_dict"])
        norm = base["norm"]
    else:
        model, norm = new_model(cfg, fc, x, y)
    model.to(dev)
    epochs = cfg.ua_epochs if cfg.method == "ua" else cfg.max_epochs
    print(f"{cfg.method}/{cfg.arch} on {dev}: {len(x)} training windows, "
          f"{0 if val is None else len(val[0])} validation windows, {len(split.test)} test recordings")
    history = fit(model, x, y, cfg, dev, val, epochs)
    trained_on = list(plan.train)  # the parts the final weights saw
    if cfg.refit and cfg.method == "ui" and val is not None:
        best = min(history, key=lambda h: h["val_rmse_deg"])["epoch"]
        print(f"refit: {best} epochs (best on validation) on training + validation data")
        seed_everything(cfg.seed)
        split.train += split.val
        trained_on += plan.val
        x, y = stack(split.train, fc, cfg.train_stride)
        model, norm = new_model(cfg, fc, x, y)
        model.to(dev)
        history += [{**h, "refit": True} for h in fit(model, x, y, cfg, dev, None, best)]
    if base is not None and base.get("train_parts") and Path(base["config"]["data"]).resolve() == Path(cfg.data).resolve():
        # A fine-tuned model has seen its base's training data too (same folder: rebuildable).
        trained_on = [Part.from_dict(d) for d in base["train_parts"]] + trained_on
    train_minutes = (time.monotonic() - t_start) / 60

    metrics = score(split.test, fc, torch_predictor(model, dev), cfg.joints) if split.test else {}
    model.cpu()
    ckpt = {
        "config": asdict(cfg),
        "feature_config": asdict(fc),
        "norm": {k: np.asarray(v) for k, v in norm.items()},
        "state_dict": model.state_dict(),
        "history": history,
        "metrics": metrics,
        "train_minutes": train_minutes,
        # Exactly what trained and what tests (fractions of trials), for export and report.
        "train_parts": [p.to_dict() for p in trained_on],
        "val_parts": [p.to_dict() for p in plan.val],
        "test_parts": [p.to_dict() for p in plan.test],
        "train_trials": sorted({f"{p.subject}/{p.trial}" for p in trained_on}),
        "test_trials": sorted({f"{p.subject}/{p.trial}" for p in plan.test}),
        "torch": torch.__version__,
        "device": str(dev),
    }
    torch.save(ckpt, out / "checkpoint.pt")
    (out / "metrics.json").write_text(json.dumps({"metrics": metrics, "train_minutes": train_minutes, "history": history}, indent=2))
    print(f"done in {train_minutes:.1f} min; held-out mean RMSE {metrics.get('mean_rmse_deg', float('nan')):.2f} deg -> {out}")
    return ckpt


def load_model(checkpoint: str | Path) -> tuple[Normalized, dict]:
    ck = torch.load(checkpoint, weights_only=False)
    fc = FeatureConfig(**ck["feature_config"])
    model = Normalized(build_model(ck["config"]["arch"], fc.n_features, len(ck["config"]["joints"])), **ck["norm"])
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    from .cli import main

    main(["train", *__import__("sys").argv[1:]])
