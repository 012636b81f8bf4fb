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
from .dataset import default_data_dir, load_trials, to_recordings  # noqa: E402
from .evaluate import onnx_predictor, stream_predictions  # noqa: E402
from .metrics import gait_cycles  # noqa: E402

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


def write_report(model: Path, data: Path | None, out: Path) -> Path:
    c = load_contract(model)
    man = c.manifest
    data = data or Path(man["provenance"].get("data_dir") or default_data_dir())
    if not data.is_dir():
        data = default_data_dir()
    held = man["provenance"].get("heldout") or "*"
    trials = load_trials(data)
    recs = [r for rs in to_recordings(trials, c.features, c.joints).values() for r in rs if fnmatch.fnmatch(r.trial, held)]
    predict = onnx_predictor(c.model_path)
    segments = []
    for r in recs:
        p, t, n = stream_predictions(r, c.features, predict)
        if n:
            segments.append((p, t))
    out.mkdir(parents=True, exist_ok=True)
    joints = list(c.joints)
    rmse_bars(man, out / "rmse_per_joint.png")
    time_series(*segments[0], joints, c.features.rate_hz, f"{recs[0].trial} (held out)", out / "timeseries.png")
    n_cycles = cycle_average(segments, joints, c.features.rate_hz, out / "gait_cycle.png")

    m = man["metrics"]
    rows = ["| model | " + " | ".join(joints) + " | mean |", "|---" * (len(joints) + 2) + "|"]
    for v in (x for x in VARIANTS if x in m):
        rows.append(f"| {v} | " + " | ".join(f"{m[v]['joints'][j]['rmse_deg']:.2f}" for j in joints) + f" | **{m[v]['mean_rmse_deg']:.2f}** |")
    detail = ["| joint | RMSE (deg) | NRMSE | r (per cycle) |", "|---|---|---|---|"]
    for j in joints:
        e = m["int8"]["joints"][j]
        detail.append(f"| {j} | {e['rmse_deg']:.2f} | {e['nrmse']:.3f} | {e['r']:.3f} |")
    prov = man["provenance"]
    text = f"""# Model report: {man['name']} {man['version']}

Generated by `make report` from `{model}` on the held-out trials ({held}) of `{data}`.
Inputs: {', '.join(man['placements'])} IMUs; window {man['window']}, stride {man['stride']} at {man['sample_rate_hz']:g} Hz.
Trained in {prov.get('train_minutes')} min on {prov.get('train_device')} (seed {prov.get('seed')}, commit {prov.get('code_commit')}).

## Held-out RMSE (deg), published stream

{chr(10).join(rows)}

![RMSE per joint](rmse_per_joint.png)

## int8 model per joint ({m['int8']['n_windows']} windows, {n_cycles} gait cycles)

{chr(10).join(detail)}

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
