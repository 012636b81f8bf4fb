"""`python -m gaitlstm train` (or `python -m gaitlstm.train`), top to bottom:
data -> split -> features -> model -> epochs with early stopping on validation
RMSE -> refit -> held-out scores -> checkpoint.

Methods (docs/study.md; the splits in `splits`):
  ui  user-individualized: within each subject. With --refit the epoch count
      found on validation is then trained again on training + validation.
  ug  user-generalized: train on some subjects, validate on one, test on an unseen one.
  ua  user-adaptive: fine-tune a UG checkpoint (--base) on the first
      --transfer-ratio of the new subject's trials for --ua-epochs, test on the rest.
The Euler reference (q_ref) is fitted on the training and validation parts only
(gait-features/1; /2 uses the segment frame's constant). With gait-features/2 a
trial whose calibration is refused is left out, and the refusal is printed and
stored in metrics.json. --remount-augment K adds K copies of every training
trial in random sensor frames (reframe.random_remount).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .checkpoint import Checkpoint
from .config import TrainConfig, add_train_args, train_config_from_args
from .dataset import Part, Recording, keep_trials, load_trials, realize, to_recordings, trial_names
from .features import CalibrationRefused, FeatureConfig
from .io.types import Trial
from .reframe import random_remount
from .evaluate import score
from .fit import device, fit, fit_new, seed_everything, stack
from .predict import torch_predictor
from .splits import SplitPlan, feature_config, materialize, plan_split


def without_refused(plan: SplitPlan, refused: list[CalibrationRefused]) -> SplitPlan:
    """The plan less the trials whose calibration was refused (they have no features)."""
    gone = {(e.subject, e.trial) for e in refused}
    keep = lambda parts: [p for p in parts if (p.subject, p.trial) not in gone]  # noqa: E731
    return SplitPlan(keep(plan.train), keep(plan.val), keep(plan.test))


def remounted(trials: dict[str, list[Trial]], parts: list[Part], fc: FeatureConfig, cfg: TrainConfig,
              refused: list[CalibrationRefused]) -> list[Recording]:
    """`cfg.remount_augment` copies of `parts`, each trial in random sensor frames
    (seeded by the seed, the copy and the trial's name, so train and refit agree)."""
    index = {(s, t.name): t for s, ts in trials.items() for t in ts}
    out: list[Recording] = []
    for k in range(cfg.remount_augment):
        tag = f"~remount{k}"
        copies: dict[str, list[Trial]] = {}
        for p in parts:
            seed = [cfg.seed, k, *p.trial.encode()]
            t = random_remount(index[(p.subject, p.trial)], fc.placements, np.random.default_rng(seed), tag=tag)
            if t.name not in {c.name for c in copies.get(p.subject, [])}:
                copies.setdefault(p.subject, []).append(t)
        recs = to_recordings(copies, fc, cfg.joints, refused)
        ok = {(r.subject, r.trial) for rs in recs.values() for r in rs}
        out += realize(recs, [Part(p.subject, p.trial + tag, p.start, p.end) for p in parts if (p.subject, p.trial + tag) in ok])
    return out


def train(cfg: TrainConfig) -> Checkpoint:
    """Run one training job; writes `<out>/checkpoint.pt` and `<out>/metrics.json`."""
    t_start = time.monotonic()
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dev = device()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.method == "ua" and not cfg.base:
        raise ValueError("ua needs --base <UG checkpoint>")
    base = Checkpoint.load(cfg.base) if cfg.method == "ua" else None

    # ---- data: the split is planned on trial names; features only for the trials it uses
    trials = load_trials(Path(cfg.data), include=cfg.include)
    plan = plan_split(trial_names(trials), cfg)
    used = keep_trials(trials, plan.parts)
    # A fine-tuned model keeps its base's contract (q_ref included): the graph is the base's.
    fc = base.feature_config if base is not None else feature_config(cfg, used, plan)
    refused: list[CalibrationRefused] = []
    recs = to_recordings(used, fc, cfg.joints, refused)
    for e in refused:
        print(f"left out: {e}")
    plan = without_refused(plan, refused)
    if not plan.train:
        raise ValueError(f"{cfg.data}: every training trial's calibration was refused (e.g. {refused[0]})")
    split = materialize(recs, plan)
    # Augmented copies: training parts for the early-stopping fit, validation parts join them in the refit.
    aug_train = remounted(used, plan.train, fc, cfg, refused)
    aug_val = remounted(used, plan.val, fc, cfg, refused) if cfg.refit and cfg.method == "ui" else []

    # ---- the model: fresh, or the base to fine-tune (its normalization kept)
    fit_cfg = cfg.fit_config()
    print(f"{cfg.method}/{cfg.arch} on {dev}, {fc.pipeline}: {len(split.train)} training (+{len(aug_train)} remounted), "
          f"{len(split.val)} validation and {len(split.test)} test recordings")
    if base is not None:
        model, norm = base.model().to(dev), base.norm
        x, y = stack(split.train + aug_train, fc, cfg.train_stride)
        history = fit(model, x, y, fit_cfg, dev, stack(split.val, fc, fc.stride) if split.val else None)
    else:
        model, norm, history = fit_new(cfg.arch, fit_cfg, fc, split.train + aug_train, split.val, dev, cfg.train_stride)
    trained_on = list(plan.train)  # the parts the final weights saw

    # ---- refit (ui): the epoch count found on validation, on training + validation
    if cfg.refit and cfg.method == "ui" and split.val:
        best = min(history, key=lambda h: h["val_rmse_deg"])["epoch"]
        print(f"refit: {best} epochs (best on validation) on training + validation data")
        trained_on += plan.val
        model, norm, refit_history = fit_new(cfg.arch, cfg.fit_config(best), fc, split.train + aug_train + split.val + aug_val, [], dev,
                                              cfg.train_stride)
        history += [{**h, "refit": True} for h in refit_history]
    if base is not None and base.train_parts and Path(base.config.data).resolve() == Path(cfg.data).resolve():
        # A fine-tuned model has seen its base's training data too (same folder: rebuildable).
        trained_on = base.train_parts + trained_on
    train_minutes = (time.monotonic() - t_start) / 60

    # ---- held-out scores, on the published stream (as `evaluate` and the edge)
    metrics = score(split.test, fc, torch_predictor(model, dev), cfg.joints) if split.test else {}
    model.cpu()
    ck = Checkpoint(
        config=cfg, feature_config=fc, norm=norm, state_dict=model.state_dict(), history=history, metrics=metrics,
        train_minutes=train_minutes, train_parts=trained_on, val_parts=list(plan.val), test_parts=list(plan.test),
        device=str(dev),
    )
    ck.save(out / "checkpoint.pt")
    (out / "metrics.json").write_text(json.dumps({
        "metrics": metrics, "train_minutes": train_minutes, "history": history,
        "refused": [{"subject": e.subject, "trial": e.trial, "placement": e.placement, "reason": e.reason, "message": str(e)}
                    for e in refused],
    }, indent=2))
    print(f"done in {train_minutes:.1f} min; held-out mean RMSE {metrics.get('mean_rmse_deg', float('nan')):.2f} deg -> {out}")
    return ck


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gaitlstm.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_args(ap)
    train(train_config_from_args(ap.parse_args(argv)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
