"""Per-stride metrics from gait events and the joint-angle stream; mirrors `edge/gait/strides.ts`.

A stride runs from one heel strike to the next of the same foot. For each:
stride time (s), cadence (steps/min: a stride is two steps, so 120 / stride
time), stance % (toe off - heel strike over the stride time; None when no
toe off was detected inside the stride) and each joint's range of motion
(max - min of the angle samples with start <= t < end, degrees).

Events and angles arrive as separate streams: the model publishes its angles
in blocks, later than the detector's events. A stride is therefore closed
when its ending heel strike is known AND the angle stream has reached its end
(an angle sample at t >= end), or at once when the tracker takes no angles.
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import GaitEvent
from .phase import DEFAULT_PHASE_PARAMS

JOINTS = ("hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_flexion_r", "ankle_dorsiflexion_r")


@dataclass(frozen=True)
class Stride:
    t_start: float  # heel strike, s
    t_end: float  # next heel strike, s
    t_toe_off: float | None
    stride_time_s: float
    cadence_spm: float
    stance_pct: float | None
    rom_deg: dict[str, float] | None  # joint -> max - min; None without angles (or no sample in the stride)


@dataclass
class _Open:
    t_start: float
    t_end: float
    t_toe_off: float | None


class StrideTracker:
    """Closes strides from heel strikes and toe offs; `joints` None: no angle stream, ROM left out."""

    def __init__(
        self,
        joints: tuple[str, ...] | None = JOINTS,
        min_stride_s: float = DEFAULT_PHASE_PARAMS.min_stride_s,
        max_stride_s: float = DEFAULT_PHASE_PARAMS.max_stride_s,
    ) -> None:
        self.joints = joints
        self.min_stride_s = min_stride_s
        self.max_stride_s = max_stride_s
        self._t_hs = float("nan")
        self._t_to: float | None = None
        self._pending: list[_Open] = []
        self._angles_t: list[float] = []
        self._angles: list[list[float]] = []

    def reset(self) -> None:
        """After a gap: no stride may span it. Strides already complete still wait for their angles."""
        self._t_hs = float("nan")
        self._t_to = None

    def on_event(self, event: GaitEvent) -> list[Stride]:
        if event.type == "toe_off":
            if self._t_hs == self._t_hs and event.t > self._t_hs:
                self._t_to = event.t
            return []
        if event.type != "heel_strike":
            return []
        if self._t_hs == self._t_hs:
            stride = event.t - self._t_hs
            # Out-of-range strides (a pause, a doubled heel strike) are not strides.
            if self.min_stride_s <= stride <= self.max_stride_s:
                self._pending.append(_Open(self._t_hs, event.t, self._t_to))
        self._t_hs = event.t
        self._t_to = None
        return self._close()

    def push_angles(self, t: float, angles: list[float]) -> list[Stride]:
        """One angle sample (degrees, in `joints` order) at time t (s)."""
        if self.joints is None:
            raise ValueError("this StrideTracker was made without joints; it takes no angles")
        if len(angles) != len(self.joints):
            raise ValueError(f"expected {len(self.joints)} angles ({', '.join(self.joints)}), got {len(angles)}")
        self._angles_t.append(t)
        self._angles.append(list(angles))
        return self._close()

    def _close(self) -> list[Stride]:
        out: list[Stride] = []
        latest = self._angles_t[-1] if self._angles_t else float("-inf")
        while self._pending and (self.joints is None or latest >= self._pending[0].t_end):
            s = self._pending.pop(0)
            out.append(self._metrics(s))
        # Angle samples before the oldest stride still open (or the current heel strike) are no longer needed.
        keep_from = self._pending[0].t_start if self._pending else self._t_hs
        if keep_from == keep_from:
            drop = 0
            while drop < len(self._angles_t) and self._angles_t[drop] < keep_from:
                drop += 1
            if drop:
                del self._angles_t[:drop]
                del self._angles[:drop]
        return out

    def _metrics(self, s: _Open) -> Stride:
        stride = s.t_end - s.t_start
        stance = None if s.t_toe_off is None else 100.0 * (s.t_toe_off - s.t_start) / stride
        rom: dict[str, float] | None = None
        if self.joints is not None:
            lo = [float("inf")] * len(self.joints)
            hi = [float("-inf")] * len(self.joints)
            n = 0
            for t, a in zip(self._angles_t, self._angles):
                if s.t_start <= t < s.t_end:
                    n += 1
                    for j, v in enumerate(a):
                        lo[j] = min(lo[j], v)
                        hi[j] = max(hi[j], v)
            if n:
                rom = {joint: hi[j] - lo[j] for j, joint in enumerate(self.joints)}
        return Stride(s.t_start, s.t_end, s.t_toe_off, stride, 120.0 / stride, stance, rom)
