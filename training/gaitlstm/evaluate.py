"""Scores: a predictor's published stream against the true angles.

`score` is what every number of the project is: `train`'s held-out score,
`export`'s int8/fp32/PyTorch/baseline scores, `make evaluate`, and the study's
rows (which pool the streams of several models with `segments` + `metrics_of`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Recording, load_trials, to_recordings
from .features import CalibrationRefused, FeatureConfig
from .io.types import Trial
from .jsonio import finite_json
from .metrics import joint_metrics
from .predict import Predict, load_predictor, onnx_predictor, published_stream, torch_predictor
from .reframe import random_remount

# Re-exported: scoring code used to import the predictors from here.
__all__ = ["Predict", "onnx_predictor", "torch_predictor", "evaluate_folder", "metrics_of", "score", "segments", "stream_predictions"]

Segment = tuple[np.ndarray, np.ndarray]  # (pred, true) of one recording's published stream


def stream_predictions(rec: Recording, cfg: FeatureConfig, predict: Predict, batch: int = 256) -> tuple[np.ndarray, np.ndarray, int]:
    """(pred, true, n_windows): the published stream of one recording."""
    s = published_stream(rec.grid, cfg, predict, rec.targets, batch)
    assert s.true is not None  # a Recording always has targets
    return s.pred, s.true, s.n_windows


def segments(recordings: list[Recording], cfg: FeatureConfig, predict: Predict) -> tuple[list[Segment], int]:
    """(segments, n_windows) of the recordings at least one window long."""
    out: list[Segment] = []
    n_windows = 0
    for rec in recordings:
        p, t, n = stream_predictions(rec, cfg, predict)
        if n:
            out.append((p, t))
            n_windows += n
    return out, n_windows


def metrics_of(segs: list[Segment], joints: tuple[str, ...], rate_hz: float) -> dict:
    if not segs:
        raise ValueError("no full window in any recording: trials must be at least one window long")
    return joint_metrics(segs, joints, rate_hz)


def score(recordings: list[Recording], cfg: FeatureConfig, predict: Predict, joints: tuple[str, ...]) -> dict:
    segs, n_windows = segments(recordings, cfg, predict)
    out = metrics_of(segs, joints, cfg.rate_hz)
    out["n_windows"] = n_windows
    out["trials"] = [r.trial for r in recordings]
    return out


def remounted_copies(trials: dict[str, list[Trial]], placements: tuple[str, ...], seed: int, k: int) -> dict[str, list[Trial]]:
    """Remount k of every trial: each placement in a random frame drawn from (seed, k, the
    trial's name); odd k also make the thigh left-handed (Z label flipped on acc and gyro)."""
    return {s: [random_remount(t, placements, np.random.default_rng([seed, k, *t.name.encode()]),
                               left_handed_thigh=k % 2 == 1, tag=f"~remount{k}") for t in ts] for s, ts in trials.items()}


def score_remounts(trials: dict[str, list[Trial]], cfg: FeatureConfig, predict: Predict, joints: tuple[str, ...],
                   seed: int, remounts: int) -> dict:
    """Scores over `remounts` random re-mountings of every trial (see `remounted_copies`):
    pooled, the proper rotations alone (even k), the left-handed thighs alone (odd k), and
    per remount, with the streams the pipeline converted to right-handed (`converted`:
    v2 must convert every left-handed thigh and nothing else; v1 converts nothing)."""
    segs: dict[str, list[Segment]] = {"all": [], "proper": [], "left_handed_thigh": []}
    per_remount, refused = [], []
    for k in range(remounts):
        bad: list[CalibrationRefused] = []
        recs = [r for rs in to_recordings(remounted_copies(trials, cfg.placements, seed, k), cfg, joints, bad).values() for r in rs]
        refused += bad
        if not recs:
            continue
        s, _ = segments(recs, cfg, predict)
        segs["all"] += s
        segs["left_handed_thigh" if k % 2 else "proper"] += s
        per_remount.append({"remount": k, "left_handed_thigh": k % 2 == 1,
                            "mean_rmse_deg": metrics_of(s, joints, cfg.rate_hz)["mean_rmse_deg"], "trials": len(recs),
                            "converted": sorted(f"{r.trial}: {p}" for r in recs for p in r.grid.converted)})
    out = {}
    for name, ss in segs.items():
        if ss:
            m = metrics_of(ss, joints, cfg.rate_hz)
            out[name] = {"mean_rmse_deg": m["mean_rmse_deg"], "joints": m["joints"], "n_samples": m["n_samples"]}
    return {"seed": seed, "remounts": remounts, **out, "per_remount": per_remount,
            "refused": [str(e) for e in refused]}


def evaluate_folder(model: Path, data: Path, include: str = "*", exclude: str | None = None,
                    remount_seed: int = 0, remounts: int = 0) -> dict:
    """`make evaluate`: a model (manifest, its folder, an .onnx or a checkpoint.pt)
    through the full preprocessing on every trial of a folder.

    `include` / `exclude`: fnmatch patterns on trial names, e.g. '*_04_01' for the
    held-out trials of the shipped model inside the full AB06 folder. Readings beyond
    the model's input_limits are dropped first, as the edge drops them. A
    gait-features/2 trial whose calibration is refused is not scored; `refused`
    names it; one whose stream was mirrored is converted and scored, and `converted`
    names it. `remounts` > 0 also scores every trial re-expressed in that many
    random sensor frames (`score_remounts`, seeded by `remount_seed`)."""
    m = load_predictor(model)
    trials = load_trials(data, include=include, exclude=exclude, limits=m.limits)
    refused: list[CalibrationRefused] = []
    recs = [r for rs in to_recordings(trials, m.features, m.joints, refused).values() for r in rs]
    if not recs:
        raise ValueError(f"{data}: no trial to score; refused: {[str(e) for e in refused]}")
    s = score(recs, m.features, m.predict, m.joints)
    extra = {"remounted": score_remounts(trials, m.features, m.predict, m.joints, remount_seed, remounts)} if remounts else {}
    return finite_json({
        "mean_rmse_deg": s["mean_rmse_deg"],
        "joints": s["joints"],
        "n_windows": s["n_windows"],
        "n_samples": s["n_samples"],
        "n_cycles": s["n_cycles"],
        "mean_nrmse": s["mean_nrmse"],
        "mean_r": s["mean_r"],
        "model": {"name": m.name, "version": m.version, "file": str(m.file)},
        "include": include,
        "trials": s["trials"],
        "notes": sorted({n for r in recs for n in r.notes}),
        "feature_pipeline": m.features.pipeline,
        "refused": [str(e) for e in refused],
        "converted": sorted(f"{r.trial}: {p}" for r in recs for p in r.grid.converted),
        **extra,
    })
