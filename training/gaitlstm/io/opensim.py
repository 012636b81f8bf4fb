"""OpenSim `.mot` / `.sto` tables (inverse kinematics, OpenSense orientations).

Layout: header lines up to `endheader`, a column-name row, tab-separated data.
Headers come in two dialects:

- OpenSim 4 (`version=1`, `inDegrees=yes|no`, `DataRate=...`, `DataType=...`).
- Old SIMM style (`nRows=`, `# SIMM Motion File Header:`, `datacolumns 24`,
  `range 0.4 1.6`) without `inDegrees`: those files are in degrees (OpenSim's
  own reader assumes the same).

OpenSense orientation tables (`DataType=Quaternion`) hold one `w,x,y,z`
string per cell; those columns come back as (N,4) arrays and are never
degree-converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._text import numeric_columns, read_text, split_fields
from .errors import DataError

# Coordinates measured in metres, whatever inDegrees says.
_TRANSLATION_SUFFIXES = ("_tx", "_ty", "_tz")


@dataclass
class OpenSimTable:
    path: Path
    name: str  # first header line (OpenSim's table name), else the file stem
    time: np.ndarray  # (N,) s
    columns: list[str]  # data columns in file order, without `time`
    data: dict[str, np.ndarray]  # column -> (N,) scalars or (N,k) for vector cells (quaternions)
    in_degrees: bool  # rotational scalar columns of `data` ARE in degrees (after any conversion)
    header: dict[str, str]  # `key=value` header lines as written (e.g. inDegrees, DataRate)


def is_translation(column: str) -> bool:
    return column.endswith(_TRANSLATION_SUFFIXES)


def read_opensim_table(path: str | Path, to_degrees: bool = True) -> OpenSimTable:
    """A `.mot`/`.sto` file. With `to_degrees`, radian files (`inDegrees=no`)
    have their rotational scalar columns converted to degrees; translations
    (`*_tx/_ty/_tz`), `time` and vector (quaternion) columns never are."""
    path = Path(path)
    lines = read_text(path).splitlines()
    end = next((i for i, line in enumerate(lines) if line.strip().lower() == "endheader"), None)
    if end is None:
        raise DataError(path, "no 'endheader' line: not an OpenSim .mot/.sto table")
    header: dict[str, str] = {}
    for line in lines[:end]:
        key, eq, value = line.strip().partition("=")
        if eq:
            header[key.strip()] = value.strip()
    first = lines[0].strip() if end > 0 else ""
    name = first if first and "=" not in first else path.stem

    at = next((i for i in range(end + 1, len(lines)) if lines[i].strip()), None)
    if at is None:
        raise DataError(path, "no column-name row after 'endheader'", line=end + 1)
    sep = "\t" if "\t" in lines[at] else None  # very old files use spaces
    names = lines[at].split(sep)
    while names and not names[-1].strip():
        names.pop()
    names = [c.strip() for c in names]
    if not names or names[0].lower() != "time":
        raise DataError(path, f"first column must be 'time', found {names[:1]}", line=at + 1)

    rows: list[list[str]] = []
    row_lines: list[int] = []
    for i in range(at + 1, len(lines)):
        if lines[i].strip():
            rows.append(split_fields(path, lines[i], sep, len(names), i + 1))
            row_lines.append(i + 1)
    if not rows:
        raise DataError(path, "no data rows", line=at + 1)
    line_numbers = np.asarray(row_lines, dtype=np.int64)

    # A column is a vector column when its first cell holds a comma list.
    vector = [k for k in range(1, len(names)) if "," in rows[0][k]]
    scalar = [k for k in range(len(names)) if k not in vector]
    values = numeric_columns(path, rows, line_numbers, names, scalar)
    time = values[:, 0]
    bad = np.flatnonzero(~np.isfinite(time))
    if bad.size:
        raise DataError(path, "missing or non-finite time", line=int(line_numbers[bad[0]]), column=names[0])
    back = np.flatnonzero(np.diff(time) <= 0)
    if back.size:
        i = back[0] + 1
        raise DataError(
            path, f"time not increasing ({time[i]:.6g} s after {time[i - 1]:.6g} s)", line=int(line_numbers[i]), column=names[0]
        )

    flag = header.get("inDegrees", "yes").strip().lower()
    if flag not in ("yes", "no"):
        raise DataError(path, f"inDegrees must be yes or no, found {flag!r}")
    convert = flag == "no" and to_degrees
    data: dict[str, np.ndarray] = {}
    for j, k in enumerate(scalar[1:], start=1):
        column = values[:, j]
        data[names[k]] = np.degrees(column) if convert and not is_translation(names[k]) else column
    for k in vector:
        data[names[k]] = _vector_column(path, rows, line_numbers, names[k], k)

    return OpenSimTable(
        path=path,
        name=name,
        time=time,
        columns=names[1:],
        data={c: data[c] for c in names[1:]},
        in_degrees=flag == "yes" or convert,
        header=header,
    )


def _vector_column(path: Path, rows: list[list[str]], lines: np.ndarray, column: str, k: int) -> np.ndarray:
    width = len(rows[0][k].split(","))
    out = np.empty((len(rows), width))
    for r, row in enumerate(rows):
        parts = row[k].split(",")
        if len(parts) != width:
            raise DataError(path, f"expected {width} comma-separated values, found {len(parts)}", line=int(lines[r]), column=column)
        try:
            out[r] = [float(p) for p in parts]
        except ValueError:
            raise DataError(path, f"non-numeric value {row[k].strip()!r}", line=int(lines[r]), column=column) from None
    return out


def knee_flexion_sign(table: OpenSimTable, side: str = "r") -> float:
    """+1 when the model's `knee_angle_<side>` is positive in flexion, -1 when negative.

    OpenSim models disagree, so the sign is read from the data: the knee flexes
    to 60+ deg in every gait cycle but hyperextends by a few degrees at most,
    so the side with the larger excursion is flexion. Checked on the shared
    data: gait2392/gait2354/gait10dof18musc/Hamner (and Camargo) are NEGATIVE
    in flexion (about -70..+5 deg walking, -112..-6 running); Rajagopal 2015/2016
    (exampleEMGTracking, AddBiomechanics, GaitDynamics) are POSITIVE (0..72 deg).
    """
    column = f"knee_angle_{side}"
    if column not in table.data:
        raise DataError(table.path, f"no {column!r} column to read the knee sign from", column=column)
    knee = table.data[column]
    return -1.0 if -np.nanmin(knee) > np.nanmax(knee) else 1.0


def opensim_angles_to_project(
    table: OpenSimTable, side: str = "r", knee_sign: float | None = None
) -> dict[str, np.ndarray]:
    """OpenSim coordinates -> the project's joints (degrees, docs/contract.md signs).

    `hip_{flexion,adduction,rotation}_<side>` unchanged,
    `ankle_dorsiflexion_<side> = ankle_angle_<side>` (OpenSim: positive dorsiflexion),
    `knee_flexion_<side> = knee_sign * knee_angle_<side>`, where `knee_sign`
    defaults to `knee_flexion_sign(table, side)`: knee_angle is NOT one
    convention across OpenSim models (gait2392 family negative, Rajagopal
    positive in flexion). Joints whose column the model lacks (e.g. the planar
    gait10dof18musc has no hip adduction) are left out; a table with none is a DataError.
    """
    if side not in ("r", "l"):
        raise ValueError(f"side must be 'r' or 'l', got {side!r}")
    if not table.in_degrees:
        raise DataError(table.path, "angles are in radians; read the table with to_degrees=True")
    out: dict[str, np.ndarray] = {}
    for joint in ("hip_flexion", "hip_adduction", "hip_rotation"):
        if f"{joint}_{side}" in table.data:
            out[f"{joint}_{side}"] = table.data[f"{joint}_{side}"]
    if f"knee_angle_{side}" in table.data:
        sign = knee_sign if knee_sign is not None else knee_flexion_sign(table, side)
        out[f"knee_flexion_{side}"] = sign * table.data[f"knee_angle_{side}"]
    if f"ankle_angle_{side}" in table.data:
        out[f"ankle_dorsiflexion_{side}"] = table.data[f"ankle_angle_{side}"]
    if not out:
        raise DataError(table.path, f"no hip/knee/ankle coordinates for side {side!r}")
    return out
