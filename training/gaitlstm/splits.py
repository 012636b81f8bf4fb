"""The study's three ways to split data (UI, UG, UA), decided on trial names alone.

A split is a plan of parts (subject, trial, fractions), made before any
feature is computed: the Euler reference is then fitted on the training and
validation parts only, and the checkpoint stores the parts so export and
report rebuild exactly the same recordings.

  ui  user-individualized: per subject, the first 80% of every trial trains
      (20% of that validates), the last 20% tests; or, with --heldout, the
      matching trials test, --val-trials validate (--val-trials none: the last
      20% of every other trial) and the rest train. A --heldout or --val-trials
      pattern that matches nothing, or no trial left to train, is an error (not
      a silent run without test or validation data).
  ug  user-generalized: train on some subjects, validate on --val-subject,
      test on the unseen --test-subject (default: the last subject by name).
  ua  user-adaptive: fine-tune a UG checkpoint on the first --transfer-ratio
      of the new subject's trials, test on the rest.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from .config import TrainConfig
from .dataset import Part, Recording, fit_reference_on, realize
from .features import PIPELINE_V2, SEGMENT_REFERENCE, FeatureConfig
from .io.types import Trial


@dataclass
class SplitPlan:
    train: list[Part]
    val: list[Part]
    test: list[Part]

    @property
    def parts(self) -> list[Part]:
        return self.train + self.val + self.test


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


PLANS: dict[str, Callable[[dict[str, list[str]], TrainConfig], SplitPlan]] = {"ui": plan_ui, "ug": plan_ug, "ua": plan_ua}


def plan_split(trials: dict[str, list[str]], cfg: TrainConfig) -> SplitPlan:
    if cfg.method not in PLANS:
        raise ValueError(f"unknown method {cfg.method!r}; valid: {', '.join(PLANS)}")
    return PLANS[cfg.method](trials, cfg)


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


def feature_config(cfg: TrainConfig, trials: dict[str, list[Trial]], plan: SplitPlan) -> FeatureConfig:
    """The contract's feature settings for a new model of `cfg`."""
    return new_feature_config(tuple(cfg.imus), cfg.pipeline, trials, plan.train + plan.val, cfg.beta, cfg.calibration_seconds)


def new_feature_config(placements: tuple[str, ...], pipeline: str, trials: dict[str, list[Trial]], fit_parts: list[Part],
                       beta: float = 0.1, calibration_seconds: float = 30.0) -> FeatureConfig:
    """The contract's feature settings for a new model (`train` and the study alike).
    v1: q_ref fitted on `fit_parts` (the data that trains or validates) only;
    v2: q_ref is the segment frame's constant (no fit), each trial calibrated
    on its first `calibration_seconds` when its features are built."""
    if pipeline == PIPELINE_V2:
        return FeatureConfig(placements=placements, beta=beta, euler_reference={p: SEGMENT_REFERENCE for p in placements},
                             pipeline=PIPELINE_V2, calibration_seconds=calibration_seconds)
    ref = fit_reference_on(trials, fit_parts, placements)
    return FeatureConfig(placements=placements, beta=beta, euler_reference=ref, pipeline=pipeline)
