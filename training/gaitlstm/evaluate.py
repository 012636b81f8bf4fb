"""Scoring a model on recordings exactly the way the edge publishes its angles.

`stream_predictions` runs any `predict(windows) -> angles` function (PyTorch
during training, onnxruntime for `make evaluate`) over a recording's windows at
the contract stride and keeps the published samples (docs/contract.md step 10).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .dataset import Recording
from .features import FeatureConfig, published_mask
from .metrics import joint_metrics

Predict = Callable[[np.ndarray], np.ndarray]


def stream_predictions(rec: Recording, cfg: FeatureConfig, predict: Predict, batch: int = 256) -> tuple[np.ndarray, np.ndarray, int]:
    """(pred, true, n_windows): the published stream of one recording."""
    x, y, starts = rec.windows(cfg)
    if len(starts) == 0:
        return np.zeros((0, y.shape[-1] if y.ndim == 3 else 0)), np.zeros((0, 0)), 0
    pred = np.concatenate([predict(x[i : i + batch]) for i in range(0, len(x), batch)])
    mask = published_mask(len(starts), cfg.window, cfg.stride)
    return pred[mask], y[mask], len(starts)


def score(recordings: list[Recording], cfg: FeatureConfig, predict: Predict, joints: tuple[str, ...]) -> dict:
    segments = []
    n_windows = 0
    for rec in recordings:
        p, t, n = stream_predictions(rec, cfg, predict)
        if n:
            segments.append((p, t))
            n_windows += n
    if not segments:
        raise ValueError("no full window in any recording: trials must be at least one window long")
    out = joint_metrics(segments, joints, cfg.rate_hz)
    out["n_windows"] = n_windows
    out["trials"] = [r.trial for r in recordings]
    return out


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
