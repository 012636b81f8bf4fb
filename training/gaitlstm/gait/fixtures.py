"""Writers of the shipped gait fixtures (run by hand; tests only read what they wrote).

- `golden`: test/fixtures/gait/golden.json, the cross-language golden
  vectors: the shipped AB06 trial's foot sagittal rate at 100 Hz and the IK
  angles as input; the Python pipeline's events, phase and strides as the
  expected output. `test/gait/events.test.ts` and `training/tests/test_gait.py`
  both replay the input and must reproduce the output.
- `plate_events`: data/ab06/<trial>_fp_events.json, the force-plate contacts
  of the shipped trial with their side, so the real-data event test runs
  without ../shared.
- `calibrate_ab06`: the AB06_FOOT_TO_SEGMENT fixture rotation (gait/ab06.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..io import read_camargo_trial
from ..io._text import read_text
from ..io.errors import DataError
from .ab06 import AB06_FOOT_TO_SEGMENT
from .evaluate import foot_sagittal_rate, right_contacts
from .events import DEFAULT_PARAMS
from .phase import DEFAULT_PHASE_PARAMS
from .stream import run_stream
from .strides import JOINTS

SHIPPED_TRIAL = "levelground_ccw_normal_04_01"
# Inputs are rounded before use so that both languages start from the very
# same doubles (JSON round-trips a 6-decimal number exactly to one double).
RATE_DECIMALS = 6
ANGLE_DECIMALS = 3


def _r(x: float | None, nd: int = 9) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


def golden(trial_dir: Path, out: Path) -> dict[str, object]:
    tr = read_camargo_trial(trial_dir / f"{SHIPPED_TRIAL}_imu.csv.gz", trial_dir / f"{SHIPPED_TRIAL}_ik.csv.gz")
    foot = tr.imus["calcn_r"]
    t, w = foot_sagittal_rate(foot.t, foot.gyro, AB06_FOOT_TO_SEGMENT)
    t = np.round(t, 6)
    w = np.round(w, RATE_DECIMALS)
    assert tr.angles_t is not None
    angles = np.round(np.stack([np.interp(t, tr.angles_t, tr.angles[j]) for j in JOINTS], axis=1), ANGLE_DECIMALS)
    run = run_stream(t, w, angles)
    doc = {
        "description": (
            f"Gait-event golden vectors: data/ab06/{SHIPPED_TRIAL} (Camargo et al. 2021, CC-BY-4.0), right foot IMU "
            "resampled to 100 Hz and rotated into the calcn segment frame with AB06_FOOT_TO_SEGMENT; "
            "angles = IK on the same grid. Written by `python -m gaitlstm.gait golden`."
        ),
        "params": {**DEFAULT_PARAMS.__dict__},
        "phase_params": {**DEFAULT_PHASE_PARAMS.__dict__},
        "joints": list(JOINTS),
        "input": {"t": t.tolist(), "sagittal_rate": w.tolist(), "angles": angles.tolist()},
        "expected": {
            "events": [{"type": e.type, "t": _r(e.t), "t_detected": _r(e.t_detected)} for e in run.events],
            "phase": [_r(p, 6) for p in run.phase],
            "strides": [
                {
                    "t_start": _r(s.t_start), "t_end": _r(s.t_end), "t_toe_off": _r(s.t_toe_off),
                    "stride_time_s": _r(s.stride_time_s), "cadence_spm": _r(s.cadence_spm),
                    "stance_pct": _r(s.stance_pct), "rom_deg": None if s.rom_deg is None else {k: _r(v) for k, v in s.rom_deg.items()},
                }
                for s in run.strides
            ],
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    return doc


def plate_events(data: Path, out: Path, trial: str = SHIPPED_TRIAL) -> dict[str, object]:
    tr = read_camargo_trial(data / "trials" / f"{trial}_imu.csv.gz", data / "trials" / f"{trial}_ik.csv.gz")
    assert tr.angles_t is not None
    contacts = right_contacts(data / "fp" / f"{trial}_fp.csv.gz", tr.angles_t, tr.angles["knee_flexion_r"], tr.angles["knee_flexion_l"])
    doc = {
        "description": (
            f"Force-plate foot contacts of {trial} (Camargo et al. 2021, CC-BY-4.0; from ../shared/data/camargo_ab06/fp): "
            "heel strike / toe off = vertical force rising / falling through 20 N; side from the IK knee angles "
            "(gaitlstm.gait.truth). Written by `python -m gaitlstm.gait plate-events`."
        ),
        "trial": trial,
        "contacts": [{"plate": c.plate, "side": side, "heel_strike": round(c.heel_strike, 6), "toe_off": round(c.toe_off, 6)} for c, side in contacts],
    }
    out.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def calibrate_ab06(data: Path) -> np.ndarray:
    """AB06's foot sensor->segment rotation from the 24 trials (method: gait/ab06.py)."""
    zs, ups = [], []
    imus = sorted((data / "trials").glob("*_imu.csv.gz"))
    if not imus:
        raise DataError(data / "trials", "no *_imu.csv.gz trials")
    for imu in imus:
        name = imu.name.removesuffix("_imu.csv.gz")
        tr = read_camargo_trial(imu, data / "trials" / f"{name}_ik.csv.gz")
        ik = read_ik_raw(data / "trials" / f"{name}_ik.csv.gz")
        pitch = ik["pelvis_tilt"] + ik["hip_flexion_r"] + ik["knee_angle_r"] + ik["ankle_angle_r"]
        rate = np.radians(np.gradient(pitch, ik["time"]))
        g = tr.imus["calcn_r"].gyro
        u, *_ = np.linalg.lstsq(g, rate, rcond=None)
        zs.append(u / np.linalg.norm(u))
        still = np.linalg.norm(g, axis=1) < 0.3
        a = tr.imus["calcn_r"].acc[still].mean(axis=0)
        ups.append(a / np.linalg.norm(a))
    z = np.mean(zs, axis=0)
    z /= np.linalg.norm(z)
    y = np.mean(ups, axis=0)
    y = y - z * (y @ z)
    y /= np.linalg.norm(y)
    return np.stack([np.cross(y, z), y, z])


def read_ik_raw(path: Path) -> dict[str, np.ndarray]:
    """Camargo IK columns as written (Camargo's own signs), for the segment-pitch sum."""
    lines = [ln for ln in read_text(path).splitlines() if ln.strip()]
    cols = lines[0].split(",")
    a = np.array([[float(x) for x in ln.split(",")] for ln in lines[1:]])
    return {c: a[:, i] for i, c in enumerate(cols)}
