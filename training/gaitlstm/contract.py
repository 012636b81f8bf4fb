"""Reading a model contract back (for `evaluate` on exported files).

A manifest.json is checked against the edge's schema first (manifest_schema),
so a manifest the edge would refuse is refused here too, naming the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import onnx

from . import CONTRACT_SCHEMA
from .features import PIPELINE_V2, PIPELINES, FeatureConfig
from .manifest_schema import validate_manifest


@dataclass
class Contract:
    manifest: dict
    model_path: Path
    features: FeatureConfig
    joints: tuple[str, ...]


def load_contract(path: str | Path) -> Contract:
    """A manifest.json, its folder, or an .onnx file (contract from its metadata)."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model or manifest")
    if path.suffix == ".onnx":
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        if "gait_contract" not in meta:
            raise ValueError(f"{path}: no 'gait_contract' metadata; pass its manifest.json instead")
        manifest, model_path = json.loads(meta["gait_contract"]), path
    else:
        try:
            manifest = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        # The embedded ONNX copy above lacks the file hashes (they depend on it), so only a
        # manifest.json is held to the whole schema.
        validate_manifest(manifest, path)
        model_path = path.parent / manifest["model"]["file"]
    if manifest.get("schema") != CONTRACT_SCHEMA:
        raise ValueError(f"{path}: schema {manifest.get('schema')!r}, expected {CONTRACT_SCHEMA!r}")
    pipeline = manifest.get("feature_pipeline")
    if pipeline not in PIPELINES:
        raise ValueError(f"{path}: feature pipeline {pipeline!r} is not one of {', '.join(PIPELINES)}")
    calibration = {}
    if pipeline == PIPELINE_V2:
        if "calibration" not in manifest:
            raise ValueError(f"{path}: a {PIPELINE_V2} manifest needs its 'calibration' settings")
        calibration = {"calibration_seconds": float(manifest["calibration"]["seconds"])}
    fc = FeatureConfig(
        placements=tuple(manifest["placements"]),
        rate_hz=float(manifest["sample_rate_hz"]),
        window=int(manifest["window"]),
        stride=int(manifest["stride"]),
        beta=float(manifest["ahrs"]["beta"]),
        euler_reference={p: tuple(q) for p, q in manifest["euler"]["reference"].items()},
        max_gap_s=float(manifest["resampling"].get("max_gap_s", FeatureConfig.max_gap_s)),
        pipeline=pipeline,
        **calibration,
    )
    return Contract(manifest, model_path, fc, tuple(j["name"] for j in manifest["joints"]))
