"""Causal, streaming gait-event detector on the foot's sagittal angular rate.

One implementation per language: this module and `edge/gait/events.ts` are
the same algorithm, operation for operation, and are both held to
`test/fixtures/gait/golden.json`. The algorithm, its thresholds and its
latency are documented in docs/gait-events.md; change both sides together.

Input, per sample in time order: `t` (s) and the foot's sagittal angular rate
`w` (rad/s) in the SEGMENT frame (OpenSim calcn body frame: x anterior, y up,
z right for the right foot; sagittal rate = gyro z, positive = toes rising).
The detector never sees the sensor frame: turning a strapped-on sensor's gyro
into the segment frame is the sensor-to-segment calibration's job.

What the foot's sagittal rate does over one stride (right foot, level walking):
  heel strike   the heel lands; the foot slaps flat: a sharp NEGATIVE minimum
                within ~10 ms of the force-plate contact
  stance        the foot is flat: w near 0
  heel off      the heel rises and the foot rolls over the toes: w falls to a
                deep negative trough (-4..-10 rad/s)
  toe off       w rises steeply through zero ~20 ms after the toes leave
  mid-swing     the foot swings forward: the stride's largest POSITIVE peak
  terminal swing  w returns through zero towards the next heel strike

State machine (the detector sees each sample once):
  SWING (waiting for the mid-swing peak; also the start and the recovery
  state) -> mid_swing -> TERMINAL_SWING (waiting for the heel-strike minimum)
  -> heel_strike -> STANCE (waiting for the toe-off zero crossing) -> toe_off
  -> SWING.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from collections.abc import Iterable
from typing import Literal

EventType = Literal["heel_strike", "toe_off", "mid_swing"]

SWING = "swing"
TERMINAL_SWING = "terminal_swing"
STANCE = "stance"


@dataclass(frozen=True)
class DetectorParams:
    """Thresholds of the detector; docs/gait-events.md says where each value comes from."""

    # A mid-swing peak must exceed this (rad/s). AB06's walking swings peak
    # at 3-8 rad/s, but the first, short step from standing only reaches
    # 1.7-1.9 rad/s; a flat foot in stance stays under 0.5 rad/s.
    msw_min_rate: float = 1.5
    # The peak is confirmed once w has fallen this far below it (rad/s):
    # hysteresis against the small bumps on the peak's flanks.
    msw_drop: float = 1.0
    # Heel strike: the first minimum after w turned negative in terminal
    # swing that is deeper than -hs_min_depth and that w then rises
    # hs_rise above (rad/s). The depth rejects the shallow dips of a foot
    # still swinging down; the rise confirms the minimum is behind us.
    hs_min_depth: float = 1.0
    hs_rise: float = 0.5
    # The foot-slap minimum comes after the first touch (the plate's 20 N
    # threshold): median 18 ms later on AB06's *_01..*_03 trials (fitted
    # there, checked on the held-out *_04 trials). Reported heel-strike time
    # = time of the minimum minus this (s).
    hs_offset_s: float = 0.018
    # Toe off: the heel-off trough is looked for only this long after heel
    # strike (s), which skips the foot-slap oscillation right after contact.
    min_stance_s: float = 0.2
    # The trough must be deeper than this (rad/s) before an upward zero
    # crossing counts as toe off (slow walking: -4 rad/s and deeper).
    to_trough: float = -2.0
    # w crosses zero after the toes leave the plate: median 34 ms later on
    # AB06's *_01..*_03 trials (fitted like hs_offset_s). Reported toe-off
    # time = crossing time minus this (s).
    to_offset_s: float = 0.034
    # No heel strike this long after mid-swing (s): the chain is broken
    # (the wearer stopped mid-swing, a turn on the spot); search again.
    max_terminal_swing_s: float = 1.0


DEFAULT_PARAMS = DetectorParams()


@dataclass(frozen=True)
class GaitEvent:
    """One detected event. `t` is the estimated event time, `t_detected` the
    time of the sample at which the detector could first say so; their
    difference is the detection latency."""

    type: EventType
    t: float
    t_detected: float


class GaitEventDetector:
    """Streaming detector; feed every sample once, in time order, with `update`."""

    def __init__(self, params: DetectorParams = DEFAULT_PARAMS) -> None:
        self.params = params
        self.reset()

    def reset(self) -> None:
        """Forget everything (start of a recording, or after a gap in the stream)."""
        self.prev_t = float("nan")
        self.prev_w = float("nan")
        # STANCE: time of the heel strike (kept across the states that follow it).
        self.t_hs = float("nan")
        # Toe offs the detector had to skip (a swing seen without its toe off).
        self.missed_toe_offs = 0
        self._enter(SWING, float("nan"))  # and every per-state running value

    def _enter(self, state: str, t: float) -> None:
        self.state = state
        self.state_since = t
        # SWING: running maximum and its time.
        self.peak = float("-inf")
        self.t_peak = float("nan")
        self.peak_rose = False
        # TERMINAL_SWING: armed once w < 0; running minimum and its time.
        self.armed = False
        self.low = float("inf")
        self.t_low = float("nan")
        # STANCE: the trough seen since min_stance_s.
        self.trough = float("inf")

    def update(self, t: float, w: float) -> list[GaitEvent]:
        """Process one sample; returns the events it confirms (zero or one)."""
        if not (math.isfinite(t) and math.isfinite(w)):
            raise ValueError(f"gait detector: sample t={t!r} s, w={w!r} rad/s is not finite")
        if t <= self.prev_t:
            # The runtime drops repeated/backward timestamps (docs/contract.md); here it is a caller bug.
            raise ValueError(f"gait detector: time {t!r} s is not after the previous sample's {self.prev_t!r} s")
        p = self.params
        events: list[GaitEvent] = []
        if self.state_since != self.state_since:  # first sample (NaN): start searching
            self.state_since = t
        if self.state == SWING:
            if w > self.peak:
                # A peak only counts if w rose to it: at the start of a
                # recording w may be falling from a peak the detector never saw.
                self.peak_rose = self.peak > float("-inf")
                self.peak = w
                self.t_peak = t
            elif w < self.peak - p.msw_drop:
                if self.peak > p.msw_min_rate and self.peak_rose:
                    events.append(GaitEvent("mid_swing", self.t_peak, t))
                    self._enter(TERMINAL_SWING, t)
                else:
                    # No mid-swing (too low, or never rose): track the next peak from here.
                    self.peak = w
                    self.t_peak = t
                    self.peak_rose = False
        elif self.state == TERMINAL_SWING:
            if t - self.state_since > p.max_terminal_swing_s:
                self._enter(SWING, t)
                self.peak = w
                self.t_peak = t
            else:
                if not self.armed and w < 0.0:
                    self.armed = True
                if self.armed:
                    if w < self.low:
                        self.low = w
                        self.t_low = t
                    elif self.low < -p.hs_min_depth and w > self.low + p.hs_rise:
                        t_hs = self.t_low - p.hs_offset_s
                        events.append(GaitEvent("heel_strike", t_hs, t))
                        self._enter(STANCE, t)
                        self.t_hs = t_hs
        elif self.state == STANCE:
            # Nothing counts during the first min_stance_s: the foot-slap
            # oscillation right after contact swings w both ways.
            if t - self.t_hs >= p.min_stance_s:
                if w < self.trough:
                    self.trough = w
                if self.prev_w < 0.0 <= w and self.trough < p.to_trough:
                    # Toe off; the zero crossing is interpolated linearly between the two samples.
                    t_cross = self.prev_t + (0.0 - self.prev_w) / (w - self.prev_w) * (t - self.prev_t)
                    events.append(GaitEvent("toe_off", t_cross - p.to_offset_s, t))
                    self._enter(SWING, t)
                    self.peak = w
                    self.t_peak = t
                elif w > p.msw_min_rate:
                    # Already swinging and no toe off seen (no deep trough before
                    # the rise): skip it and track this swing so the chain goes on.
                    self.missed_toe_offs += 1
                    self._enter(SWING, t)
                    self.peak = w
                    self.t_peak = t
        self.prev_t = t
        self.prev_w = w
        return events


def detect_events(t: Iterable[float], w: Iterable[float], params: DetectorParams = DEFAULT_PARAMS) -> list[GaitEvent]:
    """Run the streaming detector over a whole recording (offline use, same result)."""
    det = GaitEventDetector(params)
    out: list[GaitEvent] = []
    for ti, wi in zip(t, w):
        out.extend(det.update(float(ti), float(wi)))
    return out
