"""The edge's order of work on one stream, in Python: detector -> phase -> strides.

Pure (no I/O). `run_stream` is what the evaluation and the golden vectors
run; `gait_cycles` is the entry point for the study's per-cycle metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .events import DEFAULT_PARAMS, DetectorParams, GaitEvent, GaitEventDetector
from .phase import PhaseEstimator
from .strides import JOINTS, Stride, StrideTracker


@dataclass
class Run:
    """What the streaming pipeline produced on one trial."""

    t: np.ndarray  # grid, s
    w: np.ndarray  # foot sagittal rate, rad/s
    events: list[GaitEvent]
    phase: np.ndarray  # % per grid sample, NaN where unknown
    strides: list[Stride]


def run_stream(
    t: np.ndarray,
    w: np.ndarray,
    angles: np.ndarray | None = None,
    params: DetectorParams = DEFAULT_PARAMS,
) -> Run:
    """The edge's order of work, one sample at a time: detector, phase, strides."""
    det = GaitEventDetector(params)
    phase = PhaseEstimator()
    tracker = StrideTracker(joints=JOINTS if angles is not None else None)
    events: list[GaitEvent] = []
    strides: list[Stride] = []
    ph = np.full(len(t), np.nan)
    for k in range(len(t)):
        tk, wk = float(t[k]), float(w[k])
        for e in det.update(tk, wk):
            events.append(e)
            phase.on_event(e)
            strides.extend(tracker.on_event(e))
        if angles is not None:
            strides.extend(tracker.push_angles(tk, [float(a) for a in angles[k]]))
        p = phase.phase(tk)
        if p is not None:
            ph[k] = p
    return Run(t=t, w=w, events=events, phase=ph, strides=strides)


def gait_cycles(t: np.ndarray, foot_sagittal_rate: np.ndarray, params: DetectorParams = DEFAULT_PARAMS) -> list[tuple[float, float]]:
    """Gait cycles (heel strike, next heel strike) in s, as the edge detector finds them.

    For the study's per-cycle metrics: same detector, same stride validity
    rule as the edge's stride messages (0.5..2.5 s)."""
    run = run_stream(np.asarray(t, dtype=float), np.asarray(foot_sagittal_rate, dtype=float), None, params)
    return [(s.t_start, s.t_end) for s in run.strides]
