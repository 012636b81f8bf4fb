"""Synthetic IMUs from mocap kinematics: an OpenSim model + joint coordinates -> virtual sensors.

`osim` reads the model, `kinematics` turns coordinates into body poses,
`imu` turns poses into gyro/accelerometer (+ magnetometer) readings,
`noise` adds what real sensors and straps add, `writer` writes a Camargo-style
trial pair, `validate` compares with AB06's recorded IMUs. docs/simulator.md.
"""

from .imu import CAMARGO_MOUNTS, SENSOR_BODIES, Mount, VirtualImu, default_mounts, simulate_imus
from .kinematics import Coordinates, Motion, body_transforms, read_coordinates
from .noise import NoiseModel
from .osim import OsimModel, load_osim, parse_osim
from .writer import write_trial

__all__ = [
    "CAMARGO_MOUNTS",
    "SENSOR_BODIES",
    "Coordinates",
    "Motion",
    "Mount",
    "NoiseModel",
    "OsimModel",
    "VirtualImu",
    "body_transforms",
    "default_mounts",
    "load_osim",
    "parse_osim",
    "read_coordinates",
    "simulate_imus",
    "write_trial",
]
