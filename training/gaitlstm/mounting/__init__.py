"""Automatic sensor-to-segment calibration from ordinary walking (docs/calibration.md).

Pure functions over one sensor's grid-rate acc (m/s^2, gravity included) and
gyro (rad/s): `handedness` (is the stream right-handed), `calibrate` (rotation
sensor -> segment frame, or a refusal with a reason), `still_fits` (re-strap
detection), `guess_placement` / `check_pair` (thigh or foot). The edge repeats
them in edge/calibration/, held to the same golden vectors
(test/fixtures/calibration/golden.json, written by `python -m gaitlstm.mounting.golden`).
"""

from .calibrate import REASONS, Calibration, Fit, calibrate, lead_lag_correlation, remount, still_fits
from .handedness import Handedness, handedness, to_right_handed
from .placement import PairCheck, PlacementGuess, check_pair, guess_placement

__all__ = [
    "REASONS",
    "Calibration",
    "Fit",
    "Handedness",
    "PairCheck",
    "PlacementGuess",
    "calibrate",
    "lead_lag_correlation",
    "check_pair",
    "guess_placement",
    "handedness",
    "remount",
    "still_fits",
    "to_right_handed",
]
