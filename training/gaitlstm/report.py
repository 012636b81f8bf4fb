"""`make report`: Markdown with PNG plots of a model on its held-out trials.

Figures: per-joint RMSE of the int8/fp32 models beside the baselines,
held-out time series of estimate vs truth, and gait-cycle-averaged curves
with +-1 SD bands (as in the study's Fig. 4b).
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .contract import load_contract  # noqa: E402
from .dataset import Part, default_data_dir, keep_trials, load_trials, locate, realize, to_recordings, trial_names  # noqa: E402
from .evaluate import stream_predictions  # noqa: E402
from .limits import InputLimits  # noqa: E402
from .predict import onnx_predictor  # noqa: E402
from .metrics import gait_cycles, joint_metrics  # noqa: E402
from .paths import display_path  # noqa: E402

VARIANTS = ("int8", "fp32", "pytorch", "baseline_ridge", "baseline_mean")


def rmse_bars(manifest: dict, path: Path) -> None:
    m = manifest["metrics"]
    joints = [j["name"] for j in manifest["joints"]]
    variants = [v for v in VARIANTS if v in m]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(variants)
    for i, v in enumerate(variants):
        vals = [m[v]["joints"][j]["rmse_deg"] for j in joints]
        ax.bar(np.arange(len(joints)) + i * width, vals, width, label=f"{v} (mean {m[v]['mean_rmse_deg']:.2f})")
    ax.set_xticks(np.arange(len(joints)) + 0.4 - width / 2, joints, rotation=15)
    ax.set_ylabel("RMSE (deg)")
    ax.set_title("Held-out RMSE per joint")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def time_series(pred: np.ndarray, true: np.ndarray, joints: list[str], rate: float, title: str, path: Path, seconds: float = 8.0) -> None:
    n = min(len(true), int(seconds * rate))
    t = np.arange(n) / rate
    fig, axes = plt.subplots(len(joints), 1, figsize=(9, 1.8 * len(joints)), sharex=True)
    for j, ax in enumerate(np.atleast_1d(axes)):
        ax.plot(t, true[:n, j], "k", lw=1.2, label="mocap")
        ax.plot(t, pred[:n, j], "tab:red", lw=1.0, label="int8 LSTM")
        ax.set_ylabel(joints[j].replace("_", " "), fontsize=8)
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="upper right")
    np.atleast_1d(axes)[-1].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def cycle_average(segments: list[tuple[np.ndarray, np.ndarray]], joints: list[str], rate: float, path: Path) -> int:
    """Time-normalise every gait cycle to 101 points; mean +- SD of estimate and truth."""
    curves: dict[str, list[np.ndarray]] = {"pred": [], "true": []}
    for pred, true in segments:
        for a, b in gait_cycles(true[:, 0], rate):
            x = np.linspace(0, 1, b - a)
            for key, arr in (("pred", pred), ("true", true)):
                curves[key].append(np.stack([np.interp(np.linspace(0, 1, 101), x, arr[a:b, j]) for j in range(len(joints))], 1))
    if not curves["true"]:
        return 0
    fig, axes = plt.subplots(1, len(joints), figsize=(3 * len(joints), 3))
    pct = np.arange(101)
    for j, ax in enumerate(np.atleast_1d(axes)):
        for key, color, label in (("true", "k", "mocap"), ("pred", "tab:red", "int8 LSTM")):
            c = np.stack(curves[key])[:, :, j]
            ax.plot(pct, c.mean(0), color=color, label=label)
            ax.fill_between(pct, c.mean(0) - c.std(0), c.mean(0) + c.std(0), color=color, alpha=0.15)
        ax.set_title(joints[j].replace("_", " "), fontsize=9)
        ax.set_xlabel("% gait cycle")
    np.atleast_1d(axes)[0].set_ylabel("deg")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return len(curves["true"])


def listed_test_parts(provenance: dict) -> list[Part]:
    """The held-out recordings a manifest names: `test_set` (exact parts), else
    `test_trials` ("subject/trial" or, in older manifests, bare trial names)."""
    if provenance.get("test_set"):
        return [Part.from_dict(d) for d in provenance["test_set"]]
    parts = []
    for name in provenance.get("test_trials", []):
        subject, _, trial = name.rpartition("/")
        parts.append(Part(subject, trial))  # subject "" matches by trial name (dataset.locate)
    return parts


def pick_data(data: Path | None, provenance: dict) -> tuple[Path, str]:
    """The data folder and why it was chosen: the manifest's path is of the training machine."""
    if data is not None:
        return data, "given with --data"
    trained_on = provenance.get("data_dir")
    if trained_on and Path(trained_on).is_dir():
        return Path(trained_on), "the folder the model was trained on"
    return default_data_dir(), f"the default data folder; the manifest's `{trained_on}` is not on this machine"


def write_report(model: Path, data: Path | None, out: Path) -> Path:
    c = load_contract(model)
    man = c.manifest
    prov = man.get("provenance") or {}
    data, why = pick_data(data, prov)
    trials = load_trials(data, limits=InputLimits.from_manifest(c.manifest, str(model)))  # as the edge drops readings
    listed = listed_test_parts(prov)
    if listed:
        found, _missing = locate(trial_names(trials), listed)
    else:  # a manifest without a test list: its held-out pattern, whole trials
        held = prov.get("heldout") or "*"
        found = [Part(s, n) for s, ns in trial_names(trials).items() for n in ns if fnmatch.fnmatch(n, held)]
    if not found:
        names = ", ".join(p.label for p in listed[:4]) + (", ..." if len(listed) > 4 else "")
        raise ValueError(
            f"{data}: none of the {len(listed)} held-out trials listed in {model} ({names}) is in it; "
            "pass --data <a folder with them>"
        )
    recs = realize(to_recordings(keep_trials(trials, found), c.features, c.joints), found)
    predict = onnx_predictor(c.model_path)
    segments, names, n_windows = [], [], 0
    for r in recs:
        p, t, n = stream_predictions(r, c.features, predict)
        if n:
            segments.append((p, t))
            names.append(r.trial)
            n_windows += n
    if not segments:
        raise ValueError(f"{data}: the held-out trials found ({[p.label for p in found]}) are shorter than one window")
    out.mkdir(parents=True, exist_ok=True)
    joints = list(c.joints)
    rate = c.features.rate_hz
    rmse_bars(man, out / "rmse_per_joint.png")
    time_series(*segments[0], joints, rate, f"{names[0]} (held out)", out / "timeseries.png")
    n_cycles = cycle_average(segments, joints, rate, out / "gait_cycle.png")
    local = joint_metrics(segments, c.joints, rate)
    n_listed = len(listed) if listed else len(found)
    found_line = (
        f"{len(found)} of the {n_listed} held-out trials listed in the manifest (`provenance.test_set`/`test_trials`) "
        f"were found there: {', '.join(p.label for p in found)}."
    )
    m = man["metrics"]
    rows = ["| model | " + " | ".join(joints) + " | mean |", "|---" * (len(joints) + 2) + "|"]
    for v in (x for x in VARIANTS if x in m):
        rows.append(f"| {v} | " + " | ".join(f"{m[v]['joints'][j]['rmse_deg']:.2f}" for j in joints) + f" | **{m[v]['mean_rmse_deg']:.2f}** |")
    detail = ["| joint | RMSE (deg) | NRMSE | r (per cycle) |", "|---|---|---|---|"]
    for j in joints:
        e = m["int8"]["joints"][j]
        detail.append(f"| {j} | {e['rmse_deg']:.2f} | {e['nrmse']:.3f} | {e['r']:.3f} |")
    text = f"""# Model report: {man['name']} {man['version']}

Generated by `make report` from `{display_path(model)}`.
Data: `{display_path(data)}` ({why}). {found_line}
The RMSE tables are the manifest's (computed at export on all its held-out
trials); the figures and the local figures below are computed here on the
{len(found)} found.
Inputs: {', '.join(man['placements'])} IMUs; window {man['window']}, stride {man['stride']} at {man['sample_rate_hz']:g} Hz.
Trained in {prov.get('train_minutes')} min on {prov.get('train_device')} (seed {prov.get('seed')}, commit {prov.get('code_commit')}).

## Held-out RMSE (deg), published stream

{chr(10).join(rows)}

![RMSE per joint](rmse_per_joint.png)

## int8 model per joint (manifest: {m['int8']['n_windows']} windows on the {n_listed} listed trials)

{chr(10).join(detail)}

Computed here on the {len(found)} held-out trial(s) found: {n_windows} windows,
{n_cycles} gait cycles (heel strike to heel strike in true hip flexion), mean
RMSE {local['mean_rmse_deg']:.2f} deg (int8, published stream).

NRMSE is RMSE divided by the joint's range of motion in the held-out data; r is
Pearson's correlation averaged over gait cycles cut at heel strikes (peaks of
true hip flexion).

## Held-out time series

![time series](timeseries.png)

## Gait-cycle averages (mean +- 1 SD)

![gait cycle](gait_cycle.png)

## Export parity

```
{json.dumps(m.get('parity', {}), indent=2)}
```
"""
    (out / "README.md").write_text(text)
    return out / "README.md"
