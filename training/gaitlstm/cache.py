"""A feature cache: grid features of many recordings in one `.npz`, computed once.

A placement's nine feature columns depend only on its own sensor, its own
Madgwick filter and its own q_ref, so the features of any subset of the cached
placements are exactly their columns (when the placements share one clock, as
a simulated cohort's do). The study's sweep computes all seven placements once
and trains 126 combinations from the columns.

File layout: `meta` (JSON: placements, euler_reference, recordings [{subject,
trial, role}], plus the caller's keys) and per recording i the arrays `t{i}`,
`rows{i}` (float32) and `y{i}` (the true angles on the grid).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import Recording
from .features import N_CH, FeatureConfig, GridFeatures


def write_cache(path: Path, recs: dict[str, list[Recording]], roles: dict[str, str], fc: FeatureConfig, extra: dict) -> None:
    """Write `recs` (subject -> recordings) with each subject's role (e.g. train/val/test), atomically."""
    arrays: dict[str, np.ndarray] = {}
    index = []
    for s, rs in recs.items():
        for r in rs:
            key = f"{len(index)}"
            arrays[f"t{key}"], arrays[f"rows{key}"], arrays[f"y{key}"] = r.grid.t, r.grid.rows.astype(np.float32), r.targets
            index.append({"subject": s, "trial": r.trial, "role": roles[s]})
    meta = {"placements": fc.placements, "euler_reference": fc.euler_reference, **extra, "recordings": index}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


@dataclass
class FeatureCache:
    meta: dict
    recs: list[tuple[str, str, str, np.ndarray, np.ndarray, np.ndarray]]  # subject, trial, role, t, rows, y

    @staticmethod
    def load(path: Path) -> FeatureCache:
        z = np.load(path)
        meta = json.loads(str(z["meta"]))
        recs = [(d["subject"], d["trial"], d["role"], z[f"t{i}"], z[f"rows{i}"], z[f"y{i}"]) for i, d in enumerate(meta["recordings"])]
        return FeatureCache(meta, recs)

    def recordings(self, combo: tuple[str, ...], role: str) -> tuple[FeatureConfig, list[Recording]]:
        """The recordings of one role with only `combo`'s columns, and their feature config."""
        order = list(self.meta["placements"])
        unknown = [p for p in combo if p not in order]
        if unknown:
            raise ValueError(f"placements {unknown} are not in the cache (it has {order})")
        cols = np.concatenate([np.arange(order.index(p) * N_CH, (order.index(p) + 1) * N_CH) for p in combo])
        fc = FeatureConfig(placements=combo, euler_reference={p: tuple(self.meta["euler_reference"][p]) for p in combo})
        recs = [Recording(s, tr, GridFeatures(t=t, rows=rows[:, cols].astype(np.float64), ahrs_resets=0), y, [])
                for s, tr, r, t, rows, y in self.recs if r == role]
        return fc, recs
