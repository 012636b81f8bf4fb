"""Continuous gait phase (0-100 % of the stride) from heel strikes; mirrors `edge/gait/phase.ts`.

phase(t) = 100 * (t - t_last_heel_strike) / T, where T is the mean of the
last `history` stride times (heel strike to heel strike, each between
`min_stride_s` and `max_stride_s`). It is a prediction: the stride in
progress is assumed to last as long as the recent ones.

- First strides: no phase (None) until one whole stride has been timed, i.e.
  from the second detected heel strike on.
- A stride running longer than predicted holds at `cap` (99 %) until its heel
  strike: the phase never wraps on its own, only a heel strike restarts it.
- Pause: once the time since the last heel strike exceeds
  `pause_factor * T` (or `max_stride_s`), the phase is None (the wearer
  stopped). The stride that contained the pause is too long to be kept, so at
  the next heel strike the phase resumes with the stride times from before.
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import GaitEvent


@dataclass(frozen=True)
class PhaseParams:
    history: int = 3  # strides averaged: long enough to smooth, short enough to follow a speed change
    min_stride_s: float = 0.5  # a faster "stride" is a doubled heel strike, not walking
    max_stride_s: float = 2.5  # a slower one contained a pause
    pause_factor: float = 1.5
    cap: float = 99.0


DEFAULT_PHASE_PARAMS = PhaseParams()


class PhaseEstimator:
    def __init__(self, params: PhaseParams = DEFAULT_PHASE_PARAMS) -> None:
        self.params = params
        self.reset()

    def reset(self) -> None:
        self.t_hs = float("nan")
        self.strides: list[float] = []

    def on_event(self, event: GaitEvent) -> None:
        if event.type != "heel_strike":
            return
        if self.t_hs == self.t_hs:  # a previous heel strike (not NaN)
            stride = event.t - self.t_hs
            if self.params.min_stride_s <= stride <= self.params.max_stride_s:
                self.strides.append(stride)
                if len(self.strides) > self.params.history:
                    self.strides.pop(0)
        self.t_hs = event.t

    def stride_estimate(self) -> float | None:
        if not self.strides:
            return None
        total = 0.0
        for s in self.strides:
            total += s
        return total / len(self.strides)

    def phase(self, t: float) -> float | None:
        """Phase (%) at time t (s), or None when unknown (start, pause)."""
        p = self.params
        stride = self.stride_estimate()
        if stride is None or self.t_hs != self.t_hs:
            return None
        since = t - self.t_hs
        if since < 0.0 or since > p.pause_factor * stride or since > p.max_stride_s:
            return None
        return min(100.0 * since / stride, p.cap)
