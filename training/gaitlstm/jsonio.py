"""JSON the way every result file is written: strict, and never half a file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def finite_json(value: Any) -> Any:
    """Strict JSON: NaN (e.g. the correlation of the constant mean baseline) becomes null."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def write_json_atomic(path: Path, obj: object) -> None:
    """Readers (the report, a resumed sweep) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=float))
    os.replace(tmp, path)
