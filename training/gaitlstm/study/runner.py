"""`compare`: the study's method comparison (its Fig. 3 and transfer-ratio curve).

Who is tested on what:

- cohort scope: UG trains on most virtual subjects, validates on one and is
  tested on the last `n_test_subjects` (by name), never seen in training. UI
  trains within each of those test subjects (first part of every trial) and is
  tested on the rest of their trials; UG is scored on the same parts, so the
  two rows compare like with like.
- AB06 scope (the real "new person"): the cohort's UG model tested directly
  (no adaptation); UA fine-tunes it on the first `ratio` of every AB06 trial
  for 1, 5, 15 epochs and is tested on the rest (the transfer-ratio curve); UI
  trains within AB06. The table row of every method is scored on the SAME
  parts: the last (1 - `table_ratio`) of every AB06 trial.
- IMU-IK (`gaitlstm.imuik`, imported lazily) on the same test parts: knee and
  ankle on AB06 (no pelvis IMU, so no hip), all five joints on the cohort.

Subjects of the cohort that replay AB06's own mocap kinematics are dropped
(`cohort.json`: `kinematics_from_ab06`), else AB06 would not be unseen.

Pipeline (`CompareConfig.pipeline`): gait-features/2 by default, the shipped
contract (each trial's placements calibrated into their segment frames from
its own first walking, as `train` and the edge do: `splits.new_feature_config`
and `dataset.to_recordings`); gait-features/1 reproduces the study's first
figures. A trial whose calibration is refused has no v2 features: it is left
out of every model and score, and listed in `compare.json` (`refused`, and a
note), never dropped silently.
Results go to `<out>/compare.json`, rewritten (atomically) after every row.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import Checkpoint
from ..config import FitConfig, TrainConfig
from ..dataset import Part, Recording, keep_trials, load_trials, realize, to_recordings
from ..evaluate import Segment, metrics_of, segments
from ..features import PIPELINE_V2, CalibrationRefused, FeatureConfig
from ..fit import device, fit, fit_new, seed_everything, stack
from ..io.types import JOINTS_R, Trial
from ..jsonio import write_json_atomic
from ..metrics import joint_metrics
from ..models import Normalized
from ..predict import torch_predictor
from ..splits import new_feature_config

PLACEMENTS = ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l", "calcn_r", "calcn_l")
PRODUCT = ("femur_r", "calcn_r")
AB06_PLACEMENTS = ("femur_r", "tibia_r", "calcn_r")  # the leg sensors AB06 has (its torso is no pelvis)


def _cohort_subjects(cohort: Path) -> list[dict]:
    """The subjects of the cohort's `cohort.json` (none when the folder has no manifest)."""
    meta = Path(cohort) / "cohort.json"
    return json.loads(meta.read_text()).get("subjects", []) if meta.is_file() else []


def ab06_kinematics_subjects(cohort: Path) -> list[str]:
    """Cohort subjects that replay AB06's mocap (leakage when AB06 is the test person)."""
    return sorted(s["subject"] for s in _cohort_subjects(cohort) if s.get("kinematics_from_ab06"))


def cohort_persons(cohort: Path) -> dict[str, str]:
    """Virtual subject -> the real person whose kinematics it replays."""
    return {s["subject"]: s["person"] for s in _cohort_subjects(cohort) if "person" in s}


def shared_person_note(persons: dict[str, str], train: list[str], test: list[str]) -> str | None:
    """Say so when the 'unseen' cohort subjects move like people the model trained on (a much easier test)."""
    seen = {persons[s] for s in train if s in persons}
    shared = [f"{s} ({persons[s]})" for s in test if persons.get(s) in seen]
    if not shared:
        return None
    return (f"cohort test subjects {', '.join(shared)} replay the kinematics of people whose other virtual subjects are "
            "in the training set (new body size, speed, sensor placement and noise, but not a new gait): the cohort "
            "UG rows measure robustness to those, not to a new person; AB06 real is the new person")


@dataclass
class UgSubjects:
    train: list[str]
    val: str
    test: list[str]


def ug_subjects(subjects: list[str], n_test: int) -> UgSubjects:
    """The last `n_test` subjects (by name) test, the one before them validates, the rest train."""
    subjects = sorted(subjects)
    if len(subjects) < n_test + 2:
        raise ValueError(f"UG needs at least {n_test + 2} subjects ({n_test} test, 1 validation, 1 training); have {subjects}")
    return UgSubjects(subjects[: -n_test - 1], subjects[-n_test - 1], subjects[-n_test:])


def whole(names: dict[str, list[str]], subjects: list[str]) -> list[Part]:
    return [Part(s, n) for s in subjects for n in names[s]]


def fractions(names: dict[str, list[str]], subjects: list[str], start: float, end: float) -> list[Part]:
    return [Part(s, n, start, end) for s in subjects for n in names[s]]


def present(recs: dict[str, list[Recording]], parts: list[Part]) -> list[Part]:
    """The parts whose recording exists (a v2 trial whose calibration was refused has none)."""
    have = {(r.subject, r.trial) for rs in recs.values() for r in rs}
    return [p for p in parts if (p.subject, p.trial) in have]


def refusal_rows(refused: list[CalibrationRefused]) -> list[dict]:
    """One row per refused trial placement, for compare.json (each trial once per placement set)."""
    seen: set[tuple[str, str, str]] = set()
    rows = []
    for e in refused:
        if (e.subject, e.trial, e.placement) not in seen:
            seen.add((e.subject, e.trial, e.placement))
            rows.append({"subject": e.subject, "trial": e.trial, "placement": e.placement, "reason": e.reason,
                         "message": str(e)})
    return rows


def segments_of(recs: list[Recording], fc: FeatureConfig, model: Normalized, dev: torch.device) -> list[Segment]:
    """(pred, true) published streams, as the edge publishes them and `evaluate` scores them."""
    return segments(recs, fc, torch_predictor(model, dev))[0]


@dataclass
class CompareConfig:
    cohort: str
    real: str
    out: str = "runs/study"
    archs: tuple[str, ...] = ("lstm", "cnn")
    placement_sets: tuple[tuple[str, ...], ...] = (PRODUCT,)
    ratios: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5)
    ua_epochs: tuple[int, ...] = (1, 5, 15)
    table_ratio: float = 0.5  # every AB06 table row is tested on the last (1 - this) of every trial
    n_test_subjects: int = 3
    exclude_ab06_kinematics: bool = True
    include: str = "*"
    joints: tuple[str, ...] = JOINTS_R
    max_epochs: int = 10  # UG and UI, early stopping on validation
    patience: int = 3
    train_stride: int = 10
    lr: float = 1e-3
    ua_lr: float = 1e-3
    batch_size: int = 64
    val_fraction: float = 0.2  # UI: the last 20% of its training part validates
    seed: int = 0
    threads: int = 0
    max_minutes: float = 8.0  # per fit
    imu_ik: bool = True
    pipeline: str = PIPELINE_V2  # the shipped contract; gait-features/1 reproduces the first study figures
    calibration_seconds: float = 30.0  # v2: the first seconds of each trial that calibrate it (as `train`)


def fit_config(cfg: CompareConfig) -> FitConfig:
    """UG and UI: early stopping on validation, `max_minutes` per fit."""
    return FitConfig(epochs=cfg.max_epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                     patience=cfg.patience, max_minutes=cfg.max_minutes)


def imu_ik_metrics(trials: list[Trial], start: float, joints: tuple[str, ...], rate_hz: float = 100.0) -> dict:
    """IMU-IK scored on the last (1 - start) of every trial, like the models' test parts.

    Imported here: the baseline is another engineer's module and may be absent."""
    from ..imuik import imu_ik

    clock = "hip_flexion_r"
    segs, names = [], None
    for trial in trials:
        est = imu_ik(trial, side="r", calib_s=1.0)
        t = est["t"]
        keep = np.arange(len(t)) >= int(round(start * len(t)))
        est_names = tuple(j for j in joints if j in est)
        names = names or est_names
        cols = [clock, *[j for j in est_names if j != clock]]
        true = np.stack([np.interp(t[keep], trial.angles_t, trial.angles[j]) for j in cols], axis=1)
        # Without a pelvis IMU there is no hip estimate: the true hip flexion only clocks the gait cycles.
        pred = np.stack([est[j][keep] if j in est else true[:, 0] for j in cols], axis=1)
        segs.append((pred, true))
    cols = [clock, *[j for j in names if j != clock]]
    m = joint_metrics(segs, tuple(cols), rate_hz)
    if clock not in names:
        m["joints"].pop(clock)
        for key, fld in (("mean_rmse_deg", "rmse_deg"), ("mean_nrmse", "nrmse"), ("mean_r", "r")):
            m[key] = float(np.mean([v[fld] for v in m["joints"].values()]))
    return m


@dataclass
class Results:
    path: Path
    data: dict = field(default_factory=dict)

    def add(self, kind: str, row: dict) -> None:
        self.data.setdefault(kind, []).append(row)
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)


def compare(cfg: CompareConfig) -> dict:
    """Run every method of the comparison; returns (and writes) `<out>/compare.json`."""
    t_start = time.monotonic()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dev = device()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    res = Results(out / "compare.json", {"config": asdict(cfg), "device": str(dev), "rows": [], "curve": [], "notes": [],
                                         "refused": []})
    rate = 100.0

    dropped = ab06_kinematics_subjects(Path(cfg.cohort)) if cfg.exclude_ab06_kinematics else []
    cohort = {s: ts for s, ts in load_trials(Path(cfg.cohort), include=cfg.include).items() if s not in dropped}
    real = load_trials(Path(cfg.real))
    cohort_names = {s: [t.name for t in ts] for s, ts in cohort.items()}
    real_names = {s: [t.name for t in ts] for s, ts in real.items()}
    who = ug_subjects(list(cohort), cfg.n_test_subjects)
    res.data["subjects"] = {**asdict(who), "dropped_ab06_kinematics": dropped, "real": sorted(real)}
    if dropped:
        res.data["notes"].append(f"cohort subjects {', '.join(dropped)} replay AB06's mocap and were left out of every model")
    persons = cohort_persons(Path(cfg.cohort))
    res.data["subjects"]["persons"] = {s: persons[s] for s in sorted(cohort) if s in persons}
    if note := shared_person_note(persons, who.train + [who.val], who.test):
        res.data["notes"].append(note)

    r0 = cfg.table_ratio
    split_at = r0 * (1.0 - cfg.val_fraction)
    real_subjects = sorted(real)
    test_real = fractions(real_names, real_subjects, r0, 1.0)
    test_cohort = fractions(cohort_names, who.test, r0, 1.0)
    desc_real = f"AB06 real, last {1 - r0:.0%} of each of its {sum(map(len, real_names.values()))} trials"
    desc_cohort = f"cohort subjects {', '.join(who.test)} (unseen by UG), last {1 - r0:.0%} of each trial"

    def row(scope: str, method: str, arch: str, placements: tuple[str, ...], test: str, metrics: dict, t0: float, **extra) -> None:
        res.add("rows", {"scope": scope, "method": method, "arch": arch, "placements": list(placements), "test": test,
                         "metrics": metrics, "seconds": round(time.monotonic() - t0, 1), **extra})
        print(f"[compare] {scope:6s} {method:6s} {arch:5s} {'+'.join(placements):24s} "
              f"mean RMSE {metrics['mean_rmse_deg']:.2f} deg  ({time.monotonic() - t0:.0f} s)", flush=True)

    def features_for(placements: tuple[str, ...], trials: dict[str, list[Trial]], fit_parts: list[Part]) -> FeatureConfig:
        return new_feature_config(placements, cfg.pipeline, trials, fit_parts, calibration_seconds=cfg.calibration_seconds)

    def report_refused(placements: tuple[str, ...], refused: list[CalibrationRefused]) -> None:
        rows = refusal_rows(refused)
        for r in rows:
            res.data["refused"].append({"placements": list(placements), **r})
            res.data["notes"].append(f"{'+'.join(placements)}: {r['subject']}/{r['trial']} left out of every model and "
                                     f"score: placement '{r['placement']}' calibration refused ({r['reason']})")
            print(f"[compare] left out: {r['message']}", flush=True)
        res.save()

    for placements in cfg.placement_sets:
        lacking = [p for p in placements if any(p not in t.imus for ts in real.values() for t in ts)]
        real_ok = not lacking
        if lacking:
            res.data["notes"].append(f"AB06 has no IMU at {lacking}: {'+'.join(placements)} is run on the cohort only")
        ug_train, ug_val = whole(cohort_names, who.train), whole(cohort_names, [who.val])
        fc = features_for(placements, cohort, ug_train + ug_val)
        refused: list[CalibrationRefused] = []
        cohort_recs = to_recordings(keep_trials(cohort, ug_train + ug_val + whole(cohort_names, who.test)), fc, cfg.joints,
                                    refused)
        real_recs = to_recordings(real, fc, cfg.joints, refused) if real_ok else {}
        report_refused(placements, refused)
        # Every part list below is cut to the trials that have features (none refused).
        ug_train, ug_val = present(cohort_recs, ug_train), present(cohort_recs, ug_val)
        test_cohort_p, test_real_p = present(cohort_recs, test_cohort), present(real_recs, test_real)
        whole_test_p = present(cohort_recs, whole(cohort_names, who.test))
        desc_real_p = desc_real if len(test_real_p) == len(test_real) else (
            f"AB06 real, last {1 - r0:.0%} of each of its {len(test_real_p)} trials with features (of {len(test_real)}: "
            "see the refusals)")

        for arch in cfg.archs:
            fcfg = fit_config(cfg)
            # ---- UG on the cohort
            t0 = time.monotonic()
            ug, _, history = fit_new(arch, fcfg, fc, realize(cohort_recs, ug_train), realize(cohort_recs, ug_val), dev, cfg.train_stride)
            ug_state = {k: v.detach().clone() for k, v in ug.state_dict().items()}
            # A checkpoint like `train`'s: `gaitlstm train --method ua --base` and `export` take it.
            ug_config = TrainConfig(data=cfg.cohort, out=cfg.out, arch=arch, method="ug", imus=placements, joints=cfg.joints,
                                    heldout=None, val_trials=None, seed=cfg.seed, max_epochs=cfg.max_epochs,
                                    patience=cfg.patience, batch_size=cfg.batch_size, lr=cfg.lr,
                                    train_stride=cfg.train_stride, max_minutes=cfg.max_minutes, pipeline=cfg.pipeline,
                                    calibration_seconds=cfg.calibration_seconds)
            Checkpoint(ug_config, fc, {k: ug_state[k].cpu().numpy() for k in ("x_mean", "x_std", "y_mean", "y_std")},
                       {k: v.cpu() for k, v in ug_state.items()}, history, train_parts=ug_train, val_parts=ug_val,
                       test_parts=whole_test_p, device=str(dev),
                       ).save(out / f"ug_{arch}_{'+'.join(placements)}.pt")
            m = metrics_of(segments_of(realize(cohort_recs, test_cohort_p), fc, ug, dev), cfg.joints, rate)
            whole_m = metrics_of(segments_of(realize(cohort_recs, whole_test_p), fc, ug, dev), cfg.joints, rate)
            row("cohort", "UG", arch, placements, desc_cohort, m, t0, epochs=len(history),
                whole_trials_mean_rmse_deg=whole_m["mean_rmse_deg"], train_subjects=len(who.train))

            # ---- UI within each cohort test subject (one model per subject; streams pooled)
            t0 = time.monotonic()
            segs = []
            for s in who.test:
                tr, va = fractions(cohort_names, [s], 0.0, split_at), fractions(cohort_names, [s], split_at, r0)
                fc_s = features_for(placements, cohort, tr + va)
                # v2's features depend on no fit: the UG recordings are this subject's (refusals already reported)
                recs_s = cohort_recs if fc_s == fc else to_recordings({s: cohort[s]}, fc_s, cfg.joints)
                tr, va = present(recs_s, tr), present(recs_s, va)
                if not tr:
                    res.data["notes"].append(f"UI {arch}: cohort subject {s} has no trial with features; no UI model")
                    continue
                ui, _, _ = fit_new(arch, fcfg, fc_s, realize(recs_s, tr), realize(recs_s, va), dev, cfg.train_stride)
                segs += segments_of(realize(recs_s, present(recs_s, fractions(cohort_names, [s], r0, 1.0))), fc_s, ui, dev)
            row("cohort", "UI", arch, placements, desc_cohort, metrics_of(segs, cfg.joints, rate), t0,
                detail=f"per subject: first {split_at:.0%} of each trial trains, {split_at:.0%}-{r0:.0%} validates")

            if not real_ok:
                continue
            # ---- UG tested directly on AB06 (no adaptation)
            t0 = time.monotonic()
            row("ab06", "UG", arch, placements, desc_real_p,
                metrics_of(segments_of(realize(real_recs, test_real_p), fc, ug, dev), cfg.joints, rate), t0)

            # ---- UA: fine-tune the UG model on the first `ratio` of every AB06 trial
            for ratio in cfg.ratios:
                t0 = time.monotonic()
                adapt = present(real_recs, fractions(real_names, real_subjects, 0.0, ratio))
                test = present(real_recs, fractions(real_names, real_subjects, ratio, 1.0))
                test_recs = realize(real_recs, test)
                ug.load_state_dict(ug_state)
                res.add("curve", {"arch": arch, "placements": list(placements), "ratio": ratio, "epochs": 0,
                                  "metrics": metrics_of(segments_of(test_recs, fc, ug, dev), cfg.joints, rate)})
                try:
                    x, y = stack(realize(real_recs, adapt), fc, cfg.train_stride)
                except ValueError as e:
                    res.data["notes"].append(f"UA {arch} ratio {ratio}: {e} (trials too short for a window)")
                    continue
                seed_everything(cfg.seed)
                snap: dict[int, dict] = {}

                def on_epoch(epoch: int, ratio: float = ratio, test_recs=test_recs, t0: float = t0, x=x) -> None:
                    if epoch in cfg.ua_epochs:
                        m = metrics_of(segments_of(test_recs, fc, ug, dev), cfg.joints, rate)
                        snap[epoch] = m
                        res.add("curve", {"arch": arch, "placements": list(placements), "ratio": ratio, "epochs": epoch,
                                          "metrics": m, "adapt_windows": len(x), "seconds": round(time.monotonic() - t0, 1)})
                        print(f"[compare] UA {arch} ratio {ratio:.2f} epochs {epoch:2d}: mean RMSE {m['mean_rmse_deg']:.2f} deg", flush=True)

                # UA: every weight continues training on the new person's windows, the
                # normalization kept from the base (as the exported graph would); one run
                # gives the 1-, 5- and 15-epoch points of the curve.
                ua_cfg = FitConfig(epochs=max(cfg.ua_epochs), lr=cfg.ua_lr, batch_size=cfg.batch_size, seed=cfg.seed,
                                   max_minutes=math.inf)
                fit(ug, x, y, ua_cfg, dev, None, on_epoch)
                if abs(ratio - r0) < 1e-9:
                    best = max(cfg.ua_epochs)
                    row("ab06", "UA", arch, placements, desc_real_p, snap[best], t0,
                        detail=f"UG fine-tuned {best} epochs on the first {ratio:.0%} of every AB06 trial")
            ug.load_state_dict(ug_state)

            # ---- UI within AB06
            t0 = time.monotonic()
            tr, va = fractions(real_names, real_subjects, 0.0, split_at), fractions(real_names, real_subjects, split_at, r0)
            fc_r = features_for(placements, real, tr + va)
            recs_r = real_recs if fc_r == fc else to_recordings(real, fc_r, cfg.joints)
            tr, va = present(recs_r, tr), present(recs_r, va)
            ui, _, _ = fit_new(arch, fcfg, fc_r, realize(recs_r, tr), realize(recs_r, va), dev, cfg.train_stride)
            row("ab06", "UI", arch, placements, desc_real_p, metrics_of(segments_of(realize(recs_r, present(recs_r, test_real)), fc_r, ui, dev), cfg.joints, rate), t0,
                detail=f"first {split_at:.0%} of each AB06 trial trains, {split_at:.0%}-{r0:.0%} validates")

    # ---- IMU-IK on the same test parts
    if cfg.imu_ik:
        try:
            import importlib

            importlib.import_module("gaitlstm.imuik")
        except ImportError as e:
            res.data["notes"].append(f"IMU-IK baseline not available ({e}); its rows are missing")
        else:
            t0 = time.monotonic()
            # the models' test parts: a trial some placement set left out (refused calibration) is left out here too
            left_out = {(r["subject"], r["trial"]) for r in res.data["refused"]}
            parts = {(p.subject, p.trial) for p in test_cohort} - left_out
            trials = [t for s, ts in cohort.items() for t in ts if (s, t.name) in parts]
            row("cohort", "IMU-IK", "-", ("pelvis", "femur_r", "tibia_r", "calcn_r"), desc_cohort, imu_ik_metrics(trials, r0, cfg.joints), t0,
                detail="calibrated on the reference angles over 3-4 s of each trial")
            t0 = time.monotonic()
            try:
                trials = [t for s, ts in real.items() for t in ts if (s, t.name) not in left_out]
                row("ab06", "IMU-IK", "-", AB06_PLACEMENTS, desc_real, imu_ik_metrics(trials, r0, cfg.joints), t0,
                    detail="knee and ankle only: AB06 has no pelvis IMU; calibrated on the reference angles over 3-4 s")
            except ValueError as e:
                res.data["notes"].append(f"IMU-IK on AB06: {e}")

    res.data["minutes"] = (time.monotonic() - t_start) / 60
    res.save()
    print(f"[compare] done in {res.data['minutes']:.1f} min -> {res.path}", flush=True)
    return res.data
