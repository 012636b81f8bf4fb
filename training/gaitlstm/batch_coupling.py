"""How much coupled batching changes a model's angles (the edge's
`inference.batching.mode: coupled`, docs/architecture.md "Batching across wearers").

Dynamic int8 quantization takes one activation scale over the whole input
tensor, so a window's output depends on the windows that share its call. Here
every held-out window is run alone (what the edge does by default) and inside
batches of B windows whose partners are drawn at random from all held-out
windows (other wearers walking at the same time), and the two are compared:
the largest and the 99th-percentile |difference| over every output value, and
the mean RMSE of the published stream scored either way.

    python -m gaitlstm.batch_coupling --model ../models/reduced-femur-calcn-lstm \\
        --data ../shared/data/camargo_ab06/trials --include '*_04_01' --json ../reports/batch-coupling.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .contract import load_contract
from .dataset import load_trials, to_recordings
from .evaluate import score
from .features import make_windows, window_starts
from .limits import InputLimits
from .predict import Predict


def coupled_batches(n: int, pool: int, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pure: for each of `n` windows, the pool indices of a batch of `batch`
    (its `batch - 1` partners drawn from the pool without replacement) and the
    slot the window itself takes. Returns (partners (n, batch) with -1 at the
    window's own slot, slots (n,))."""
    if batch < 1 or batch - 1 > pool:
        raise ValueError(f"batch {batch} needs {batch - 1} partners, the pool has {pool}")
    partners = np.empty((n, batch), dtype=np.int64)
    slots = rng.integers(0, batch, size=n)
    for i in range(n):
        others = rng.choice(pool, size=batch - 1, replace=False)
        partners[i] = np.insert(others, slots[i], -1)
    return partners, slots


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path, help="manifest.json or its folder")
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--include", default="*")
    ap.add_argument("--batches", default="8,32,128", help="comma-separated batch sizes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)

    import onnxruntime as ort

    c = load_contract(a.model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(c.model_path), so, providers=["CPUExecutionProvider"])
    name_in = sess.get_inputs()[0].name
    cfg = c.features
    trials = load_trials(a.data, include=a.include, limits=InputLimits.from_manifest(c.manifest, str(a.model)))
    recs = [r for rs in to_recordings(trials, cfg, c.joints, []).values() for r in rs]
    if not recs:
        raise SystemExit(f"{a.data}: no trial matches {a.include!r}")
    pool = np.concatenate([
        make_windows(r.grid.rows, window_starts(len(r.grid.t), cfg.window, cfg.stride), cfg.window, len(cfg.placements))
        for r in recs
    ]).astype(np.float32)

    def alone(x: np.ndarray) -> np.ndarray:
        return np.concatenate([sess.run(None, {name_in: x[i : i + 1].astype(np.float32)})[0] for i in range(len(x))])

    out: dict = {"model": {"name": c.manifest["name"], "version": c.manifest["version"], "quantization": c.manifest["model"]["quantization"]},
                 "include": a.include, "pool_windows": int(len(pool)), "seed": a.seed}
    base = score(recs, cfg, alone, c.joints)
    out["alone"] = {"mean_rmse_deg": base["mean_rmse_deg"], "joints": base["joints"]}
    rng = np.random.default_rng(a.seed)
    for b in [int(s) for s in a.batches.split(",")]:
        diffs: list[np.ndarray] = []

        def coupled(x: np.ndarray, b: int = b) -> np.ndarray:
            partners, slots = coupled_batches(len(x), len(pool), b, rng)
            ys = []
            for i in range(len(x)):
                batch = pool[np.maximum(partners[i], 0)].copy()
                batch[slots[i]] = x[i]
                y = sess.run(None, {name_in: batch})[0][slots[i]]
                ys.append(y)
            y = np.stack(ys)
            diffs.append(np.abs(y - alone(x)).ravel())
            return y

        s = score(recs, cfg, coupled, c.joints)
        d = np.concatenate(diffs)
        out[f"batch_{b}"] = {
            "max_abs_diff_deg": float(d.max()),
            "p99_abs_diff_deg": float(np.percentile(d, 99)),
            "mean_abs_diff_deg": float(d.mean()),
            "mean_rmse_deg": s["mean_rmse_deg"],
            "joints": s["joints"],
        }
        print(f"batch {b}: max |coupled - alone| {d.max():.3f} deg, p99 {np.percentile(d, 99):.3f}, mean {d.mean():.4f}; "
              f"mean RMSE {s['mean_rmse_deg']:.3f} deg (alone {base['mean_rmse_deg']:.3f})", flush=True)
    if a.json:
        a.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
