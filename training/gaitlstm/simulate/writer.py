"""Virtual IMUs -> a Camargo-style trial pair that `read_camargo_trial` reads back.

`<trial>_imu.csv[.gz]`: `time,{sensor}_Accel_{X,Y,Z},{sensor}_Gyro_{X,Y,Z}`,
sensors named as Camargo's (`thigh`...) or by placement (`femur_l`...)
(accelerometer in g, Camargo's `thigh` one negated as in Camargo's files, gyroscope rad/s; `{sensor}_Mag_{X,Y,Z}` when simulated,
which the reader ignores). `<trial>_ik.csv[.gz]`: `time` plus every model
coordinate in OpenSim's own names and sign, degrees (translations metres),
on the same clock. A folder `<subject>/trials/` of such pairs is a cohort
for `dataset.discover_subjects`.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..io.camargo import CAMARGO_PLACEMENTS, CAMARGO_THIGH_ACC_SIGNS, PLACEMENT_COLUMNS
from ..io.types import G
from .imu import VirtualImu

AXES = ("X", "Y", "Z")
SENSOR_ORDER = ("foot", "shank", "thigh", "trunk")  # Camargo's column order
# Then placement-named sensors (io.camargo.PLACEMENT_COLUMNS order); a trial uses one naming or the other.
COLUMN_ORDER = SENSOR_ORDER + PLACEMENT_COLUMNS


def ik_path_for(imu_path: str | Path) -> Path:
    p = Path(imu_path)
    for suffix in ("_imu.csv", "_imu.csv.gz"):
        if p.name.endswith(suffix):
            return p.with_name(p.name[: -len(suffix)] + suffix.replace("_imu", "_ik"))
    raise ValueError(f"{p}: an IMU trial file must be named <trial>_imu.csv or <trial>_imu.csv.gz")


def _write(path: Path, header: list[str], table: np.ndarray) -> None:
    lines = [",".join(header)]
    # Time in microseconds (a long recording would lose samples to %g rounding).
    lines += [f"{row[0]:.6f}," + ",".join(f"{v:.7g}" for v in row[1:]) for row in table]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        # mtime 0: the same trial gives the same bytes, so a seeded cohort is reproducible file by file.
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
            f.write(text.encode("utf-8"))
    else:
        path.write_text(text, encoding="utf-8")


def write_trial(
    imu_path: str | Path,
    imus: dict[str, VirtualImu],
    coordinates: dict[str, np.ndarray] | None = None,
    translational: set[str] | frozenset[str] = frozenset(),
) -> tuple[Path, Path | None]:
    """Write the IMU file and, with `coordinates` (SI units, on the IMUs' clock), the matching `_ik` file.

    Sensors are named as Camargo's (`thigh`, `shank`, `foot`, `trunk`), which
    `read_camargo_trial` maps to femur_r, tibia_r, calcn_r, torso, or by
    placement (`pelvis`, `femur_l`, ... as in io.camargo.PLACEMENT_COLUMNS),
    which it reads as they are. Not both names for one placement.
    """
    imu_path = Path(imu_path)
    ik_path = ik_path_for(imu_path)
    unknown = [s for s in imus if s not in COLUMN_ORDER]
    if unknown:
        raise ValueError(
            f"sensor names {unknown} are neither Camargo's {SENSOR_ORDER} nor placements {PLACEMENT_COLUMNS}; the reader would not find them"
        )
    camargo_as = CAMARGO_PLACEMENTS
    twice = [s for s in imus if s in camargo_as and camargo_as[s] in imus]
    if twice:
        raise ValueError(f"sensors {twice} and {[camargo_as[s] for s in twice]} are the same placement")
    sensors = [s for s in COLUMN_ORDER if s in imus]
    if not sensors:
        raise ValueError("no sensors to write")
    t = imus[sensors[0]].t
    header, columns = ["time"], [t]
    for s in sensors:
        imu = imus[s]
        if len(imu.t) != len(t) or np.max(np.abs(imu.t - t)) > 1e-9:
            raise ValueError(f"sensor {s!r} is on a different clock from {sensors[0]!r}")
        header += [f"{s}_Accel_{a}" for a in AXES] + [f"{s}_Gyro_{a}" for a in AXES]
        # Camargo's `thigh` columns hold a consistent mirror (the reader negates the
        # accelerometer back): written the same way, a file reads back as simulated.
        signs = CAMARGO_THIGH_ACC_SIGNS if s == "thigh" else (1.0, 1.0, 1.0)
        columns += [signs[k] * imu.acc[:, k] / G for k in range(3)] + [imu.gyro[:, k] for k in range(3)]
        if imu.mag is not None:
            header += [f"{s}_Mag_{a}" for a in AXES]
            columns += [imu.mag[:, k] for k in range(3)]
    _write(imu_path, header, np.column_stack(columns))
    if coordinates is None:
        return imu_path, None
    names = list(coordinates)
    values = [coordinates[c] if c in translational else np.degrees(coordinates[c]) for c in names]
    _write(ik_path, ["time", *names], np.column_stack([t, *values]))
    return imu_path, ik_path
