"""Golden vectors for the calibration (docs/calibration.md): both implementations check them.

    cd training && ../.venv/bin/python -m gaitlstm.mounting.golden --out ../test/fixtures/calibration/golden.json

Inputs: 15 s of the shipped AB06 trial (data/ab06, so this runs without
../shared), thigh and foot, every second 200 Hz sample (the 100 Hz grid of
that file's clock), rounded to 1e-6; the cases are built from them by
operations both sides implement (remount by a stored rotation, the Z-label
mirror, slicing), plus a synthetic still stream and three synthetic legs for
the joint thigh+foot sign rule (stored as inputs, so the edge needs no formula).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..io.camargo import read_camargo_trial
from .calibrate import Calibration, calibrate, remount, still_fits
from .handedness import handedness, to_right_handed
from .placement import check_pair, guess_placement

TRIAL = Path(__file__).resolve().parents[3] / "data" / "ab06" / "levelground_ccw_normal_04_01_imu.csv.gz"
SECONDS = 15.0
TOLERANCE = {"abs": 1e-9, "deg": 1e-7}


def load_inputs() -> dict[str, dict[str, list[list[float]]]]:
    trial = read_camargo_trial(TRIAL)
    n = int(SECONDS * 100)
    out = {}
    for name, placement in (("thigh", "femur_r"), ("foot", "calcn_r")):
        s = trial.imus[placement]
        out[name] = {"acc": np.round(s.acc[::2][:n], 6).tolist(), "gyro": np.round(s.gyro[::2][:n], 6).tolist()}
    return out


def still_stream(n: int = 1200) -> tuple[np.ndarray, np.ndarray]:
    """A sensor on a table, tilted, with a small deterministic wobble in place of noise."""
    k = np.arange(n, dtype=float)
    up = np.array([0.3, 0.9, -0.2])
    up = up / math.sqrt(float(up @ up)) * 9.80665
    acc = up[None, :] + 0.01 * np.stack([np.sin(0.37 * k), np.cos(0.23 * k), np.sin(0.11 * k)], axis=1)
    gyro = 0.002 * np.stack([np.sin(0.31 * k), np.sin(0.17 * k), np.cos(0.29 * k)], axis=1)
    return np.round(acc, 6), np.round(gyro, 6)


LEG_SAMPLES = 900  # 9 s: 8 whole strides of 1.1 s, over MIN_WALK_S


def leg_streams() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Segment-frame streams of a pure rotation about z (no translation: acc is gravity turned by theta).

    sym_thigh: a sinusoidal swing, time-symmetric (its own sign margin is ~0);
    foot_follows: a foot whose swing follows the thigh's by 0.2 s, with a
    second harmonic that gives it a clear arrow of time (own margin 0.54);
    foot_quarter: the same foot a quarter stride later (its lead-lag
    correlation with the thigh is ~0: both uncertain)."""
    t = np.arange(LEG_SAMPLES, dtype=float) / 100.0
    w = 2 * math.pi / 1.1

    def rotating(theta: np.ndarray, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        zero = np.zeros_like(theta)
        acc = np.stack([9.80665 * np.sin(theta), 9.80665 * np.cos(theta), zero], axis=1)
        return np.round(acc, 6), np.round(np.stack([zero, zero, rate], axis=1), 6)

    def foot(delay_s: float) -> tuple[np.ndarray, np.ndarray]:
        u = w * (t - delay_s)
        return rotating(0.5 * np.sin(u) + 0.2 * np.cos(2 * u), w * (0.5 * np.cos(u) - 0.4 * np.sin(2 * u)))

    return {"sym_thigh": rotating(0.35 * np.sin(w * t), 0.35 * w * np.cos(w * t)), "foot_follows": foot(0.2),
            "foot_quarter": foot(0.2 + 1.1 / 4)}


def calibration_json(c: Calibration) -> dict:
    return {
        "ok": c.ok, "reason": c.reason,
        "C": None if c.C is None else c.C.tolist(), "quat": None if c.quat is None else list(c.quat),
        "planarity": c.planarity, "sign_margin": c.sign_margin, "strides": c.strides, "seconds": c.seconds,
        "stride_s": c.stride_s, "periodicity": c.periodicity, "stand_s": c.stand_s, "agreement_deg": c.agreement_deg,
        "handedness": None if c.handedness is None else {"score": c.handedness.score, "decision": c.handedness.decision},
        "sign_source": c.sign_source, "joint_margin": c.joint_margin,
    }


def mirror_z(acc: np.ndarray, gyro: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fault itself: the Z label flipped on both channels (its own inverse)."""
    return to_right_handed(acc, gyro)


def build() -> dict:
    inputs = load_inputs()
    for k, (a, g) in leg_streams().items():
        inputs[k] = {"acc": a.tolist(), "gyro": g.tolist()}
    arr = {k: (np.array(v["acc"]), np.array(v["gyro"])) for k, v in inputs.items()}
    rotations = {
        "r1": Rotation.from_euler("xyz", [40.0, -75.0, 120.0], degrees=True).as_matrix(),
        "r2": Rotation.from_euler("zyx", [170.0, 30.0, -10.0], degrees=True).as_matrix(),
        "small": Rotation.from_rotvec(np.radians(5.0) * np.array([0.6, 0.0, 0.8])).as_matrix(),
        "big": Rotation.from_rotvec(np.radians(25.0) * np.array([0.0, 0.6, 0.8])).as_matrix(),
    }
    foot_cal = calibrate(*arr["foot"])
    thigh_cal = calibrate(*arr["thigh"])
    cases = []

    def apply(stream: str, ops: list) -> tuple[np.ndarray, np.ndarray]:
        acc, gyro = arr[stream] if stream != "still" else still_stream()
        for op in ops:
            if op[0] == "remount":
                acc, gyro = remount(acc, gyro, rotations[op[1]])
            elif op[0] == "mirror_z":
                acc, gyro = mirror_z(acc, gyro)
            elif op[0] == "slice":
                acc, gyro = acc[op[1]:op[2]], gyro[op[1]:op[2]]
        return acc, gyro

    def case(name: str, stream: str, ops: list, expect_fn) -> None:
        cases.append({"name": name, "stream": stream, "ops": ops, **expect_fn(*apply(stream, ops))})

    def with_foot(name: str, stream: str, ops: list, partner: str, partner_ops: list) -> None:
        """A thigh calibrated with its foot as sign partner: the foot calibrated on its own,
        its sagittal rate (C_foot gyro)_z handed to the thigh's calibration."""
        fa, fg = apply(partner, partner_ops)
        fc = calibrate(fa, fg)
        assert fc.C is not None, f"{name}: the partner foot does not calibrate ({fc.reason})"
        w_foot = fg @ fc.C[2]
        acc, gyro = apply(stream, ops)
        cases.append({"name": name, "stream": stream, "ops": ops, "partner": {"stream": partner, "ops": partner_ops},
                      "calibration": calibration_json(calibrate(acc, gyro, sign_partner=w_foot))})

    def cal(previous: np.ndarray | None = None):
        return lambda a, g: {"calibration": calibration_json(calibrate(a, g, previous=previous))}

    case("foot", "foot", [], cal())
    case("thigh", "thigh", [], cal())
    case("foot_remount_r1", "foot", [["remount", "r1"]], cal(foot_cal.C))
    case("foot_remount_r2", "foot", [["remount", "r2"]], cal(foot_cal.C))
    case("thigh_remount_r1", "thigh", [["remount", "r1"]], cal(thigh_cal.C))
    case("foot_mirrored", "foot", [["mirror_z"]], cal())
    case("foot_mirrored_converted", "foot", [["mirror_z"], ["mirror_z"]], cal())
    case("still", "still", [], cal())
    case("foot_short", "foot", [["slice", 0, 600]], cal())
    # The joint sign rule (docs/calibration.md, "The sign of the flexion axis").
    with_foot("thigh_with_foot", "thigh", [], "foot", [])  # own margin 0.13: "own", joint margin reported
    with_foot("thigh_r1_with_foot_r2", "thigh", [["remount", "r1"]], "foot", [["remount", "r2"]])
    case("sym_thigh_alone", "sym_thigh", [["remount", "r1"]], cal())  # sign_uncertain on its own
    with_foot("sym_thigh_with_foot", "sym_thigh", [["remount", "r1"]], "foot_follows", [["remount", "r2"]])  # "joint"
    with_foot("sym_thigh_with_late_foot", "sym_thigh", [["remount", "r1"]], "foot_quarter", [["remount", "r2"]])  # refused
    for s in ("thigh", "foot"):
        case(f"{s}_handedness", s, [], lambda a, g: {"handedness": {"score": handedness(a, g).score, "decision": handedness(a, g).decision}})
        case(f"{s}_placement", s, [], lambda a, g: {"placement": {"placement": (p := guess_placement(a, g)).placement, "score": p.score,
                                                                   "confidence": p.confidence}})
    case("foot_mirrored_handedness", "foot", [["mirror_z"]], lambda a, g: {"handedness": {"score": handedness(a, g).score,
                                                                                           "decision": handedness(a, g).decision}})
    for r in ("small", "big"):
        def fit(a, g):
            f = still_fits(foot_cal.C, a, g)
            return {"fit": {"decision": f.decision, "angle_deg": f.angle_deg, "vertical_deg": f.vertical_deg, "flexion_deg": f.flexion_deg}}
        case(f"foot_restrap_{r}", "foot", [["remount", r]], fit)
    pairs = []
    for name, t, f in (("as_labelled", "thigh", "foot"), ("swapped", "foot", "thigh")):
        p = check_pair(*arr[t], *arr[f])
        pairs.append({"name": name, "thigh": t, "foot": f, "swapped": p.swapped, "score": p.score})
    return {
        "schema": "gait-calibration-golden/1",
        "source": f"data/ab06/{TRIAL.name}: every 2nd sample (100 Hz), first {SECONDS:g} s, rounded to 1e-6",
        "rate_hz": 100.0,
        "tolerance": TOLERANCE,
        "inputs": inputs,
        "rotations": {k: v.tolist() for k, v in rotations.items()},
        "cases": cases,
        "pairs": pairs,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(build(), separators=(",", ":")) + "\n")
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
