"""A tiny two-legged OpenSim model and walking-like motions, written here (no shared data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _offset(name: str, parent: str, translation: str = "0 0 0") -> str:
    return (
        f'<PhysicalOffsetFrame name="{name}"><socket_parent>{parent}</socket_parent>'
        f"<translation>{translation}</translation><orientation>0 0 0</orientation></PhysicalOffsetFrame>"
    )


def _coordinate(name: str) -> str:
    return f'<Coordinate name="{name}"><default_value>0</default_value><locked>false</locked></Coordinate>'


def _axis(slot: str, coord: str | None, axis: str) -> str:
    if coord is None:
        return f'<TransformAxis name="{slot}"><coordinates/><axis>{axis}</axis><Constant><value>0</value></Constant></TransformAxis>'
    return (f'<TransformAxis name="{slot}"><coordinates>{coord}</coordinates><axis>{axis}</axis>'
            "<LinearFunction><coefficients>1 0</coefficients></LinearFunction></TransformAxis>")


def _custom(name: str, parent: str, child: str, at: str, rotations: list[tuple[str, str]], translations: list[tuple[str, str]] = ()) -> str:
    coords = [c for c, _ in rotations] + [c for c, _ in translations]
    slots = [_axis(f"rotation{i + 1}", c, a) for i, (c, a) in enumerate(rotations)]
    slots += [_axis(f"translation{i + 1}", c, a) for i, (c, a) in enumerate(translations)]
    parent_path = "/ground" if parent == "ground" else f"/bodyset/{parent}"
    return (
        f'<CustomJoint name="{name}"><socket_parent_frame>{parent}_offset</socket_parent_frame>'
        f"<socket_child_frame>{child}_offset</socket_child_frame><coordinates>{''.join(_coordinate(c) for c in coords)}</coordinates>"
        f"<frames>{_offset(parent + '_offset', parent_path, at)}{_offset(child + '_offset', '/bodyset/' + child)}</frames>"
        f"<SpatialTransform>{''.join(slots)}</SpatialTransform></CustomJoint>"
    )


def legs_osim() -> str:
    """Pelvis + both legs (femur, tibia, calcn), gait2392 conventions: hip Z-X-Y (left x, y negated),
    knee about z (negative in flexion), ankle about z; 0.40 m femur, 0.43 m tibia."""
    bodies = ["pelvis", "femur_r", "tibia_r", "calcn_r", "femur_l", "tibia_l", "calcn_l", "torso"]
    joints = [
        _custom("ground_pelvis", "ground", "pelvis", "0 0 0",
                [("pelvis_tilt", "0 0 1"), ("pelvis_list", "1 0 0"), ("pelvis_rotation", "0 1 0")],
                [("pelvis_tx", "1 0 0"), ("pelvis_ty", "0 1 0"), ("pelvis_tz", "0 0 1")]),
        _custom("back", "pelvis", "torso", "-0.1 0.08 0", [("lumbar_extension", "0 0 1")]),
    ]
    for side, z, s in (("r", "0.08", ""), ("l", "-0.08", "-")):
        joints += [
            _custom(f"hip_{side}", "pelvis", f"femur_{side}", f"-0.07 -0.07 {z}",
                    [(f"hip_flexion_{side}", "0 0 1"), (f"hip_adduction_{side}", f"{s}1 0 0"), (f"hip_rotation_{side}", f"0 {s}1 0")]),
            _custom(f"knee_{side}", f"femur_{side}", f"tibia_{side}", "0 -0.40 0", [(f"knee_angle_{side}", "0 0 1")]),
            _custom(f"ankle_{side}", f"tibia_{side}", f"calcn_{side}", "0 -0.43 0", [(f"ankle_angle_{side}", "0 0 1")]),
        ]
    return (
        '<?xml version="1.0"?><OpenSimDocument Version="40000"><Model name="legs"><gravity>0 -9.80665 0</gravity>'
        f"<BodySet><objects>{''.join(f'<Body name={chr(34)}{b}{chr(34)}/>' for b in bodies)}</objects></BodySet>"
        f"<JointSet><objects>{''.join(joints)}</objects></JointSet></Model></OpenSimDocument>"
    )


def walking(t: np.ndarray, cadence_hz: float = 1.0, symmetric: bool = False) -> dict[str, np.ndarray]:
    """Walking-like coordinates in degrees (translations in metres); the left leg half a cycle later
    (or, `symmetric`, the very same as the right: a mirror-symmetric motion)."""
    w = 2 * np.pi * cadence_hz
    out = {"pelvis_tx": 1.2 * t, "pelvis_ty": 0.95 + 0.02 * np.sin(2 * w * t)}
    if not symmetric:
        out |= {"pelvis_tilt": 3 * np.sin(w * t), "pelvis_list": 2 * np.sin(w * t + 1), "pelvis_rotation": 4 * np.sin(w * t)}
    for side, phase in (("r", 0.0), ("l", 0.0 if symmetric else np.pi)):
        p = w * t + phase
        out[f"hip_flexion_{side}"] = 10 + 25 * np.sin(p)
        out[f"hip_adduction_{side}"] = 4 * np.sin(p + 0.7)
        out[f"hip_rotation_{side}"] = 5 * np.sin(p + 0.3)
        out[f"knee_angle_{side}"] = -(32 - 28 * np.cos(p + 0.9))  # flexion NEGATIVE, 4..60 deg
        out[f"ankle_angle_{side}"] = 12 * np.sin(p - 0.5)
    return out


def write_mot(path: Path, t: np.ndarray, columns: dict[str, np.ndarray]) -> Path:
    lines = ["walk", "version=1", f"nRows={len(t)}", f"nColumns={len(columns) + 1}", "inDegrees=yes", "endheader",
             "\t".join(["time", *columns])]
    lines += ["\t".join(f"{v:.6f}" for v in (t[i], *(c[i] for c in columns.values()))) for i in range(len(t))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
