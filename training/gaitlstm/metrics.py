"""Per-joint accuracy metrics of the study: RMSE, NRMSE and Pearson r per gait cycle."""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - true) ** 2)))


def nrmse(pred: np.ndarray, true: np.ndarray) -> float:
    """RMSE divided by the joint's range of motion in the test data."""
    rom = float(np.max(true) - np.min(true))
    return rmse(pred, true) / rom if rom > 0 else float("nan")


def gait_cycles(hip_flexion: np.ndarray, rate_hz: float, min_cycle_s: float = 0.7) -> list[tuple[int, int]]:
    """Cycle boundaries (start, end) cut at heel strikes.

    Heel strike is taken at the peaks of true hip flexion, which in level
    walking occur within a few percent of the gait cycle of initial contact and
    are far more robust to find than a foot-IMU impact across speeds.
    """
    x = np.asarray(hip_flexion, dtype=float)
    if x.size < 3:
        return []
    prom = max(0.3 * float(np.ptp(x)), 1e-6)
    peaks, _ = find_peaks(x, distance=max(1, int(min_cycle_s * rate_hz)), prominence=prom)
    return [(int(a), int(b)) for a, b in zip(peaks[:-1], peaks[1:]) if b - a < 2.5 * rate_hz]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")  # a constant signal (e.g. the mean baseline) has no correlation
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.corrcoef(a, b)[0, 1])


def cycle_r(pred: np.ndarray, true: np.ndarray, cycles: list[tuple[int, int]]) -> float:
    """Mean Pearson r over gait cycles (over the whole signal when no cycle was found)."""
    rs = [pearson(pred[a:b], true[a:b]) for a, b in cycles]
    rs = [r for r in rs if np.isfinite(r)]
    return float(np.mean(rs)) if rs else pearson(pred, true)


def joint_metrics(
    segments: list[tuple[np.ndarray, np.ndarray]], joints: tuple[str, ...], rate_hz: float, hip_index: int = 0
) -> dict:
    """segments: (pred, true) arrays (N, n_joints) of contiguous published samples, one per trial.

    RMSE and NRMSE pool every sample; r is averaged over the gait cycles of all segments.
    """
    pred = np.concatenate([p for p, _ in segments])
    true = np.concatenate([t for _, t in segments])
    cycles_per_seg = [gait_cycles(t[:, hip_index], rate_hz) for _, t in segments]
    out: dict = {"joints": {}, "n_samples": int(true.shape[0]), "n_cycles": int(sum(map(len, cycles_per_seg)))}
    for j, name in enumerate(joints):
        rs = []
        for (p, t), cyc in zip(segments, cycles_per_seg):
            rs += [pearson(p[a:b, j], t[a:b, j]) for a, b in cyc]
        rs = [r for r in rs if np.isfinite(r)]
        out["joints"][name] = {
            "rmse_deg": rmse(pred[:, j], true[:, j]),
            "nrmse": nrmse(pred[:, j], true[:, j]),
            "r": float(np.mean(rs)) if rs else pearson(pred[:, j], true[:, j]),
        }
    out["mean_rmse_deg"] = float(np.mean([v["rmse_deg"] for v in out["joints"].values()]))
    out["mean_nrmse"] = float(np.mean([v["nrmse"] for v in out["joints"].values()]))
    out["mean_r"] = float(np.mean([v["r"] for v in out["joints"].values()]))
    return out
