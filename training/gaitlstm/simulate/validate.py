"""Simulated vs recorded IMUs on AB06 (Camargo et al. 2021).

The sensors' poses on their segments were never measured (the model's
`*_imu` frames are placeholders), so each sensor's mounting is fitted on ONE
training trial and frozen for the others:

1. rotation: orthogonal Procrustes (Kabsch) of the simulated body-frame
   angular velocity onto the recorded gyro (rotation only, no scale);
2. offset: with the rotation fixed, the specific force at offset r is
   f(r) = f(0) + (alpha x + omega x omega x) r, linear in r: least squares.

Then every trial is simulated with those mounts and scored per channel
(Pearson r, RMSE) on the shared `time` column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scipy.optimize import linear_sum_assignment

from ..io.camargo import read_camargo_trial
from ..io.discover import find_camargo_trials
from ..io.types import G
from ..paths import display_path
from .imu import CAMARGO_MOUNTS, SENSOR_BODIES, Mount, simulate_imus
from .kinematics import Motion, read_coordinates
from .osim import OsimModel, load_osim

SENSORS = ("thigh", "shank", "foot", "trunk")
AXES = ("X", "Y", "Z")
QUANTITIES = ("gyro", "acc")
MAX_LAG_S = 0.1


@dataclass
class Pair:
    """One trial: simulated and recorded signals on the same clock, sensor frame."""

    trial: str
    t: np.ndarray
    sim: dict[str, dict[str, np.ndarray]]  # sensor -> quantity -> (N,3)
    real: dict[str, dict[str, np.ndarray]]


@dataclass
class FittedMount:
    sensor: str
    mount: Mount
    sagittal_axis: str  # sensor axis closest to the body's z (medio-lateral) axis
    sagittal_sign: float
    rounded_deg: float  # angle between the fit and the rounded CAMARGO_MOUNTS preset


@dataclass
class Scores:
    r: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (sensor, quantity) -> (3,)
    rmse: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)


def procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Orthogonal M (det +1 or -1) minimising sum |target_k - M source_k|^2."""
    U, _, Vt = np.linalg.svd(source.T @ target)
    return Vt.T @ U.T


def split_mount(M_gyro: np.ndarray, M_acc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channel maps (recorded = M @ body vector) -> (R_BS proper, acc_signs, gyro_axes).

    Both maps come from one sensor, so M_acc = P M_gyro with P a signed
    permutation; only P is taken from the noisier accelerometer fit. The
    accelerometer (gravity: an absolute reference) defines the sensor axes;
    when its frame is mirrored, its Z label is the one flipped (an arbitrary,
    documented choice).
    """
    E = M_acc @ M_gyro.T
    rows, cols = linear_sum_assignment(-np.abs(E))
    P = np.zeros((3, 3))
    P[rows, cols] = np.sign(E[rows, cols])
    A = P @ M_gyro  # the accelerometer's channel map
    acc_signs = np.ones(3)
    if np.linalg.det(A) < 0:
        acc_signs[2] = -1.0
    R_BS = (acc_signs[:, None] * A).T
    gyro_axes = P.T * acc_signs[None, :]  # M_gyro = gyro_axes @ R_BS^T
    return R_BS, acc_signs, gyro_axes


def axes_label(P: np.ndarray) -> str:
    """A signed permutation as the sensor axes each channel reads, e.g. `-x -y +z`."""
    return " ".join(("+" if P[i, int(np.argmax(np.abs(P[i])))] > 0 else "-") + "xyz"[int(np.argmax(np.abs(P[i])))] for i in range(3))


def fit_offset(mount: Mount, t: np.ndarray, gyro_B: np.ndarray, acc_B0: np.ndarray, real_acc: np.ndarray) -> np.ndarray:
    """Sensor origin r in the body frame from f_real = signs * R_BS^T (f(0) + (alpha x + omega x omega x) r)."""
    alpha = np.gradient(gyro_B, t, axis=0)
    wx = _skew(gyro_B)
    K = _skew(alpha) + wx @ wx
    rhs = (real_acc * mount.acc_signs) @ mount.R_BS.T - acc_B0  # recorded, in body axes
    r, *_ = np.linalg.lstsq(K.reshape(-1, 3), rhs.reshape(-1), rcond=None)
    return r


def _skew(v: np.ndarray) -> np.ndarray:
    z = np.zeros(len(v))
    return np.stack(
        [np.stack([z, -v[:, 2], v[:, 1]], 1), np.stack([v[:, 2], z, -v[:, 0]], 1), np.stack([-v[:, 1], v[:, 0], z], 1)], 1
    )


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


def best_lag(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Delay (s) of `b` relative to `a` maximising their correlation, within +-MAX_LAG_S."""
    dt = float(np.median(np.diff(t)))
    k = int(round(MAX_LAG_S / dt))
    a = (a - a.mean()) / a.std()
    b = (b - b.mean()) / b.std()
    lags = np.arange(-k, k + 1)
    c = [np.mean(a[max(0, -L) : len(a) - max(0, L)] * b[max(0, L) : len(b) - max(0, -L)]) for L in lags]
    # |c|: a trial whose channel sign differs from the fitted mount still has a lag.
    return float(lags[int(np.argmax(np.abs(c)))] * dt)


def simulate_pair(
    model: OsimModel, imu_path: Path, ik_path: Path, mounts: dict[str, Mount], lowpass_hz: float | None
) -> Pair:
    coords = read_coordinates(ik_path, model)
    motion = Motion(coords, lowpass_hz)
    t = coords.t[1:-1]  # the differences reach 0.1 ms outside each instant
    sims = simulate_imus(model, motion, mounts, t)
    recorded = read_camargo_trial(imu_path)
    real: dict[str, dict[str, np.ndarray]] = {}
    for s in mounts:
        stream = recorded.imus[SENSOR_BODIES[s]]
        real[s] = {
            "gyro": np.stack([np.interp(t, stream.t, stream.gyro[:, k]) for k in range(3)], 1),
            "acc": np.stack([np.interp(t, stream.t, stream.acc[:, k]) for k in range(3)], 1),
        }
    sim = {s: {"gyro": v.gyro, "acc": v.acc} for s, v in sims.items()}
    return Pair(recorded.name, t, sim, real)


def fit_mounts(model: OsimModel, imu_path: Path, ik_path: Path, lowpass_hz: float | None) -> dict[str, FittedMount]:
    bare = {s: Mount(body=SENSOR_BODIES[s]) for s in SENSORS}
    return fit_mounts_on(simulate_pair(model, imu_path, ik_path, bare, lowpass_hz))


def rotation_angle_deg(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(A.T @ B) - 1) / 2, -1.0, 1.0))))


def fit_mounts_on(pair: Pair) -> dict[str, FittedMount]:
    """Mounts from a pair simulated with bare mounts (body origin, body axes)."""
    out = {}
    for s in SENSORS:
        sim, real = pair.sim[s], pair.real[s]
        M_gyro = procrustes(sim["gyro"], real["gyro"])
        R_BS, acc_signs, gyro_axes = split_mount(M_gyro, procrustes(sim["acc"], real["acc"]))
        mount = Mount(body=SENSOR_BODIES[s], R_BS=R_BS, acc_signs=acc_signs, gyro_axes=gyro_axes)
        mount.p_BS = fit_offset(mount, pair.t, sim["gyro"], sim["acc"], real["acc"])
        k = int(np.argmax(np.abs(M_gyro[:, 2])))  # the gyro channel that reads rotation about body z
        out[s] = FittedMount(
            s, mount, AXES[k], float(np.sign(M_gyro[k, 2])), rotation_angle_deg(CAMARGO_MOUNTS[s].R_BS, R_BS)
        )
    return out


def score(pair: Pair) -> Scores:
    sc = Scores()
    for s in pair.sim:
        for q in QUANTITIES:
            a, b = pair.sim[s][q], pair.real[s][q]
            sc.r[(s, q)] = pearson(a, b)
            sc.rmse[(s, q)] = np.sqrt(np.mean((a - b) ** 2, axis=0))
    return sc


@dataclass
class Validation:
    train_trial: str
    lowpass_hz: float | None
    mounts: dict[str, FittedMount]
    trials: list[str]
    scores: list[Scores]
    lags: dict[str, list[float]]  # sensor -> per-trial lag of the recorded sagittal gyro
    example: Pair
    refit: list[Scores]  # each test trial scored with mounts refitted on itself (upper bound)
    refit_change: list[dict[str, tuple[float, bool]]]  # per trial, sensor -> (deg from the frozen mount, same channel signs)
    lowpass_sweep: dict[str, dict[tuple[str, str], np.ndarray]]  # cutoff label -> mean r per (sensor, quantity)


def run_validation(
    data_dir: str | Path,
    train_trial: str = "levelground_ccw_normal_03_01",
    lowpass_hz: float | None = 15.0,
    sweep: tuple[float | None, ...] = (6.0, 10.0, 15.0, 25.0, None),
    max_trials: int | None = None,
) -> Validation:
    data_dir = Path(data_dir)
    model_path = data_dir / "model" / "final_with_imu.osim"
    trial_dir = data_dir / "trials" if (data_dir / "trials").is_dir() else data_dir
    model = load_osim(model_path)
    found = [(n, imu, ik) for n, imu, ik in find_camargo_trials(trial_dir) if ik is not None]
    by_name = {n: (imu, ik) for n, imu, ik in found}
    if train_trial not in by_name:
        raise FileNotFoundError(f"{trial_dir}: no trial {train_trial!r} with an _ik file (have {sorted(by_name)[:4]}...)")
    mounts = fit_mounts(model, *by_name[train_trial], lowpass_hz)
    fitted = {s: m.mount for s, m in mounts.items()}
    tests = [n for n, _, _ in found if n != train_trial][:max_trials]
    scores, lags, example = [], {s: [] for s in SENSORS}, None
    refit, refit_change = [], []
    bare = {s: Mount(body=SENSOR_BODIES[s]) for s in SENSORS}
    for name in tests:
        pair = simulate_pair(model, *by_name[name], fitted, lowpass_hz)
        scores.append(score(pair))
        own = fit_mounts_on(simulate_pair(model, *by_name[name], bare, lowpass_hz))
        refit.append(score(simulate_pair(model, *by_name[name], {s: f.mount for s, f in own.items()}, lowpass_hz)))
        refit_change.append(
            {
                s: (
                    rotation_angle_deg(mounts[s].mount.R_BS, own[s].mount.R_BS),
                    bool(np.all(own[s].mount.gyro_axes == mounts[s].mount.gyro_axes)
                         and np.all(own[s].mount.acc_signs == mounts[s].mount.acc_signs)),
                )
                for s in SENSORS
            }
        )
        for s in SENSORS:
            k = AXES.index(mounts[s].sagittal_axis)
            lags[s].append(best_lag(pair.t, pair.sim[s]["gyro"][:, k], pair.real[s]["gyro"][:, k]))
        if example is None:
            example = pair
    # How the coordinate filter trades noise against impact content (a few trials are enough).
    sweep_out: dict[str, dict[tuple[str, str], np.ndarray]] = {}
    for cutoff in sweep:
        label = "none" if cutoff is None else f"{cutoff:g} Hz"
        rs = [score(simulate_pair(model, *by_name[n], fitted, cutoff)) for n in tests[:4]]
        sweep_out[label] = {key: np.mean([r.r[key] for r in rs], axis=0) for key in rs[0].r}
    assert example is not None
    return Validation(train_trial, lowpass_hz, mounts, tests, scores, lags, example, refit, refit_change, sweep_out)


# --------------------------------------------------------------------------- report


def write_report(v: Validation, out_dir: str | Path, data_dir: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    mean_r = {k: np.mean([s.r[k] for s in v.scores], axis=0) for k in v.scores[0].r}
    min_r = {k: np.min([s.r[k] for s in v.scores], axis=0) for k in v.scores[0].r}
    std_r = {k: np.std([s.r[k] for s in v.scores], axis=0) for k in v.scores[0].r}
    mean_rmse = {k: np.mean([s.rmse[k] for s in v.scores], axis=0) for k in v.scores[0].rmse}

    # Overlay: 4 s from the middle of the first test trial (the ends are standing still).
    p = v.example
    t0 = p.t[len(p.t) // 2] - 2.0
    sel = (p.t >= t0) & (p.t < t0 + 4.0)
    fig, axes = plt.subplots(2 * len(SENSORS), 3, figsize=(13, 2.3 * 2 * len(SENSORS)), sharex=True)
    for i, s in enumerate(SENSORS):
        for j, q in enumerate(QUANTITIES):
            for k in range(3):
                ax = axes[2 * i + j, k]
                scale = 1.0 if q == "gyro" else 1.0 / G
                ax.plot(p.t[sel], p.real[s][q][sel, k] * scale, color="k", lw=1.0, label="recorded")
                ax.plot(p.t[sel], p.sim[s][q][sel, k] * scale, color="tab:orange", lw=1.0, label="simulated")
                unit = "rad/s" if q == "gyro" else "g"
                ax.set_title(f"{s} {q} {AXES[k]}  r={pearson(p.sim[s][q][:, k], p.real[s][q][:, k]):.2f}", fontsize=9)
                if k == 0:
                    ax.set_ylabel(unit)
    axes[0, 0].legend(fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.suptitle(f"AB06 {p.trial}: recorded vs simulated (mount fitted on {v.train_trial})")
    fig.tight_layout()
    fig.savefig(out / "overlay.png", dpi=90)
    plt.close(fig)

    # Bars: mean correlation and RMSE per channel over the test trials.
    labels = [f"{s}\n{q} {a}" for s in SENSORS for q in QUANTITIES for a in AXES]
    r_vals = [mean_r[(s, q)][k] for s in SENSORS for q in QUANTITIES for k in range(3)]
    r_err = [std_r[(s, q)][k] for s in SENSORS for q in QUANTITIES for k in range(3)]
    colors = ["tab:blue" if q == "gyro" else "tab:green" for s in SENSORS for q in QUANTITIES for _ in AXES]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(14, 8))
    a1.bar(range(len(labels)), r_vals, yerr=r_err, color=colors)
    a1.axhline(0.9, color="r", ls="--", lw=1, label="bar 0.9 (sagittal gyro)")
    a1.set_ylabel("Pearson r")
    a1.set_ylim(min(0.0, min(r_vals) - 0.05), 1.0)
    a1.set_xticks(range(len(labels)), labels, fontsize=7)
    a1.legend(fontsize=8)
    a1.set_title(f"mean over {len(v.trials)} test trials (error bar: std)")
    rm = [mean_rmse[(s, q)][k] * (1.0 if q == "gyro" else 1.0 / G) for s in SENSORS for q in QUANTITIES for k in range(3)]
    a2.bar(range(len(labels)), rm, color=colors)
    a2.set_ylabel("RMSE (gyro rad/s, acc g)")
    a2.set_xticks(range(len(labels)), labels, fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "channels.png", dpi=90)
    plt.close(fig)

    L: list[str] = []
    L.append("# IMU simulator vs AB06's recorded IMUs\n")
    L.append(
        f"Written by `python -m gaitlstm.simulate validate --data {display_path(data_dir)} --out {display_path(out)}`. "
        "Method and limits: docs/simulator.md.\n"
    )
    L.append(
        f"- Model: `model/final_with_imu.osim` (AddBiomechanics); kinematics: the trials' `_ik` coordinates, "
        f"low-passed at {v.lowpass_hz if v.lowpass_hz is not None else 'no'} Hz (4th-order Butterworth, zero phase), cubic spline.\n"
        f"- Mounts fitted on `{v.train_trial}` only (gyro Procrustes + accel offset least squares), "
        f"scored on the other {len(v.trials)} trials (\"frozen\"); no bias removal. \"Refit\" re-fits "
        "the mount on each test trial itself: an upper bound that separates simulator error from a sensor that was re-strapped.\n"
        "- Signals compared on the shared `time` column at 200 Hz, in each sensor's own frame.\n"
    )
    L.append("\n## Fitted mounts (sensor axes in body coordinates: body x forward, y up, z right)\n")
    L.append("| sensor | body | sensor x | sensor y | sensor z | acc signs | gyro channels read | sagittal gyro channel | offset r (cm) | off preset (deg) |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for s, f in v.mounts.items():
        m = f.mount
        cols = [" ".join(f"{c:+.2f}" for c in m.R_BS[:, k]) for k in range(3)]
        sign = "+" if f.sagittal_sign > 0 else "-"
        signs = lambda v: " ".join("+" if x > 0 else "-" for x in v)  # noqa: E731
        L.append(
            f"| {s} | {m.body} | {cols[0]} | {cols[1]} | {cols[2]} | {signs(m.acc_signs)} | {axes_label(m.gyro_axes)} | "
            f"{sign}{f.sagittal_axis} | {' '.join(f'{100 * c:+.1f}' for c in m.p_BS)} | {f.rounded_deg:.1f} |"
        )
    L.append("\n## Correlation and RMSE per channel (mean over test trials; min r in brackets)\n")
    L.append("| sensor | quantity | r X | r Y | r Z | RMSE X | RMSE Y | RMSE Z | unit |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for s in SENSORS:
        for q in QUANTITIES:
            scale, unit = (1.0, "rad/s") if q == "gyro" else (1.0 / G, "g")
            rs = " | ".join(f"{mean_r[(s, q)][k]:.3f} ({min_r[(s, q)][k]:.2f})" for k in range(3))
            es = " | ".join(f"{mean_rmse[(s, q)][k] * scale:.3f}" for k in range(3))
            L.append(f"| {s} | {q} | {rs} | {es} | {unit} |")
    L.append("\n## The bar: sagittal gyro correlation >= 0.9\n")
    refit_mean = {k: np.mean([s.r[k] for s in v.refit], axis=0) for k in v.refit[0].r}
    refit_min = {k: np.min([s.r[k] for s in v.refit], axis=0) for k in v.refit[0].r}
    L.append("| sensor | axis | frozen mean r | frozen min r | refit mean r | refit min r | verdict (frozen mean) |")
    L.append("|---|---|---|---|---|---|---|")
    for s, m in v.mounts.items():
        k = AXES.index(m.sagittal_axis)
        mr, lo = mean_r[(s, "gyro")][k], min_r[(s, "gyro")][k]
        L.append(
            f"| {s} | {m.sagittal_axis} | {mr:.3f} | {lo:.3f} | {refit_mean[(s, 'gyro')][k]:.3f} | "
            f"{refit_min[(s, 'gyro')][k]:.3f} | {'pass' if mr >= 0.9 else 'FAIL'} |"
        )
    L.append("\nRefit, all channels (mean r over test trials):\n")
    L.append("| sensor | gyro X | gyro Y | gyro Z | acc X | acc Y | acc Z |")
    L.append("|---|---|---|---|---|---|---|")
    for s in SENSORS:
        L.append(f"| {s} | " + " | ".join(f"{refit_mean[(s, q)][k]:.3f}" for q in QUANTITIES for k in range(3)) + " |")
    L.append("\n## Time alignment\n")
    L.append(
        "Lag of the recorded sagittal gyro behind the simulated one that maximises their correlation "
        f"(searched within +-{MAX_LAG_S * 1000:.0f} ms, 5 ms steps):\n"
    )
    for s in SENSORS:
        lags = np.array(v.lags[s]) * 1000
        L.append(f"- {s}: median {np.median(lags):+.0f} ms, range {lags.min():+.0f}..{lags.max():+.0f} ms")
    L.append("\n## Coordinate low-pass cutoff (mean r, first 4 test trials)\n")
    L.append("| cutoff | " + " | ".join(f"{s} gyro {v.mounts[s].sagittal_axis}" for s in SENSORS) + " | " + " | ".join(f"{s} acc |r| mean" for s in SENSORS) + " |")
    L.append("|---" * (1 + 2 * len(SENSORS)) + "|")
    for label, rr in v.lowpass_sweep.items():
        g = " | ".join(f"{rr[(s, 'gyro')][AXES.index(v.mounts[s].sagittal_axis)]:.3f}" for s in SENSORS)
        a = " | ".join(f"{np.mean(rr[(s, 'acc')]):.3f}" for s in SENSORS)
        L.append(f"| {label} | {g} | {a} |")
    L.append("\n## Per trial: sagittal gyro r, frozen / refit (refit mount's angle from the frozen one; * = other channel signs)\n")
    L.append("| trial | " + " | ".join(SENSORS) + " |")
    L.append("|---" * (1 + len(SENSORS)) + "|")
    for name, sc, rf, ch in zip(v.trials, v.scores, v.refit, v.refit_change):
        cells = []
        for s in SENSORS:
            k = AXES.index(v.mounts[s].sagittal_axis)
            deg, same = ch[s]
            cells.append(f"{sc.r[(s, 'gyro')][k]:.3f} / {rf.r[(s, 'gyro')][k]:.3f} ({deg:.0f} deg{'' if same else '*'})")
        L.append(f"| {name} | " + " | ".join(cells) + " |")
    L.append("\n![overlay](overlay.png)\n\n![channels](channels.png)\n")
    path = out / "README.md"
    path.write_text("\n".join(L) + "\n", encoding="utf-8")
    return path
