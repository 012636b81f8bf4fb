"""Camargo et al. 2021 (J Biomech 119:110320, CC-BY-4.0) trial files.

`<trial>_imu.csv[.gz]`: `time,{foot,shank,thigh,trunk}_{Accel,Gyro}_{X,Y,Z}`,
accelerometer in g, gyroscope in rad/s, 200 Hz. The same layout with
placement names (`{pelvis,femur_r,femur_l,tibia_r,tibia_l,calcn_r,calcn_l,torso}_...`)
is read too: that is how the virtual cohort stores both legs.
`<trial>_ik.csv[.gz]`: OpenSim inverse kinematics on the same `time` column,
degrees, with Camargo's knee sign (flexion NEGATIVE, about -81..-1 deg).
The reader returns contract units and the project's sign convention, and
right-handed sensor frames: Camargo's thigh accelerometer is negated on read
(CAMARGO_THIGH_ACC_SIGNS below; docs/calibration.md "AB06").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._text import check_time, infer_rate, numeric_columns, read_text, repair_nan_runs, split_fields
from .errors import DataError
from .types import G, ImuStream, Trial

CAMARGO_PLACEMENTS = {"thigh": "femur_r", "shank": "tibia_r", "foot": "calcn_r", "trunk": "torso"}

# Columns may also be named by placement (`femur_l_Accel_X`, same units): the
# virtual cohort (simulate/cohort.py) writes all seven lower-body placements,
# which Camargo's four names cannot express.
PLACEMENT_COLUMNS = ("pelvis", "torso", "femur_r", "femur_l", "tibia_r", "tibia_l", "calcn_r", "calcn_l")

AXES = ("X", "Y", "Z")

# Camargo's thigh stream is a consistent mirror of a proper sensor: against the
# femur motion of the IK (`simulate validate`'s channel-map fit) the gyro's map
# is a proper rotation and the accelerometer's is -1 times it, i.e. the
# accelerometer reads -f (its rest mean points DOWN the gyro's x axis). Negating
# all three accelerometer axes makes the stream what a correctly wired sensor
# in the gyro's frame reads. No test on the stream alone can see this (a proper
# sensor watching the mirrored motion reads the same: docs/calibration.md, "What
# the test can and cannot see"), so it is fixed here, by name, not detected.
# It applies to every file in Camargo's naming (`thigh_Accel_*`), not to AB06
# alone: the reader has no subject to key on, the dataset records every subject
# with the same sensors and pipeline, and the flip is the same in all 24 AB06
# trials (a convention, not a strapping). Files in placement naming
# (`femur_r_Accel_*`: the virtual cohort) hold proper sensors and are read as is.
# The edge's replay reader (edge/sources/replay/camargo.ts) applies the same.
CAMARGO_THIGH_ACC_SIGNS = (-1.0, -1.0, -1.0)

# project joint -> (Camargo IK column, sign). Camargo's knee_angle is negative
# in flexion (checked on AB06: -81..-1 deg), the project's knee_flexion positive.
_IK_JOINTS = {
    "hip_flexion": ("hip_flexion", 1.0),
    "hip_adduction": ("hip_adduction", 1.0),
    "hip_rotation": ("hip_rotation", 1.0),
    "knee_flexion": ("knee_angle", -1.0),
    "ankle_dorsiflexion": ("ankle_angle", 1.0),
}

# The IK clock may differ from the IMU clock by print rounding, not more.
_SAME_CLOCK_TOL_S = 1e-6


class _Table:
    """A CSV with a header row, held as text rows until columns are asked for."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lines = read_text(path).splitlines()
        header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
        if header_at is None:
            raise DataError(path, "empty file (no header row)")
        self.columns = [c.strip().strip('"') for c in lines[header_at].split(",")]
        rows: list[list[str]] = []
        line_numbers: list[int] = []
        n = len(self.columns)
        for i in range(header_at + 1, len(lines)):
            line = lines[i]
            if not line.strip():
                continue
            rows.append(split_fields(path, line, ",", n, i + 1))
            line_numbers.append(i + 1)
        self.rows = rows
        self.line_numbers = np.asarray(line_numbers, dtype=np.int64)

    def require(self, names: list[str]) -> None:
        missing = [c for c in names if c not in self.columns]
        if missing:
            raise DataError(
                self.path,
                f"missing column(s) {missing}; the header has {len(self.columns)} columns",
                line=1,
                column=missing[0],
            )

    def numbers(self, names: list[str]) -> np.ndarray:
        idx = [self.columns.index(c) for c in names]
        return numeric_columns(self.path, self.rows, self.line_numbers, self.columns, idx)


def _read_clocked(
    table: _Table, names: list[str], max_nan_run: int, notes: list[str]
) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
    """(time, column -> values, rate) with duplicates dropped and short NaN runs filled."""
    path = table.path
    table.require(["time", *names])
    data = table.numbers(["time", *names])
    if len(data) < 2:
        raise DataError(path, f"cannot infer the sample rate from {len(data)} data row(s); need at least 2")
    t = data[:, 0]
    keep, duplicates = check_time(path, t, table.line_numbers, "time")
    if duplicates:
        notes.append(f"{path.name}: {duplicates} duplicate timestamps removed")
        data, lines = data[keep], table.line_numbers[keep]
        t = data[:, 0]
    else:
        lines = table.line_numbers
    rate = infer_rate(path, t)
    columns: dict[str, np.ndarray] = {}
    for k, name in enumerate(names, start=1):
        values, filled, runs = repair_nan_runs(path, t, data[:, k], lines, name, max_nan_run)
        if filled:
            notes.append(f"{path.name}: column {name!r}: {filled} missing values interpolated ({runs} runs)")
        columns[name] = values
    return t, columns, rate


def trial_name(imu_path: str | Path) -> str:
    """`levelground_ccw_normal_04_01` from `.../levelground_ccw_normal_04_01_imu.csv.gz`."""
    name = Path(imu_path).name
    for suffix in (".gz", ".csv"):
        name = name.removesuffix(suffix)
    return name.removesuffix("_imu")


def read_camargo_trial(imu_path: str | Path, ik_path: str | Path | None = None, max_nan_run: int = 5) -> Trial:
    """One Camargo trial in contract units; `ik_path` adds the reference joint angles.

    IMUs: placements per CAMARGO_PLACEMENTS (or columns named by placement,
    PLACEMENT_COLUMNS), acc g -> m/s^2, gyro rad/s as is; Camargo's `thigh`
    accelerometer negated on all three axes (CAMARGO_THIGH_ACC_SIGNS): a fixed
    property of the format, like the knee sign, so not a per-trial note.
    Angles: `hip_{flexion,adduction,rotation}_{r,l}` unchanged,
    `knee_flexion_s = -knee_angle_s`, `ankle_dorsiflexion_s = ankle_angle_s`.
    Right-leg columns are required, left-leg ones converted when present.
    Sensors may be left out whole (a thigh + foot recording has no shank or
    trunk columns); a sensor with only some of its six columns is an error.
    Missing values: runs up to `max_nan_run` samples are interpolated and
    counted in `notes`; longer runs raise DataError.
    """
    imu_path = Path(imu_path)
    notes: list[str] = []
    table = _Table(imu_path)
    sensors = _sensors_in(imu_path, table.columns)
    channels = [f"{s}_{q}_{a}" for s in sensors for q in ("Accel", "Gyro") for a in AXES]
    t, cols, rate = _read_clocked(table, channels, max_nan_run, notes)

    imus: dict[str, ImuStream] = {}
    for sensor in sensors:
        placement = CAMARGO_PLACEMENTS.get(sensor, sensor)
        acc = np.stack([cols[f"{sensor}_Accel_{a}"] for a in AXES], axis=1) * G
        if sensor == "thigh":
            acc = acc * np.asarray(CAMARGO_THIGH_ACC_SIGNS)
        gyro = np.stack([cols[f"{sensor}_Gyro_{a}"] for a in AXES], axis=1)
        imus[placement] = ImuStream(t=t, acc=acc, gyro=gyro)

    angles_t: np.ndarray | None = None
    angles: dict[str, np.ndarray] = {}
    sources = [str(imu_path)]
    if ik_path is not None:
        ik_path = Path(ik_path)
        sources.append(str(ik_path))
        angles_t, angles = _read_ik(ik_path, max_nan_run, notes)
        _check_shared_clock(ik_path, t, angles_t, notes)

    return Trial(
        name=trial_name(imu_path),
        imus=imus,
        angles_t=angles_t,
        angles=angles,
        rate_hz=rate,
        source=", ".join(sources),
        notes=notes,
    )


def _sensors_in(path: Path, columns: list[str]) -> list[str]:
    """Sensor column prefixes present: Camargo names, then placement names; one sensor per placement."""
    camargo = [s for s in CAMARGO_PLACEMENTS if any(c.startswith(f"{s}_") for c in columns)]
    # Placement names are matched on the channel ("pelvis_Accel_"), not the bare prefix:
    # an IMU file has no business holding `pelvis_tilt`, but be strict anyway.
    by_placement = [p for p in PLACEMENT_COLUMNS if any(c.startswith((f"{p}_Accel_", f"{p}_Gyro_")) for c in columns)]
    both = [p for p in by_placement if p in {CAMARGO_PLACEMENTS[s] for s in camargo}]
    if both:
        names = [s for s in camargo if CAMARGO_PLACEMENTS[s] in both]
        raise DataError(path, f"placement(s) {both} appear twice, as {names} and by placement name", line=1, column=f"{both[0]}_Accel_X")
    sensors = camargo + by_placement
    if not sensors:
        raise DataError(
            path,
            f"no IMU columns: expected <sensor>_Accel_X... for sensors {list(CAMARGO_PLACEMENTS)} or placements {list(PLACEMENT_COLUMNS)}",
            line=1,
        )
    return sensors


def _read_ik(path: Path, max_nan_run: int, notes: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    table = _Table(path)
    wanted: list[tuple[str, str, float]] = []  # (project joint, column, sign)
    for side in ("r", "l"):
        for joint, (column, sign) in _IK_JOINTS.items():
            col = f"{column}_{side}"
            if side == "r" or col in table.columns:
                wanted.append((f"{joint}_{side}", col, sign))
    t, cols, _rate = _read_clocked(table, [c for _, c, _ in wanted], max_nan_run, notes)
    return t, {joint: sign * cols[col] for joint, col, sign in wanted}


def _check_shared_clock(ik_path: Path, t_imu: np.ndarray, t_ik: np.ndarray, notes: list[str]) -> None:
    """Camargo writes IMU and IK on one `time` column; say so when a pair does not."""
    if len(t_imu) == len(t_ik) and np.max(np.abs(t_imu - t_ik)) <= _SAME_CLOCK_TOL_S:
        return
    overlap = min(t_imu[-1], t_ik[-1]) - max(t_imu[0], t_ik[0])
    if overlap <= 0:
        raise DataError(
            ik_path,
            f"IK time {t_ik[0]:.3f}..{t_ik[-1]:.3f} s does not overlap the IMU time "
            f"{t_imu[0]:.3f}..{t_imu[-1]:.3f} s",
            column="time",
        )
    notes.append(
        f"{ik_path.name}: IK time differs from the IMU time ({len(t_ik)} vs {len(t_imu)} rows, "
        f"{t_ik[0]:.3f}..{t_ik[-1]:.3f} s vs {t_imu[0]:.3f}..{t_imu[-1]:.3f} s); angles keep their own clock"
    )
