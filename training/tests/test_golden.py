"""The Python half of the parity test: every exported model under models/ must
reproduce its own golden vectors here, on this machine, with the training
side's feature pipeline and onnxruntime. test/features/golden.test.ts holds the
edge (TypeScript) to the same vectors and tolerances.

An int8 model that fails here while its fp32 twin passes means the int8
kernels compute differently on this CPU than where the model was exported
(see export.quantize_int8): the golden vectors would then not prove anything
on a device either.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from conftest import REPO
from gaitlstm.contract import load_contract
from gaitlstm.features import grid_features, make_windows, window_starts

MODEL_DIRS = sorted(p.parent for p in (REPO / "models").glob("*/golden.json") if (p.parent / "manifest.json").is_file())


def test_there_are_golden_vectors() -> None:
    assert MODEL_DIRS, f"no models/*/golden.json under {REPO / 'models'}"


def _golden(d: Path) -> dict:
    return json.loads((d / "golden.json").read_text())


@pytest.mark.parametrize("model_dir", MODEL_DIRS, ids=lambda d: d.name)
def test_features_from_raw_reproduce_the_golden_features(model_dir: Path) -> None:
    c = load_contract(model_dir)
    g = _golden(model_dir)
    streams = {p: (np.array(v["t"]), np.array(v["acc"]), np.array(v["gyro"])) for p, v in g["raw"].items()}
    grid = grid_features(streams, c.features)
    np.testing.assert_allclose(grid.t, g["grid_t"], atol=1e-9, err_msg="grid times (resampler)")
    x = make_windows(grid.rows, window_starts(len(grid.t), c.features.window, c.features.stride),
                     c.features.window, len(c.features.placements))
    np.testing.assert_allclose(x, np.array(g["features"]), atol=g["tolerance"]["features_abs"], rtol=0)


@pytest.mark.parametrize("model_dir", MODEL_DIRS, ids=lambda d: d.name)
@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_onnx_files_reproduce_the_golden_outputs_one_window_per_run(model_dir: Path, variant: str) -> None:
    man = json.loads((model_dir / "manifest.json").read_text())
    g = _golden(model_dir)
    files = {k: v["file"] for k, v in man.get("variants", {}).items()}
    files.setdefault("int8", man["model"]["file"])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model_dir / files[variant]), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.array(g["features"], dtype=np.float32)
    y = np.stack([sess.run(None, {name: x[k:k + 1]})[0][0] for k in range(len(x))])  # as the edge runs it
    expected = np.array(g["outputs"][variant])
    worst = np.unravel_index(np.argmax(np.abs(y - expected)), y.shape)
    tol = g["tolerance"]["outputs_abs_deg"][variant]
    assert np.abs(y - expected).max() <= tol, (
        f"{model_dir.name} {variant}: max |diff| {np.abs(y - expected).max():.3f} deg at window {worst[0]}, "
        f"row {worst[1]}, joint {worst[2]} (tolerance {tol})")
