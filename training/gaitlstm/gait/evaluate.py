"""Score the streaming detector against force-plate truth on AB06 (`python -m gaitlstm.gait evaluate`).

Per trial: the right foot IMU resampled to the model's 100 Hz grid, turned
into the segment frame with the AB06 fixture rotation, fed sample by sample
to the detector, the phase estimator and the stride tracker (with the IK
angles as the angle stream). Truth: right-foot plate contacts (truth.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import read_camargo_trial
from ..io.forceplates import WALKWAY_PLATES, read_forceplates
from ..io.types import JOINTS_R
from .ab06 import AB06_FOOT_TO_SEGMENT
from .events import DEFAULT_PARAMS, DetectorParams
from .stream import run_stream
from .strides import Stride
from .truth import Contact, contact_side, plate_contacts

GRID_HZ = 100.0
# A detected event counts for a plate event when within this of it (s):
# wide enough for any plausible timing error, far narrower than a step (0.5 s).
MATCH_WINDOW_S = 0.15
# IK knee-flexion swing peaks (deg) that mark one stride each for the truth
# stride time; mid-swing knee flexion is 55-70 deg on AB06, stance under 25.
KNEE_PEAK_MIN_DEG = 40.0
# A mid-swing event belongs to the IK swing whose knee-flexion peak is this close (s).
SWING_MATCH_S = 0.25


def foot_sagittal_rate(t: np.ndarray, gyro: np.ndarray, rotation: np.ndarray = AB06_FOOT_TO_SEGMENT) -> tuple[np.ndarray, np.ndarray]:
    """(grid t, sagittal rate) at 100 Hz from sensor-frame gyro (contract resampling: numpy interp)."""
    n = int(np.floor((t[-1] - t[0]) * GRID_HZ + 1e-9)) + 1
    grid = t[0] + np.arange(n) / GRID_HZ
    z = rotation[2]
    w = np.interp(grid, t, gyro @ z)
    return grid, w


def _longest_chain(strides: list[Stride]) -> list[Stride]:
    """The longest run of strides each starting where the previous ended."""
    best: list[Stride] = []
    cur: list[Stride] = []
    for s in strides:
        cur = cur + [s] if cur and cur[-1].t_end == s.t_start else [s]
        if len(cur) > len(best):
            best = cur
    return best


def _knee_peaks(t: np.ndarray, knee: np.ndarray) -> np.ndarray:
    """Times of the knee-flexion swing maxima (parabolic sub-sample refinement)."""
    out = []
    for i in range(1, len(knee) - 1):
        if knee[i] >= KNEE_PEAK_MIN_DEG and knee[i] > knee[i - 1] and knee[i] >= knee[i + 1]:
            # One peak per swing: a plateau or a second bump within 0.3 s is the same swing.
            a, b, c = knee[i - 1], knee[i], knee[i + 1]
            den = a - 2 * b + c
            off = 0.5 * (a - c) / den if den != 0 else 0.0
            tp = t[i] + off * (t[i + 1] - t[i])
            if out and tp - out[-1] < 0.3:
                continue
            out.append(tp)
    return np.asarray(out)


@dataclass
class TrialResult:
    trial: str
    contacts: list[dict[str, object]] = field(default_factory=list)
    n_knee_strides: int = 0
    n_detected_strides: int = 0
    swings_missed: int = 0
    swings_doubled: int = 0
    msw_unmatched: int = 0
    trial_cadence_spm: float | None = None
    msw_latency_ms: list[float] = field(default_factory=list)
    trial_cadence_true_spm: float | None = None


def right_contacts(fp_path: Path, angles_t: np.ndarray, knee_r: np.ndarray, knee_l: np.ndarray) -> list[tuple[Contact, str]]:
    plates = read_forceplates(fp_path, WALKWAY_PLATES)
    out = []
    for plate in WALKWAY_PLATES:
        for c in plate_contacts(plates.t, plates.vertical[plate], plate):
            mid = 0.5 * (c.heel_strike + c.toe_off)
            side = contact_side(float(np.interp(mid, angles_t, knee_r)), float(np.interp(mid, angles_t, knee_l)))
            out.append((c, side))
    out.sort(key=lambda cs: cs[0].heel_strike)
    return out


def evaluate_trial(imu: Path, ik: Path, fp: Path, params: DetectorParams = DEFAULT_PARAMS) -> TrialResult:
    trial = read_camargo_trial(imu, ik)
    foot = trial.imus["calcn_r"]
    t, w = foot_sagittal_rate(foot.t, foot.gyro)
    assert trial.angles_t is not None
    angles = np.stack([np.interp(t, trial.angles_t, trial.angles[j]) for j in JOINTS_R], axis=1)
    run = run_stream(t, w, angles, params)
    knee_r, knee_l = trial.angles["knee_flexion_r"], trial.angles["knee_flexion_l"]
    peaks = _knee_peaks(trial.angles_t, knee_r)
    msw = np.asarray([e.t for e in run.events if e.type == "mid_swing"])
    res = TrialResult(trial=trial.name, n_knee_strides=len(peaks), n_detected_strides=len(msw))
    res.msw_latency_ms = [1e3 * (e.t_detected - e.t) for e in run.events if e.type == "mid_swing"]
    # Every IK swing (knee-flexion peak) should have exactly one mid-swing near it.
    near = [int(np.sum(np.abs(msw - p) <= SWING_MATCH_S)) for p in peaks]
    res.swings_missed = sum(n == 0 for n in near)
    res.swings_doubled = sum(n > 1 for n in near)
    res.msw_unmatched = int(sum(np.min(np.abs(peaks - m)) > SWING_MATCH_S for m in msw)) if peaks.size else len(msw)
    # Whole-trial cadence: the detector's strides against the IK knee cycles
    # over the same span (both count strides per minute of walking).
    # Over the longest run of back-to-back strides, so that a stride left out
    # (a pause, a turn on the spot) does not count as walking time.
    chain = _longest_chain(run.strides)
    # Detector: n strides over their span. Truth: the n IK knee-flexion peaks
    # inside that span (one per stride), n - 1 cycles between the first and
    # the last: a window about 0.7 stride shorter, its centre within 0.2
    # stride of the detector's, so a steady change of speed biases little.
    if len(chain) >= 3:
        t0, t1 = chain[0].t_start, chain[-1].t_end
        kp = peaks[(peaks >= t0) & (peaks <= t1)]
        if kp.size == len(chain):
            res.trial_cadence_spm = 120.0 * len(chain) / (t1 - t0)
            res.trial_cadence_true_spm = 120.0 * (kp.size - 1) / (kp[-1] - kp[0])
    hs = [e for e in run.events if e.type == "heel_strike"]
    to = [e for e in run.events if e.type == "toe_off"]
    for c, side in right_contacts(fp, trial.angles_t, knee_r, knee_l):
        mid = 0.5 * (c.heel_strike + c.toe_off)
        g = np.linalg.norm(foot.gyro[(foot.t >= c.heel_strike + 0.3 * (c.toe_off - c.heel_strike)) & (foot.t <= c.toe_off - 0.3 * (c.toe_off - c.heel_strike))], axis=1)
        row: dict[str, object] = {
            "plate": c.plate, "side": side, "hs": c.heel_strike, "to": c.toe_off,
            "foot_gyro_mid_rad_s": float(np.median(g)) if g.size else None,
        }
        if side != "right":
            res.contacts.append(row)
            continue
        hs_near = [e for e in hs if abs(e.t - c.heel_strike) <= MATCH_WINDOW_S]
        to_near = [e for e in to if abs(e.t - c.toe_off) <= MATCH_WINDOW_S]
        row["hs_detected"] = len(hs_near)
        row["to_detected"] = len(to_near)
        if hs_near:
            e = hs_near[0]
            row["hs_err_ms"] = 1e3 * (e.t - c.heel_strike)
            row["hs_latency_ms"] = 1e3 * (e.t_detected - e.t)
            row["hs_latency_vs_plate_ms"] = 1e3 * (e.t_detected - c.heel_strike)
        if to_near:
            e = to_near[0]
            row["to_err_ms"] = 1e3 * (e.t - c.toe_off)
            row["to_latency_ms"] = 1e3 * (e.t_detected - e.t)
            row["to_latency_vs_plate_ms"] = 1e3 * (e.t_detected - c.toe_off)
        # Truth stride: from the plate heel strike, as long as the IK knee cycle around it.
        before = peaks[peaks < c.heel_strike]
        after = peaks[peaks > c.heel_strike]
        if before.size and after.size and 0.5 <= after[0] - before[-1] <= 2.5:
            t_true = float(after[0] - before[-1])
            row["stride_true_s"] = t_true
            row["cadence_true_spm"] = 120.0 / t_true
            row["stance_true_pct"] = 100.0 * (c.toe_off - c.heel_strike) / t_true
            if hs_near:
                s = next((s for s in run.strides if s.t_start == hs_near[0].t), None)
                if s is not None:
                    row["cadence_err_spm"] = s.cadence_spm - 120.0 / t_true
                    if s.stance_pct is not None:
                        row["stance_err_pct"] = s.stance_pct - row["stance_true_pct"]  # type: ignore[operator]
            sel = (t >= c.heel_strike) & (t < c.heel_strike + t_true)
            true_phase = 100.0 * (t[sel] - c.heel_strike) / t_true
            est = run.phase[sel]
            known = np.isfinite(est)
            err = (est[known] - true_phase[known] + 50.0) % 100.0 - 50.0
            row["phase_sq_err_sum"] = float(np.sum(err**2))
            row["phase_n"] = int(known.sum())
            row["phase_unknown_n"] = int((~known).sum())
        res.contacts.append(row)
    return res


def _stats(xs: list[float]) -> dict[str, float | int | None]:
    if not xs:
        return {"n": 0, "median": None, "p95": None, "mean": None}
    a = np.abs(np.asarray(xs))
    return {"n": len(xs), "median": float(np.median(a)), "p95": float(np.percentile(a, 95)),
            "mean_signed": float(np.mean(xs)), "max": float(a.max())}


def _hs_pair_cadence(right: list[dict[str, object]]) -> dict[str, float | int | None]:
    """Cadence error implied by the plate-measured heel-strike errors.

    No two consecutive right heel strikes land on plates, so a stride's true
    duration is not measured directly. A detected stride's error is the
    difference of its two heel strikes' errors; drawing those from the
    measured errors (every ordered pair of distinct plate contacts) and
    dividing by the true stride time of the first gives the cadence error
    the detector's heel-strike accuracy allows: 120/T - 120/(T + e2 - e1)."""
    pairs = [(float(r["hs_err_ms"]) / 1e3, float(r["stride_true_s"])) for r in right if "hs_err_ms" in r and "stride_true_s" in r]
    errs = [120.0 / T - 120.0 / (T + e2 - e1) for i, (e1, T) in enumerate(pairs) for j, (e2, _) in enumerate(pairs) if i != j]
    return _stats(errs)


def summarize(results: list[TrialResult]) -> dict[str, object]:
    rows = [r for res in results for r in res.contacts]
    right = [r for r in rows if r["side"] == "right"]
    col = lambda k: [float(r[k]) for r in right if k in r]  # noqa: E731
    phase_sq = sum(float(r.get("phase_sq_err_sum", 0.0)) for r in right)
    phase_n = sum(int(r.get("phase_n", 0)) for r in right)
    return {
        "trials": len(results),
        "plate_contacts": len(rows),
        "right_contacts": len(right),
        "left_contacts": sum(r["side"] == "left" for r in rows),
        "undecided_contacts": sum(r["side"] == "undecided" for r in rows),
        "hs_missed": sum(r["hs_detected"] == 0 for r in right),
        "hs_doubled": sum(int(r["hs_detected"]) > 1 for r in right),  # type: ignore[call-overload]
        "to_missed": sum(r["to_detected"] == 0 for r in right),
        "to_doubled": sum(int(r["to_detected"]) > 1 for r in right),  # type: ignore[call-overload]
        "hs_error_ms": _stats(col("hs_err_ms")),
        "to_error_ms": _stats(col("to_err_ms")),
        "cadence_error_vs_knee_cycle_spm": _stats(col("cadence_err_spm")),
        "trial_cadence_error_spm": _stats([r.trial_cadence_spm - r.trial_cadence_true_spm for r in results if r.trial_cadence_spm is not None and r.trial_cadence_true_spm is not None]),
        "cadence_error_from_hs_errors_spm": _hs_pair_cadence(right),
        "stance_error_pct": _stats(col("stance_err_pct")),
        "phase_rmse_pct": float(np.sqrt(phase_sq / phase_n)) if phase_n else None,
        "phase_samples": phase_n,
        "phase_unknown_samples": sum(int(r.get("phase_unknown_n", 0)) for r in right),
        "hs_latency_ms": _stats(col("hs_latency_ms")),
        "to_latency_ms": _stats(col("to_latency_ms")),
        "msw_latency_ms": _stats([x for r in results for x in r.msw_latency_ms]),
        "hs_latency_vs_plate_ms": _stats(col("hs_latency_vs_plate_ms")),
        "to_latency_vs_plate_ms": _stats(col("to_latency_vs_plate_ms")),
        "knee_strides": sum(r.n_knee_strides for r in results),
        "detected_mid_swings": sum(r.n_detected_strides for r in results),
        "ik_swings_missed": sum(r.swings_missed for r in results),
        "ik_swings_doubled": sum(r.swings_doubled for r in results),
        "mid_swings_without_ik_swing": sum(r.msw_unmatched for r in results),
    }


def evaluate(data: Path, params: DetectorParams = DEFAULT_PARAMS, include: str = "*") -> dict[str, object]:
    trials_dir, fp_dir = data / "trials", data / "fp"
    results = []
    for fp in sorted(fp_dir.glob(f"{include}_fp.csv.gz")):
        name = fp.name.removesuffix("_fp.csv.gz")
        imu, ik = trials_dir / f"{name}_imu.csv.gz", trials_dir / f"{name}_ik.csv.gz"
        if imu.exists() and ik.exists():
            results.append(evaluate_trial(imu, ik, fp, params))
    if not results:
        raise FileNotFoundError(f"no trial with force plates under {data} (expected fp/<trial>_fp.csv.gz and trials/<trial>_imu.csv.gz, _ik.csv.gz)")
    return {
        "summary": summarize(results),
        "trials": [
            {"trial": r.trial, "contacts": r.contacts, "cadence_spm": r.trial_cadence_spm, "cadence_true_spm": r.trial_cadence_true_spm,
             "ik_swings": r.n_knee_strides, "mid_swings": r.n_detected_strides, "ik_swings_missed": r.swings_missed,
             "ik_swings_doubled": r.swings_doubled, "mid_swings_without_ik_swing": r.msw_unmatched}
            for r in results
        ],
    }
