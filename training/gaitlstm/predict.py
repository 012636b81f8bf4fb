"""Models as `predict(windows) -> angles`, and the stream the edge publishes from them.

A predictor is a function from feature windows (n, window, features) to
angles (n, window, joints) in degrees: PyTorch during training, onnxruntime
for exported files. `published_stream` runs one over a recording's windows at
the contract stride and keeps the samples the edge publishes (docs/contract.md
step 10): all of window 0, then the last `stride` of every later window. Every
score (train, evaluate, export, report, the study) is computed on that stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import Checkpoint
from .contract import load_contract
from .dataset import load_trials, trial_streams
from .features import FeatureConfig, GridFeatures, grid_features, make_windows, published_mask, window_starts
from .limits import PRODUCT_LIMITS, InputLimits

Predict = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------- predictors


def torch_predictor(model: nn.Module, dev: torch.device) -> Predict:
    def predict(x: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return model(torch.from_numpy(x).to(dev)).cpu().numpy()

    return predict


def onnx_predictor(model_path: Path) -> Predict:
    """Run an exported model exactly as the edge does: one window per call, one thread.

    Dynamic int8 quantization picks each call's activation range over the whole
    batch, and onnxruntime's int8 kernels round differently with more threads,
    so batched or multi-threaded scores would not be the device's scores.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    name_in = sess.get_inputs()[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        return np.concatenate([sess.run(None, {name_in: x[i : i + 1]})[0] for i in range(len(x))])

    return predict


@dataclass
class Stream:
    """The published samples of one recording: grid times, angles and, when the
    recording has them, the true angles at the same samples."""

    t: np.ndarray  # (n,) s
    pred: np.ndarray  # (n, joints) deg
    true: np.ndarray | None  # (n, joints) deg
    n_windows: int


def published_stream(
    grid: GridFeatures, fc: FeatureConfig, predict: Predict, targets: np.ndarray | None = None, batch: int = 256
) -> Stream:
    """`predict` over every contract window of `grid`; the samples the edge publishes."""
    starts = window_starts(len(grid.t), fc.window, fc.stride)
    idx = starts[:, None] + np.arange(fc.window)[None, :]
    true = None if targets is None else targets[idx].astype(np.float32)
    if len(starts) == 0:
        return Stream(np.zeros(0), np.zeros((0, 0)), None if targets is None else np.zeros((0, targets.shape[-1])), 0)
    x = make_windows(grid.rows, starts, fc.window, len(fc.placements)).astype(np.float32)
    pred = np.concatenate([predict(x[i : i + batch]) for i in range(0, len(x), batch)])
    mask = published_mask(len(starts), fc.window, fc.stride)
    return Stream(grid.t[idx][mask], pred[mask], None if true is None else true[mask], len(starts))


# ---------------------------------------------------------------- a model from disk


@dataclass
class LoadedModel:
    """What running a model needs: its predictor and the contract it was trained under."""

    name: str
    version: str
    file: Path  # the weights actually run
    predict: Predict
    features: FeatureConfig
    joints: tuple[str, ...]
    limits: InputLimits


def load_predictor(path: str | Path) -> LoadedModel:
    """A manifest.json, its folder or an .onnx file (onnxruntime, as the edge runs it),
    or a training checkpoint (`*.pt`, PyTorch on the CPU; the product's input limits)."""
    path = Path(path)
    if path.suffix == ".pt":
        ck = Checkpoint.load(path)
        model = torch_predictor(ck.model(), torch.device("cpu"))
        return LoadedModel(path.parent.name, "checkpoint", path, model, ck.feature_config, tuple(ck.config.joints), PRODUCT_LIMITS)
    c = load_contract(path)
    limits = InputLimits.from_manifest(c.manifest, str(path))
    return LoadedModel(c.manifest["name"], c.manifest["version"], c.model_path, onnx_predictor(c.model_path), c.features, c.joints, limits)


# ---------------------------------------------------------------- `gaitlstm predict`


def mot_text(name: str, t: np.ndarray, angles: np.ndarray, joints: tuple[str, ...]) -> str:
    """An OpenSim motion table (degrees) of the published stream. The columns keep the
    project's names and signs (knee flexion positive), not OpenSim's `knee_angle_r`:
    a reader cannot mistake one convention for the other."""
    header = [name, "version=1", f"nRows={len(t)}", f"nColumns={len(joints) + 1}", "inDegrees=yes",
              "# gaitlstm predict: joint angles in the project's sign convention (docs/contract.md)", "endheader",
              "\t".join(("time", *joints))]
    rows = ["\t".join([f"{ti:.6f}", *(f"{v:.6f}" for v in row)]) for ti, row in zip(t, angles)]
    return "\n".join(header + rows) + "\n"


def predict_folder(model: str | Path, data: str | Path, out: str | Path, include: str = "*") -> list[dict]:
    """A model's published angles for every trial of a folder (Camargo or Xsens; no
    reference angles needed), one `<out>/<trial>_angles.mot` each. Returns one
    summary per trial."""
    m = load_predictor(model)
    trials = load_trials(Path(data), include=include, limits=m.limits)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for subject, ts in trials.items():
        for trial in ts:
            try:
                grid = grid_features(trial_streams(trial, m.features.placements), m.features)
            except ValueError as e:
                raise ValueError(f"{trial.source}: {e}") from e
            s = published_stream(grid, m.features, m.predict)
            if s.n_windows == 0:
                raise ValueError(f"{trial.source}: {len(grid.t)} grid samples, fewer than one window ({m.features.window})")
            path = out / f"{trial.name}_angles.mot"
            path.write_text(mot_text(trial.name, s.t, s.pred, m.joints))
            done.append({"subject": subject, "trial": trial.name, "file": str(path), "samples": len(s.t),
                         "windows": s.n_windows, "notes": list(trial.notes)})
    return done
