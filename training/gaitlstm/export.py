"""Export a checkpoint to the model contract: fp32 ONNX, int8 ONNX, manifest
and golden vectors in one folder (yolov5 export.py style: named tensors,
onnx.checker, metadata in the model file, parity checked before writing).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import torch

from . import CONTRACT_SCHEMA
from .baselines import mean_predictor, ridge_predictor, training_windows
from .checkpoint import Checkpoint
from .dataset import Part, Recording, keep_trials, load_trials, locate, realize, to_recordings, trial_names, trial_streams
from .evaluate import score
from .features import CHANNELS, FeatureConfig, grid_features, make_windows, window_starts
from .mounting.calibrate import (
    CALIBRATION_ALGORITHM, MIN_JOINT_MARGIN, MIN_PERIODICITY, MIN_PLANARITY, MIN_SIGN_MARGIN, MIN_STRIDES, MIN_WALK_S,
    NO_MOTION_GYRO, SIGN_LAG_S, STAND_S, STILL_ACC, STILL_GYRO, STRIDE_MAX_S, STRIDE_MIN_S,
)
from .reframe import remount_trial
from .io.types import Trial
from .jsonio import finite_json
from .limits import PRODUCT_LIMITS
from .manifest_schema import validate_manifest
from .models import architecture
from .paths import display_path
from .predict import onnx_predictor, torch_predictor

INPUT, OUTPUT = "imu_features", "joint_angles"
JOINT_META = {
    "hip_flexion": "flexion",
    "hip_adduction": "adduction",
    "hip_rotation": "internal rotation",
    "knee_flexion": "flexion",
    "ankle_dorsiflexion": "dorsiflexion",
}
# Physical limits of the sensors the model was trained on (16 g, 2000 deg/s): the
# edge drops samples outside them as corrupt, and so do the Python readers (`limits`),
# training included.
INPUT_LIMITS = PRODUCT_LIMITS.to_dict()
GOLDEN_SECONDS = 4.0
# v2 golden vectors: the raw excerpt must hold a whole calibration (>= 8 s of walking),
# and is written turned by these rotations (one per placement, fixed so the file is
# reproducible), so the golden check runs the calibration on a frame the trial was
# not recorded in and still has to land on the same features.
GOLDEN_REMOUNT_QUATS = ((0.5, 0.5, -0.5, 0.5), (0.2, -0.6, 0.7, 0.3316624790355400))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_commit() -> str:
    try:
        root = Path(__file__).resolve().parents[2]
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "training"], cwd=root, capture_output=True, text=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def export_fp32(model: torch.nn.Module, fc: FeatureConfig, path: Path) -> None:
    dummy = torch.zeros(1, fc.window, fc.n_features)
    torch.onnx.export(
        model, (dummy,), str(path), input_names=[INPUT], output_names=[OUTPUT],
        dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, opset_version=17, dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(path)))


def quantize_int8(fp32: Path, int8: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Dynamic quantization: 8-bit weights, activations quantized per call. The LSTM
    # becomes DynamicQuantizeLSTM and the head MatMulInteger, both in the CPU build
    # of onnxruntime-node.
    # Weights are UNSIGNED (u8 activations x u8 weights): onnxruntime's u8 x s8
    # kernel on x86 CPUs without VNNI (AVX2, AVX-512 without VNNI) multiplies with
    # VPMADDUBSW, whose int16 pair sums saturate, while VNNI and ARM do not. With
    # s8 weights this model's outputs differed by up to 1.2 deg between an AVX2 and
    # a VNNI machine (the golden int8 outputs failed on one of them); the u8 x u8
    # kernels accumulate exactly everywhere, so the golden vectors hold on x86 and
    # on a Raspberry Pi alike.
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QUInt8)
    onnx.checker.check_model(onnx.load(str(int8)))


def embed_contract(path: Path, contract: dict) -> None:
    """Copy the contract into the ONNX metadata (without the file hashes, which depend on it)."""
    m = onnx.load(str(path))
    del m.metadata_props[:]
    for k, v in {"gait_contract": json.dumps(contract, sort_keys=True), "name": contract["name"], "version": contract["version"]}.items():
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))


def quat_matrix(q: tuple[float, float, float, float]) -> np.ndarray:
    w, x, y, z = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def golden_rotations(fc: FeatureConfig) -> dict[str, np.ndarray]:
    """The fixed sensor frames v2's golden raw inputs are written in (none for v1)."""
    if not fc.calibrated:
        return {}
    return {p: quat_matrix(GOLDEN_REMOUNT_QUATS[i % len(GOLDEN_REMOUNT_QUATS)]) for i, p in enumerate(fc.placements)}


def golden_vectors(trial: Trial, fc: FeatureConfig, seconds: float = GOLDEN_SECONDS, span: tuple[float, float] | None = None) -> dict:
    """Raw source-rate samples of the first seconds of a trial (or of the part of it
    between the times `span`) and the features they give. v2: the first
    `calibration_seconds` of the trial (so the excerpt calibrates as the trial did),
    remounted by `golden_rotations`."""
    if fc.calibrated:
        # Any part's v2 features depend on the trial's first calibration_seconds (its
        # calibration), so the excerpt starts with the trial, whatever part tests.
        seconds, span = max(seconds, fc.calibration_seconds), None
        trial = remount_trial(trial, golden_rotations(fc))
    raw = {}
    for p, (t, acc, gyro) in trial_streams(trial, fc.placements).items():
        t0, t1 = span if span is not None else (t[0], t[-1])
        keep = (t >= t0) & (t <= min(t0 + seconds, t1))
        raw[p] = {"t": t[keep].tolist(), "acc": acc[keep].tolist(), "gyro": gyro[keep].tolist()}
    streams = {p: (np.array(v["t"]), np.array(v["acc"]), np.array(v["gyro"])) for p, v in raw.items()}
    g = grid_features(streams, fc)
    starts = window_starts(len(g.t), fc.window, fc.stride)
    if len(starts) == 0:
        raise ValueError(f"{trial.source}: the golden excerpt has {len(g.t)} grid samples, fewer than one window ({fc.window})")
    x = make_windows(g.rows, starts, fc.window, len(fc.placements))
    cals = {p: {"C": c.C.tolist(), "quat": list(c.quat)} for p, c in g.calibrations.items() if c.C is not None and c.quat}
    return {"trial": trial.name, "raw": raw, "grid_t": g.t.tolist(), "features": x, "calibrations": cals}


def calibration_manifest(fc: FeatureConfig) -> dict:
    """v2's `calibration` block: what the edge must run before its AHRS."""
    return {
        "algorithm": CALIBRATION_ALGORITHM, "spec": "docs/calibration.md", "seconds": fc.calibration_seconds,
        "source": "the first `seconds` of each placement's grid", "vertical": "walking", "check_handedness": True,
        "apply": "v_segment = C v_sensor to acc and gyro, before the AHRS", "on_refusal": "no features for that placement",
        # For reference (the edge has its own copies, held to the calibration golden vectors).
        "constants": {
            "STILL_GYRO": STILL_GYRO, "STILL_ACC": STILL_ACC, "STAND_S": STAND_S, "NO_MOTION_GYRO": NO_MOTION_GYRO,
            "MIN_WALK_S": MIN_WALK_S, "MIN_STRIDES": MIN_STRIDES, "STRIDE_MIN_S": STRIDE_MIN_S, "STRIDE_MAX_S": STRIDE_MAX_S,
            "MIN_PERIODICITY": MIN_PERIODICITY, "MIN_PLANARITY": MIN_PLANARITY, "SIGN_LAG_S": SIGN_LAG_S,
            "MIN_SIGN_MARGIN": MIN_SIGN_MARGIN, "MIN_JOINT_MARGIN": MIN_JOINT_MARGIN,
        },
    }


def rebuild(data_dir: Path, ck: Checkpoint, fc: FeatureConfig) -> tuple[dict[str, list[Trial]], dict[str, list[Part]], dict[str, list[Recording]]]:
    """The checkpoint's own training and test recordings, read again from `data_dir`."""
    if not ck.train_parts:
        raise ValueError("checkpoint has no train_parts (trained before they were recorded); train it again")
    if not ck.test_parts:
        raise ValueError("checkpoint has an empty test set: nothing to score the export on")
    stored = {"train": ck.train_parts, "test": ck.test_parts}
    trials = load_trials(data_dir)
    parts = {}
    for role, wanted in stored.items():
        found, missing = locate(trial_names(trials), wanted)
        if missing:
            raise ValueError(
                f"{data_dir}: {len(missing)} {role} trial(s) of the checkpoint are missing, e.g. "
                f"{', '.join(p.label for p in missing[:3])}; pass --data <the folder it was trained on>"
            )
        parts[role] = found
    used = keep_trials(trials, parts["train"] + parts["test"])
    recs = to_recordings(used, fc, tuple(ck.config.joints))
    return used, parts, {role: realize(recs, ps) for role, ps in parts.items()}


def source_note(data_dir: Path) -> Path | None:
    """A SOURCE.txt or README.md in the data folder or the one above it (where the data says where it is from)."""
    for folder in (data_dir, data_dir.parent):
        for name in ("SOURCE.txt", "README.md"):
            if (folder / name).is_file():
                return folder / name
    return None


def subjects_of(parts: dict[str, list[Part]]) -> dict[str, list[str]]:
    """Who trained, validated and tests, by subject name, from the recordings actually used."""
    return {role: sorted({p.subject for p in ps}) for role, ps in parts.items()}


def trials_of(parts: list[Part]) -> list[str]:
    return sorted({f"{p.subject}/{p.trial}" for p in parts})


def dataset_provenance(data: Path, subjects: dict[str, list[str]]) -> str:
    """What the model was trained and tested on, from the data export read (not a fixed string)."""
    text = f"{display_path(data)}: trained on {', '.join(subjects['train']) or 'nothing'}, tested on {', '.join(subjects['test']) or 'nothing'}"
    note = source_note(data)
    return text + (f" (the data's source: {display_path(note)})" if note else "")


def provenance(ck: Checkpoint, data: Path, parts: dict[str, list[Part]]) -> dict:
    """The manifest's `provenance`: the checkpoint's own `train` arguments and the recordings
    `rebuild` found for its splits in `data` (a v2 trial whose calibration was refused in
    training is in none of them), never constants."""
    cfg = ck.config
    used = {"train": parts["train"], "val": ck.val_parts, "test": parts["test"]}
    subjects = subjects_of(used)
    return {
        "dataset": dataset_provenance(data, subjects), "subjects": subjects,
        "data_dir": cfg.data, "method": cfg.method, "heldout": cfg.heldout,
        "train_trials": trials_of(used["train"]), "val_trials": trials_of(used["val"]), "test_trials": trials_of(used["test"]),
        # Exactly the scored recordings (fractions of trials), for `make report` elsewhere.
        "test_set": [p.to_dict() for p in used["test"]], "train_set": [p.to_dict() for p in used["train"]],
        "val_set": [p.to_dict() for p in used["val"]],
        # Every `train` flag as given (arch, pipeline, epochs, remount_augment...): the model says how it was made.
        "train_args": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        "code_commit": git_commit(), "seed": cfg.seed, "torch": ck.torch_version,
        "train_minutes": round(ck.train_minutes, 2), "train_device": ck.device,
    }


def build_manifest(ck: Checkpoint, model: torch.nn.Module, fc: FeatureConfig, name: str, version: str, metrics: dict, files: dict,
                   provenance_doc: dict) -> dict:
    cfg = ck.config
    joints = [
        {"name": j, "unit": "deg", "positive": JOINT_META.get(j.rsplit("_", 1)[0], "see docs/contract.md")}
        for j in cfg.joints
    ]
    return {
        "schema": CONTRACT_SCHEMA,
        "name": name,
        "version": version,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "feature_pipeline": fc.pipeline,
        "architecture": architecture(model),
        "placements": list(fc.placements),
        "channels": [{"name": n, "unit": u, "frame": "euler" if u == "rad" else ("segment" if fc.calibrated else "sensor")}
                     for n, u in CHANNELS],
        **({"calibration": calibration_manifest(fc)} if fc.calibrated else {}),
        "sample_rate_hz": fc.rate_hz,
        "window": fc.window,
        "stride": fc.stride,
        # The edge re-anchors its grid after a hole longer than max_gap_s (docs/contract.md
        # step 2); grid_features refuses training data with such a gap, so none was seen.
        "resampling": {
            "method": "linear", "grid": "latest first timestamp over placements", "prefilter": None,
            "max_gap_s": fc.max_gap_s,
        },
        "ahrs": {
            "algorithm": "madgwick-imu", "implementation": "ahrs@1.3.3", "beta": fc.beta, "dt_s": fc.dt,
            "init": "accelerometer", "first_sample": "init-only", "zero_gradient": "gyro-only-step",
            "nan_guard": "reinit-from-accelerometer",
        },
        "euler": {
            "sequence": "ZYX", "order": ["roll", "pitch", "yaw"], "unit": "rad",
            "yaw": "relative-to-window-start", "reference": {p: list(q) for p, q in fc.euler_reference.items()},
        },
        "normalization": {
            "in_graph": True,
            "mean": np.asarray(ck.norm["x_mean"]).tolist(), "std": np.asarray(ck.norm["x_std"]).tolist(),
            "target_mean": np.asarray(ck.norm["y_mean"]).tolist(), "target_std": np.asarray(ck.norm["y_std"]).tolist(),
        },
        "joints": joints,
        "publish": {"first_window": "all", "then": "last_stride"},
        "tensors": {
            "input": {"name": INPUT, "shape": ["batch", fc.window, fc.n_features], "dtype": "float32"},
            "output": {"name": OUTPUT, "shape": ["batch", fc.window, len(joints)], "dtype": "float32"},
        },
        **files,
        "input_limits": INPUT_LIMITS,
        "provenance": provenance_doc,
        "metrics": metrics,
    }


def export(checkpoint: Path, out: Path, name: str, version: str, data_dir: Path | None = None) -> dict:
    """Write model.fp32.onnx, model.int8.onnx, golden.json and manifest.json into `out`."""
    ck = Checkpoint.load(checkpoint)
    model = ck.model()
    fc = ck.feature_config
    # Scores of the exported files (not PyTorch) on exactly the checkpoint's test
    # recordings, and the baselines fitted on exactly its training recordings.
    data = Path(data_dir or ck.config.data)
    trials, parts, recs = rebuild(data, ck, fc)
    out.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out / "model.fp32.onnx", out / "model.int8.onnx"
    export_fp32(model, fc, fp32)
    quantize_int8(fp32, int8)
    test, train = recs["test"], recs["train"]
    joints = tuple(ck.config.joints)
    xtr, ytr = training_windows(train, fc)
    metrics = {
        "heldout_trials": [p.label for p in parts["test"]],
        "int8": score(test, fc, onnx_predictor(int8), joints),
        "fp32": score(test, fc, onnx_predictor(fp32), joints),
        "pytorch": score(test, fc, torch_predictor(model, torch.device("cpu")), joints),
        "baseline_mean": score(test, fc, mean_predictor(ytr), joints),
        "baseline_ridge": score(test, fc, ridge_predictor(xtr, ytr, len(fc.placements)), joints),
    }
    for v in metrics.values():
        if isinstance(v, dict):
            v.pop("trials", None)

    # Golden vectors from the first seconds of the first test recording (of its part
    # when it is a cut: a fraction-split test set starts mid-trial).
    first = parts["test"][0]
    gtrial = next(t for t in trials[first.subject] if t.name == first.trial)
    span = None if first.whole else (float(test[0].grid.t[0]), float(test[0].grid.t[-1]))
    golden = golden_vectors(gtrial, fc, span=span)
    x = golden["features"].astype(np.float32)
    outs = {"fp32": onnx_predictor(fp32)(x), "int8": onnx_predictor(int8)(x)}
    torch_out = torch_predictor(model, torch.device("cpu"))(x)
    parity = {
        "pytorch_vs_fp32_max_abs_deg": float(np.abs(torch_out - outs["fp32"]).max()),
        "fp32_vs_int8_max_abs_deg": float(np.abs(outs["fp32"] - outs["int8"]).max()),
    }
    if parity["pytorch_vs_fp32_max_abs_deg"] > 1e-3:
        raise RuntimeError(f"fp32 ONNX disagrees with PyTorch: {parity}")
    metrics["parity"] = parity
    golden_doc = {
        "schema": "gait-golden/1",
        "placements": list(fc.placements),
        "sample_rate_hz": fc.rate_hz, "window": fc.window, "stride": fc.stride,
        "trial": golden["trial"], "part": first.to_dict(), "raw": golden["raw"], "grid_t": golden["grid_t"],
        # v2: the raw inputs' sensor frames (rotation from the recorded frame) and the
        # calibration each placement must reach from them.
        **({"raw_remount": {p: R.tolist() for p, R in golden_rotations(fc).items()},
            "calibrations": golden["calibrations"]} if fc.calibrated else {}),
        "features": golden["features"].tolist(),
        "outputs": {k: v.astype(float).tolist() for k, v in outs.items()},
        # Features are float64 on both sides; outputs depend on float32 kernels and,
        # for int8, on activation quantization steps, hence the looser bounds.
        "tolerance": {"features_abs": 1e-6, "outputs_abs_deg": {"fp32": 1e-3, "int8": 0.05}},
    }
    golden_doc = finite_json(golden_doc)
    gpath = out / "golden.json"
    gpath.write_text(json.dumps(golden_doc, allow_nan=False))

    files = {
        "model": {"file": int8.name, "sha256": "", "bytes": 0, "quantization": "dynamic-int8"},
        "variants": {"fp32": {"file": fp32.name, "sha256": "", "bytes": 0}},
        "golden": {"file": gpath.name, "sha256": sha256(gpath)},
    }
    manifest = build_manifest(ck, model, fc, name, version, metrics, files, provenance(ck, data, parts))
    contract = {k: v for k, v in manifest.items() if k not in ("model", "variants", "golden", "metrics")}
    for f in (fp32, int8):
        embed_contract(f, contract)
    manifest["model"].update(sha256=sha256(int8), bytes=int8.stat().st_size)
    manifest["variants"]["fp32"].update(sha256=sha256(fp32), bytes=fp32.stat().st_size)
    manifest = finite_json(manifest)
    # The edge's schema (docs/schema/manifest.schema.json): a manifest the edge would
    # refuse is never written (the folder then has no manifest, so it is no model).
    validate_manifest(manifest, out / "manifest.json")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n")
    return manifest


def refresh_calibration(model_dir: Path) -> dict:
    """A v2 model's `calibration` block rewritten to THIS code's algorithm and constants, without
    retraining: the contract re-embedded in both ONNX files, their hashes refreshed, the manifest
    validated and written. Only for a calibration change that leaves every TRAINING trial's
    calibration as it was (the weights were trained on those frames): check that first
    (docs/calibration.md, "In training"); the recorded metrics are left as they were measured."""
    path = model_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    if "calibration" not in manifest:
        raise ValueError(f"{path}: no 'calibration' block (not a gait-features/2 model)")
    old = manifest["calibration"]
    fc = FeatureConfig(placements=tuple(manifest["placements"]), calibration_seconds=float(old["seconds"]))
    manifest["calibration"] = calibration_manifest(fc)
    contract = {k: v for k, v in manifest.items() if k not in ("model", "variants", "golden", "metrics")}
    files = [(manifest["model"], model_dir / manifest["model"]["file"])]
    files += [(v, model_dir / v["file"]) for v in manifest.get("variants", {}).values()]
    for entry, f in files:
        embed_contract(f, contract)
        entry.update(sha256=sha256(f), bytes=f.stat().st_size)
    validate_manifest(manifest, path)
    path.write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n")
    return manifest
