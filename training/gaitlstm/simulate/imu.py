"""Virtual IMUs: what a sensor strapped to a moving body would read.

For a sensor S fixed to body B (rotation R_BS, offset p_BS) whose pose in
ground is R_GS(t), p_GS(t):

- gyro = vee(R_GS^T dR_GS/dt)              (angular velocity, sensor frame)
- acc  = R_GS^T (d2 p_GS/dt2 - g)           (specific force, sensor frame;
  g = the model's gravity, (0, -9.80665, 0) in OpenSim's Y-up ground, so a
  sensor at rest reads +9.81 on its up axis)
- mag  = R_GS^T m_G                         (optional, a constant field)

Derivatives are central differences of poses evaluated on the motion's
splines at t +- h with h = 0.1 ms: the splines are smooth, so this is exact
to ~1e-6 and needs no Jacobians.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial.transform import Rotation

from .kinematics import Motion, body_transforms
from .mount import Mount
from .noise import NoiseModel, SensorErrors, soft_tissue_offsets
from .osim import OsimModel

DIFF_STEP_S = 1e-4


def output_times(t0: float, t1: float, rate_hz: float) -> np.ndarray:
    """A uniform clock inside [t0, t1], leaving room for the pose differences at the ends."""
    start, stop = t0 + 2 * DIFF_STEP_S, t1 - 2 * DIFF_STEP_S
    n = int(np.floor((stop - start) * rate_hz + 1e-9)) + 1
    if n < 2:
        raise ValueError(f"motion {t0:.3f}..{t1:.3f} s is too short for a {rate_hz:g} Hz trial")
    return start + np.arange(n) / rate_hz

# Camargo sensor names -> OpenSim bodies (the same map as io.camargo.CAMARGO_PLACEMENTS).
SENSOR_BODIES = {"thigh": "femur_r", "shank": "tibia_r", "foot": "calcn_r", "trunk": "torso"}


@dataclass
class VirtualImu:
    t: np.ndarray  # (N,) s
    acc: np.ndarray  # (N,3) m/s^2, specific force, sensor frame
    gyro: np.ndarray  # (N,3) rad/s, sensor frame
    mag: np.ndarray | None = None  # (N,3) in the units of the field given


# AB06's (Camargo) sensors on their OpenSim bodies, rounded from the mounts
# `validate` fits on levelground_ccw_normal_03_01 (docs/simulator.md): axes to
# 3 decimals, offsets to the mm, channel maps as fitted.
# Columns of R_BS are the sensor x, y, z axes in body coordinates (body x
# forward, y up, z to the right).
def _preset(body: str, x: tuple, y: tuple, z: tuple, p: tuple, acc: tuple, gyro: tuple) -> Mount:
    U, _, Vt = np.linalg.svd(np.array([x, y, z], dtype=float).T)  # re-orthonormalise the rounded axes
    return Mount(body=body, R_BS=U @ Vt, p_BS=np.array(p, dtype=float),
                 acc_signs=np.array(acc, dtype=float), gyro_axes=np.array(gyro, dtype=float))


CAMARGO_MOUNTS: dict[str, Mount] = {
    # x up the thigh, right-handed, sagittal rate on gyro Z: the thigh as the reader
    # returns it (Camargo's thigh accelerometer negated, io/camargo.py; the file on
    # disk is a consistent mirror of this, which `write_trial` reproduces)
    "thigh": _preset("femur_r", (0.274, 0.943, 0.187), (-0.946, 0.299, -0.124), (-0.173, -0.143, 0.975),
                     (-0.005, -0.281, 0.078), (1, 1, 1), ((1, 0, 0), (0, 1, 0), (0, 0, 1))),
    # x down the shank; gyro Y/Z channels read the accelerometer's z/-y, sagittal rate on gyro Y
    "shank": _preset("tibia_r", (-0.007, -0.98, -0.198), (-0.976, -0.036, 0.214), (-0.217, 0.194, -0.957),
                     (0.019, -0.175, -0.025), (1, 1, 1), ((1, 0, 0), (0, 0, 1), (0, -1, 0))),
    # on the instep 15 cm ahead of the calcaneus origin, sagittal rate on gyro Y
    "foot": _preset("calcn_r", (0.637, -0.77, -0.049), (0.109, 0.152, -0.982), (0.763, 0.62, 0.181),
                    (0.145, 0.02, 0.043), (1, 1, 1), ((1, 0, 0), (0, 1, 0), (0, 0, 1))),
    # NOT validated: AB06's IK holds the lumbar joint at zero, so its torso only follows the pelvis
    "trunk": _preset("torso", (-0.084, -0.963, -0.254), (0.5, 0.18, -0.847), (0.862, -0.198, 0.467),
                     (0.127, -0.061, -0.06), (1, 1, 1), ((1, 0, 0), (0, -1, 0), (0, 0, -1))),
}


def vee(M: np.ndarray) -> np.ndarray:
    """(N,3,3) near-skew matrices -> (N,3) vectors of their skew part."""
    S = 0.5 * (M - np.swapaxes(M, 1, 2))
    return np.stack([S[:, 2, 1], S[:, 0, 2], S[:, 1, 0]], axis=1)


def sensor_poses(
    model: OsimModel, motion: Motion, mounts: dict[str, Mount], t: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sensor -> (R_GS (N,3,3), p_GS (N,3)) at times t."""
    X = body_transforms(model, motion(t), sorted({m.body for m in mounts.values()}))
    out = {}
    for name, m in mounts.items():
        R_GB, p_GB = X[m.body][:, :3, :3], X[m.body][:, :3, 3]
        out[name] = (R_GB @ m.R_BS, p_GB + R_GB @ m.p_BS)
    return out


def imu_from_pose_function(pose, t: np.ndarray, gravity: np.ndarray, h: float = DIFF_STEP_S):
    """Gyro and specific force from `pose(times) -> (R (N,3,3), p (N,3))`, both in the sensor frame."""
    R_m, p_m = pose(t - h)
    R_0, p_0 = pose(t)
    R_p, p_p = pose(t + h)
    R_T = np.swapaxes(R_0, 1, 2)
    gyro = vee(R_T @ (R_p - R_m)) / (2 * h)
    a_G = (p_p - 2 * p_0 + p_m) / (h * h)
    acc = np.einsum("nji,nj->ni", R_0, a_G - gravity[None, :])
    return gyro, acc, R_0


def simulate_imus(
    model: OsimModel,
    motion: Motion,
    mounts: dict[str, Mount],
    t: np.ndarray,
    noise: NoiseModel | None = None,
    seed: int = 0,
    mag_field: np.ndarray | None = None,
) -> dict[str, VirtualImu]:
    """Virtual IMUs at times `t` (inside the motion's time span).

    With `noise`, each sensor gets (seeded, independent per sensor) a placement
    error, soft-tissue wobble of its pose, then scale error, bias and white noise.
    """
    t = np.asarray(t, dtype=float)
    if t[0] - DIFF_STEP_S < motion.t0 - 1e-9 or t[-1] + DIFF_STEP_S > motion.t1 + 1e-9:
        raise ValueError(
            f"{motion.source}: times {t[0]:.4f}..{t[-1]:.4f} s must lie inside the motion "
            f"{motion.t0:.4f}..{motion.t1:.4f} s shrunk by {DIFF_STEP_S} s"
        )
    rng = np.random.default_rng(seed)
    out: dict[str, VirtualImu] = {}
    for name, mount in mounts.items():
        sensor_rng = np.random.default_rng(rng.integers(2**63))
        if noise is not None:
            mount = noise.misplace(mount, sensor_rng)
            wobble = soft_tissue_offsets(noise, t, sensor_rng)
        else:
            wobble = None

        def pose(tt: np.ndarray, mount: Mount = mount, wobble=wobble) -> tuple[np.ndarray, np.ndarray]:
            R, p = sensor_poses(model, motion, {name: mount}, tt)[name]
            if wobble is not None:
                rotvec, shift = wobble(tt)
                # Skin moves the sensor relative to the bone, in the sensor's own frame.
                R = R @ Rotation.from_rotvec(rotvec).as_matrix()
                p = p + np.einsum("nij,nj->ni", R, shift)
            return R, p

        gyro, acc, R_GS = imu_from_pose_function(pose, t, model.gravity)
        gyro, acc = gyro @ mount.gyro_axes.T, acc * mount.acc_signs
        mag = np.einsum("nji,j->ni", R_GS, mag_field) * mount.acc_signs if mag_field is not None else None
        if noise is not None:
            errors = SensorErrors.draw(noise, sensor_rng)
            acc, gyro = errors.apply(acc, gyro, t, sensor_rng)
        out[name] = VirtualImu(t=t, acc=acc, gyro=gyro, mag=mag)
    return out


def default_mounts(model: OsimModel, sensors: dict[str, str], style: str = "camargo") -> dict[str, Mount]:
    """Sensor name -> Mount on its body: `camargo` axes (CAMARGO_MOUNTS) or the body's own axes (`body`)."""
    if style not in ("camargo", "body"):
        raise ValueError(f"mount style must be 'camargo' or 'body', got {style!r}")
    mounts = {}
    for sensor, body in sensors.items():
        if body not in model.bodies:
            raise ValueError(f"{model.source}: sensor {sensor!r} on body {body!r}, which the model lacks")
        preset = CAMARGO_MOUNTS.get(sensor)
        if style == "camargo" and preset is not None and preset.body == body:
            mounts[sensor] = replace(preset)
        else:
            mounts[sensor] = Mount(body=body)
    return mounts
