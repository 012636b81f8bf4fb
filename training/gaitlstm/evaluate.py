"""Scores: a predictor's published stream against the true angles.

`score` is what every number of the project is: `train`'s held-out score,
`export`'s int8/fp32/PyTorch/baseline scores, `make evaluate`, and the study's
rows (which pool the streams of several models with `segments` + `metrics_of`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Recording, load_trials, to_recordings
from .features import FeatureConfig
from .jsonio import finite_json
from .metrics import joint_metrics
from .predict import Predict, load_predictor, onnx_predictor, published_stream, torch_predictor

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


def evaluate_folder(model: Path, data: Path, include: str = "*") -> dict:
    """`make evaluate`: a model (manifest, its folder, an .onnx or a checkpoint.pt)
    through the full preprocessing on every trial of a folder.

    `include`: an fnmatch pattern on trial names, e.g. '*_04_01' for the held-out
    trials of the shipped model inside the full AB06 folder. Readings beyond the
    model's input_limits are dropped first, as the edge drops them."""
    m = load_predictor(model)
    trials = load_trials(data, include=include, limits=m.limits)
    recs = [r for rs in to_recordings(trials, m.features, m.joints).values() for r in rs]
    s = score(recs, m.features, m.predict, m.joints)
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
    })
