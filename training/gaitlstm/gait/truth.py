"""Gait-event truth from force plates: contacts, and which of them are the right foot's.

Pure functions on arrays; reading the files is `gaitlstm.io.forceplates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

# 20 N is about 2.5 % of AB06's body weight (peaks near 800 N): above the
# unloaded plate (0 N, apart from isolated 1-3 ms blips of up to 60 N, 42 of
# them in the 24 trials, mostly on Combined, which the debounce below
# removes) and low enough to time the contact within a few ms of the first
# touch: the force rises at 10-20 N/ms after heel strike.
FORCE_THRESHOLD_N = 20.0
# Debounce: runs above the threshold shorter than this are noise, not steps
# (no walking stance lasts under 0.25 s); dips below it shorter than
# MIN_GAP_S inside a contact do not split it.
MIN_CONTACT_S = 0.1
MIN_GAP_S = 0.03
# A walking stance lasts 0.4-1.2 s on AB06; longer "contacts" are standing
# (at the ends of a trial) and give no step to time.
MAX_STANCE_S = 1.5
# Right/left from the IK knee angles at mid-contact: the loaded leg is nearly
# straight in mid-stance (5-20 deg) while the other leg is in mid-swing
# (40-65 deg). A difference under this is not decided (both legs straight:
# standing).
KNEE_SIDE_MARGIN_DEG = 20.0

Side = Literal["right", "left", "undecided"]


@dataclass(frozen=True)
class Contact:
    plate: str
    heel_strike: float  # s, force rising through the threshold (interpolated)
    toe_off: float  # s, force falling through it


def _crossing(t: np.ndarray, f: np.ndarray, i: int, threshold: float) -> float:
    """Time the force crosses `threshold` between samples i and i + 1 (linear)."""
    f0, f1 = float(f[i]), float(f[i + 1])
    return float(t[i] + (threshold - f0) / (f1 - f0) * (t[i + 1] - t[i]))


def plate_contacts(
    t: np.ndarray,
    force: np.ndarray,
    plate: str,
    threshold: float = FORCE_THRESHOLD_N,
    min_contact_s: float = MIN_CONTACT_S,
    min_gap_s: float = MIN_GAP_S,
    max_stance_s: float = MAX_STANCE_S,
) -> list[Contact]:
    """Complete foot contacts on one plate: loaded for min_contact_s..max_stance_s,
    unloaded before and after (a contact cut by the recording's start or end is dropped)."""
    on = force > threshold
    if not on.any():
        return []
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    # Runs as [first on index, last on index]; runs touching the ends are incomplete.
    starts = list(edges[~on[edges]] + 1) if len(edges) else []
    ends = list(edges[on[edges]]) if len(edges) else []
    if on[0]:
        starts.insert(0, 0)
    if on[-1]:
        ends.append(len(on) - 1)
    runs = [[s, e] for s, e in zip(starts, ends)]
    merged: list[list[int]] = []
    for r in runs:
        if merged and t[r[0]] - t[merged[-1][1]] < min_gap_s:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    out: list[Contact] = []
    for s, e in merged:
        if s == 0 or e == len(on) - 1:
            continue
        hs = _crossing(t, force, s - 1, threshold)
        to = _crossing(t, force, e, threshold)
        if min_contact_s <= to - hs <= max_stance_s:
            out.append(Contact(plate, hs, to))
    return out


def contact_side(knee_flexion_r: float, knee_flexion_l: float, margin: float = KNEE_SIDE_MARGIN_DEG) -> Side:
    """Which foot loads a plate, from both IK knee flexions (deg) at mid-contact."""
    d = knee_flexion_l - knee_flexion_r
    if d >= margin:
        return "right"
    if d <= -margin:
        return "left"
    return "undecided"
