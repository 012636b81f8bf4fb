"""Gait events (heel strike, toe off, mid-swing), gait phase and per-stride metrics.

Causal and streaming, from the foot's sagittal angular rate in the segment
frame; the same algorithm as `edge/gait/` (golden vectors:
test/fixtures/gait/golden.json). docs/gait-events.md has the algorithm and
its measured accuracy against AB06's force plates.
"""

from .events import DEFAULT_PARAMS, DetectorParams, EventType, GaitEvent, GaitEventDetector, detect_events
from .phase import DEFAULT_PHASE_PARAMS, PhaseEstimator, PhaseParams
from .stream import Run, gait_cycles, run_stream
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
    "Run",
    "Stride",
    "StrideTracker",
    "detect_events",
    "gait_cycles",
    "run_stream",
]

