"""`make evaluate`: the exported ONNX model through the full preprocessing on every trial of a folder."""

from __future__ import annotations

from pathlib import Path

from .contract import load_contract
from .dataset import load_trials, to_recordings
from .evaluate import onnx_predictor, score
from .export import finite_json


def evaluate_folder(model: Path, data: Path, include: str = "*") -> dict:
    """`include`: an fnmatch pattern on trial names, e.g. '*_04_01' for the held-out
    trials of the shipped model inside the full AB06 folder."""
    c = load_contract(model)
    trials = load_trials(data, include=include)
    recs = [r for rs in to_recordings(trials, c.features, c.joints).values() for r in rs]
    s = score(recs, c.features, onnx_predictor(c.model_path), c.joints)
    return finite_json({
        "mean_rmse_deg": s["mean_rmse_deg"],
        "joints": s["joints"],
        "n_windows": s["n_windows"],
        "n_samples": s["n_samples"],
        "n_cycles": s["n_cycles"],
        "mean_nrmse": s["mean_nrmse"],
        "mean_r": s["mean_r"],
        "model": {"name": c.manifest["name"], "version": c.manifest["version"], "file": str(c.model_path)},
        "include": include,
        "trials": s["trials"],
        "notes": sorted({n for r in recs for n in r.notes}),
    })
