"""Gait events (heel strike, toe off, mid-swing), gait phase and per-stride metrics.

Causal and streaming, from the foot's sagittal angular rate in the segment
frame; the same algorithm as `edge/gait/` (golden vectors:
test/fixtures/gait/golden.json). docs/gait-events.md has the algorithm and
its measured accuracy against AB06's force plates.
"""

from .events import DEFAULT_PARAMS, DetectorParams, EventType, GaitEvent, GaitEventDetector, detect_events
from .phase import DEFAULT_PHASE_PARAMS, PhaseEstimator, PhaseParams
from .strides import JOINTS, Stride, StrideTracker

__all__ = [
    "DEFAULT_PARAMS",
    "DEFAULT_PHASE_PARAMS",
    "JOINTS",
    "DetectorParams",
    "EventType",
    "GaitEvent",
    "GaitEventDetector",
    "PhaseEstimator",
    "PhaseParams",
    "Stride",
    "StrideTracker",
    "detect_events",
    "gait_cycles",
]


def gait_cycles(t, foot_sagittal_rate):  # type: ignore[no-untyped-def]
    """(heel strike, next heel strike) pairs in s; see gaitlstm.gait.evaluate.gait_cycles."""
    from .evaluate import gait_cycles as _gait_cycles

    return _gait_cycles(t, foot_sagittal_rate)
