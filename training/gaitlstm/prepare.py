"""`gaitlstm prepare`: read every trial, run the feature pipeline, say what was found."""

from __future__ import annotations

from pathlib import Path

from .dataset import fit_euler_reference, load_trials, to_recordings
from .features import FeatureConfig


def prepare(data: Path, imus: tuple[str, ...]) -> dict:
    trials = load_trials(data)
    flat = [t for ts in trials.values() for t in ts]
    fc = FeatureConfig(placements=imus, euler_reference=fit_euler_reference(flat, imus))
    recs = to_recordings(trials, fc)
    summary = {"subjects": {}, "euler_reference": fc.euler_reference}
    for subject, rs in recs.items():
        n = sum(len(r.grid.t) for r in rs)
        summary["subjects"][subject] = {"trials": len(rs), "grid_samples": n, "minutes": round(n / fc.rate_hz / 60, 2)}
        for r in rs:
            note = "; ".join(r.notes) or "ok"
            print(f"{subject}/{r.trial}: {len(r.grid.t)} samples at {fc.rate_hz:g} Hz, {note}")
    print(summary)
    return summary
