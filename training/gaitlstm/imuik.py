"""IMU-IK: the study's comparison baseline, joint angles from segment orientations (as OpenSense).

Per IMU, the contract's Madgwick filter (6-axis, `ahrs.run_madgwick`) gives
the sensor's orientation in its own earth frame (z up, heading arbitrary and
drifting: no magnetometer). A calibration turns sensor frames into segment
frames; the angle of a joint is then the rotation of the child segment
relative to its parent, decomposed like the OpenSim joint:

- hip (pelvis -> femur): body-fixed Z-X-Y = flexion, adduction, rotation
  (OpenSim hip_r: rotation1 z, rotation2 x, rotation3 y; the left hip's x and
  y axes are negated, so adduction and rotation change sign there);
- knee (femur -> tibia): about z; the project's flexion is positive, which
  is a NEGATIVE rotation about z (gait2392's knee_angle);
- ankle (tibia -> calcaneus): about z, dorsiflexion positive. The baseline
  uses the segment z axis; OpenSim's ankle axis is oblique (~10 deg from z),
  a simplification that is part of the baseline's error.

Calibration (the trials start in motion, so no neutral static pose): over
the calibration window, each segment frame is set to what the reference
joint angles say at that instant, chained from the root: the root segment
(pelvis, or the femur when there is no pelvis IMU) is placed with the pelvis
level and facing forward, its heading taken from one of its sensor's axes
said to point forward (OpenSense's `base_heading_axis`; here: the sensor axis
closest to the body's forward axis in the nominal mount); every child segment
is its parent times the joint rotation of the reference angles. Using the
reference angles for calibration is the optimistic choice a lab could make
with a mocap-recorded calibration trial; OpenSense instead assumes a neutral
pose, which walking trials don't have.

Known limits: the heading of every sensor drifts independently with a
6-axis filter, so hip rotation/adduction (and to a lesser degree the others)
degrade over a trial; Madgwick's start (initialised from one accelerometer
sample while walking) converges at beta = 0.1 rad/s, so calibrating too early
bakes its transient into the segment frames (`calib_start_s`).

Channel maps: sensors whose channels are mirrored or permuted (AB06's thigh
and shank, see `simulate.imu.CAMARGO_MOUNTS`) are first turned back into a
right-handed sensor frame with the mount's `acc_signs` and `gyro_axes`: an
AHRS needs a right-handed sensor, as any OpenSense user must configure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from .ahrs import run_madgwick
from .features import grid_times, resample
from .io.types import Trial
from .metrics import joint_metrics
from .simulate.cohort import AB06_LENGTHS, nominal_mounts
from .simulate.imu import Mount

# OpenSim ground (x forward, y up, z right) -> the AHRS earth frame (z up): columns are the images of x, y, z.
OPENSIM_TO_EARTH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def default_mounts() -> dict[str, Mount]:
    """The cohort's nominal mounts: AB06's for the right leg (so AB06's real data too), mirrored left, pelvis."""
    return nominal_mounts(AB06_LENGTHS)


def right_handed(acc: np.ndarray, gyro: np.ndarray, mount: Mount) -> tuple[np.ndarray, np.ndarray]:
    """Undo a mount's channel labelling: (acc, gyro) in the sensor's right-handed frame (R_BS's axes)."""
    return acc * mount.acc_signs, gyro @ mount.gyro_axes  # channels = G w  =>  w = G^T channels


def heading_axis(mount: Mount) -> np.ndarray:
    """The signed sensor axis that points most nearly forward (body +x) in the nominal mount."""
    forward = mount.R_BS[0, :]  # body-x component of each sensor axis
    k = int(np.argmax(np.abs(forward)))
    axis = np.zeros(3)
    axis[k] = np.sign(forward[k])
    return axis


def _rz(angle: np.ndarray) -> np.ndarray:
    return Rotation.from_euler("Z", np.asarray(angle)[:, None]).as_matrix()


def hip_rotation_matrix(flex: np.ndarray, add: np.ndarray, rot: np.ndarray, side: str) -> np.ndarray:
    """(N,3,3) femur in pelvis from project angles in radians (left: x and y axes negated)."""
    s = 1.0 if side == "r" else -1.0
    return Rotation.from_euler("ZXY", np.stack([flex, s * add, s * rot], axis=1)).as_matrix()


def _mean_rotation(Rs: np.ndarray) -> np.ndarray:
    return Rotation.from_matrix(Rs).mean().as_matrix()


def _polar(S: np.ndarray) -> np.ndarray:
    """The rotation nearest to S (chordal mean of the matrices summed in S)."""
    U, _, Vt = np.linalg.svd(S)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    return U @ D @ Vt


def calibrate_sensor(R_GS: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, float]:
    """(R_SB, psi): the sensor-to-segment rotation and the heading of the sensor's earth frame
    relative to the one `B` is given in, such that R_GS(k) R_SB = Rz(psi) B(k) best over the window.

    A 6-axis filter starts every sensor at its own arbitrary heading, so the
    heading offset is an unknown too. It is observable because the segment
    moves during the window: a 1-D search over psi of the chordal fit.
    """
    P, K, Z = np.diag([1.0, 1.0, 0.0]), np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), np.diag([0.0, 0.0, 1.0])
    A = np.swapaxes(R_GS, 1, 2)
    # Rz(psi) = cos(psi) P + sin(psi) K + Z, so the summed fit is linear in cos and sin.
    SP, SK, SZ = (np.einsum("nij,jk,nkl->il", A, M, B) for M in (P, K, Z))

    def fit(psi: np.ndarray) -> np.ndarray:
        S = np.cos(psi)[:, None, None] * SP + np.sin(psi)[:, None, None] * SK + SZ
        return np.linalg.svd(S, compute_uv=False).sum(axis=1)

    coarse = np.linspace(-np.pi, np.pi, 360, endpoint=False)
    best = coarse[int(np.argmax(fit(coarse)))]
    fine = best + np.radians(np.linspace(-1.0, 1.0, 201))
    psi = float(fine[int(np.argmax(fit(fine)))])
    return _polar(np.cos(psi) * SP + np.sin(psi) * SK + SZ), psi


def imu_ik(
    trial: Trial,
    side: str = "r",
    calib_s: float = 1.0,
    calib_start_s: float = 3.0,
    mounts: dict[str, Mount] | None = None,
    beta: float = 0.1,
    rate_hz: float = 100.0,
) -> dict[str, np.ndarray]:
    """Joint angles (project convention, degrees) on a `rate_hz` grid, plus that grid as "t".

    Hip angles need a pelvis IMU; without one the femur is the root and only
    knee and ankle come out. The trial's reference angles over
    [calib_start_s, calib_start_s + calib_s] (from the grid start) calibrate.
    """
    if side not in ("r", "l"):
        raise ValueError(f"side must be 'r' or 'l', got {side!r}")
    mounts = mounts or default_mounts()
    chain = [p for p in ("pelvis", f"femur_{side}", f"tibia_{side}", f"calcn_{side}") if p in trial.imus]
    needed = [f"femur_{side}", f"tibia_{side}", f"calcn_{side}"]
    lacking = [p for p in needed if p not in trial.imus]
    if lacking:
        raise ValueError(f"{trial.source}: IMU-IK needs {needed}; no IMU at {lacking} (has {sorted(trial.imus)})")
    if trial.angles_t is None:
        raise ValueError(f"{trial.source}: no reference angles to calibrate with (an *_ik file is needed)")
    t = grid_times([float(trial.imus[p].t[0]) for p in chain], [float(trial.imus[p].t[-1]) for p in chain], rate_hz)
    calib = np.flatnonzero((t >= t[0] + calib_start_s - 1e-9) & (t <= t[0] + calib_start_s + calib_s + 1e-9))
    if calib.size == 0:
        raise ValueError(f"{trial.source}: calibration window {calib_start_s}+{calib_s} s lies outside the trial")

    R_GS: dict[str, np.ndarray] = {}
    for p in chain:
        s = trial.imus[p]
        acc, gyro = right_handed(resample(s.t, s.acc, t), resample(s.t, s.gyro, t), mounts[p])
        q, _ = run_madgwick(acc, gyro, beta, 1.0 / rate_hz)
        R_GS[p] = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()  # sensor -> earth

    ref = {j: np.radians(np.interp(t[calib], trial.angles_t, v)) for j, v in trial.angles.items()}

    def ref_angle(name: str) -> np.ndarray:
        key = f"{name}_{side}"
        if key not in ref:
            raise ValueError(f"{trial.source}: no reference angle {key!r} to calibrate with")
        return ref[key]

    hip_c = hip_rotation_matrix(ref_angle("hip_flexion"), ref_angle("hip_adduction"), ref_angle("hip_rotation"), side)
    joint_at_calib = {
        f"femur_{side}": hip_c,
        f"tibia_{side}": _rz(-ref_angle("knee_flexion")),
        f"calcn_{side}": _rz(ref_angle("ankle_dorsiflexion")),
    }

    # Root: pelvis level and facing forward; heading from the sensor's forward axis.
    root = chain[0]
    pose = np.tile(np.eye(3), (calib.size, 1, 1)) if root == "pelvis" else joint_at_calib[root]
    body_in_earth = OPENSIM_TO_EARTH @ pose  # (n,3,3), heading still to be found
    v = R_GS[root][calib] @ heading_axis(mounts[root])
    u = body_in_earth[:, :, 0]  # body forward in earth, from the pose
    psi = np.arctan2(v[:, 1], v[:, 0]) - np.arctan2(u[:, 1], u[:, 0])
    psi = float(np.arctan2(np.sin(psi).mean(), np.cos(psi).mean()))
    # Segment frames are expressed in the root sensor's earth frame; every other
    # sensor's earth frame differs from it by a heading `heading[p]`.
    R_SB = {root: _mean_rotation(np.swapaxes(R_GS[root][calib], 1, 2) @ _rz(np.full(calib.size, psi)) @ body_in_earth)}
    heading = {root: 0.0}
    for parent, child in zip(chain, chain[1:]):
        parent_at_calib = _rz(np.full(calib.size, -heading[parent])) @ R_GS[parent][calib] @ R_SB[parent]
        R_SB[child], heading[child] = calibrate_sensor(R_GS[child][calib], parent_at_calib @ joint_at_calib[child])

    segment = {p: _rz(np.full(len(t), -heading[p])) @ R_GS[p] @ R_SB[p] for p in chain}

    def relative(parent: str, child: str) -> np.ndarray:
        rel = np.swapaxes(segment[parent], 1, 2) @ segment[child]
        return np.degrees(Rotation.from_matrix(rel).as_euler("ZXY"))

    sign = 1.0 if side == "r" else -1.0
    out: dict[str, np.ndarray] = {"t": t}
    if "pelvis" in segment:
        hip = relative("pelvis", f"femur_{side}")
        out[f"hip_flexion_{side}"] = hip[:, 0]
        out[f"hip_adduction_{side}"] = sign * hip[:, 1]
        out[f"hip_rotation_{side}"] = sign * hip[:, 2]
    out[f"knee_flexion_{side}"] = -relative(f"femur_{side}", f"tibia_{side}")[:, 0]
    out[f"ankle_dorsiflexion_{side}"] = relative(f"tibia_{side}", f"calcn_{side}")[:, 0]
    return out


def evaluate_imu_ik(trials: list[Trial], side: str = "r", calib_s: float = 1.0, calib_start_s: float = 3.0, **kw) -> dict:
    """`metrics.joint_metrics` of IMU-IK on `trials`, scored after each calibration window.

    Gait cycles come from the true hip flexion, also when hip angles are not estimated.
    """
    segments, joints = [], None
    rate = float(kw.get("rate_hz", 100.0))
    for trial in trials:
        est = imu_ik(trial, side, calib_s, calib_start_s, **kw)
        names = tuple(k for k in est if k != "t")
        if joints is None:
            joints = names
        elif names != joints:
            raise ValueError(f"{trial.source}: estimates {names}, earlier trials {joints}")
        t = est["t"]
        keep = t > t[0] + calib_start_s + calib_s
        clock = f"hip_flexion_{side}"
        cols = [clock, *[j for j in joints if j != clock]]
        true = np.stack([np.interp(t[keep], trial.angles_t, trial.angles[j]) for j in cols], axis=1)
        pred = np.stack([np.interp(t[keep], trial.angles_t, trial.angles[clock]) if j == clock and j not in est else est[j][keep]
                         for j in cols], axis=1)
        segments.append((pred, true))
    if joints is None:
        raise ValueError("no trials to evaluate")
    cols = [f"hip_flexion_{side}", *[j for j in joints if j != f"hip_flexion_{side}"]]
    m = joint_metrics(segments, tuple(cols), rate, hip_index=0)
    if f"hip_flexion_{side}" not in joints:
        m["joints"].pop(f"hip_flexion_{side}")  # it was only the gait-cycle clock
        for key, field in (("mean_rmse_deg", "rmse_deg"), ("mean_nrmse", "nrmse"), ("mean_r", "r")):
            m[key] = float(np.mean([v[field] for v in m["joints"].values()]))
    m["method"] = f"IMU-IK (Madgwick 6-axis, beta {kw.get('beta', 0.1)}; calibration {calib_start_s:g}+{calib_s:g} s on reference angles)"
    m["n_trials"] = len(trials)
    return m


def main(argv: list[str] | None = None) -> int:
    from .dataset import load_trials

    ap = argparse.ArgumentParser(prog="python -m gaitlstm.imuik", description="IMU-IK baseline metrics on a folder of trials")
    ap.add_argument("--data", required=True, type=Path, help="a trials folder (one subject) or a cohort folder")
    ap.add_argument("--subjects", nargs="*", default=None, help="only these subjects")
    ap.add_argument("--include", default="*", help="trial name pattern")
    ap.add_argument("--exclude", default=None)
    ap.add_argument("--side", default="r", choices=["r", "l"])
    ap.add_argument("--calib-s", type=float, default=1.0)
    ap.add_argument("--calib-start-s", type=float, default=3.0, help="seconds of AHRS settling before the calibration window")
    a = ap.parse_args(argv)
    by_subject = load_trials(a.data, a.include, a.exclude)
    out = {}
    for subject, trials in by_subject.items():
        if a.subjects and subject not in a.subjects:
            continue
        m = evaluate_imu_ik(trials, a.side, a.calib_s, a.calib_start_s)
        out[subject] = m
        print(subject, json.dumps({j: {k: round(x, 3) for k, x in v.items()} for j, v in m["joints"].items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
