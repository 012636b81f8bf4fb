"""Camargo et al. 2021 force-plate files (`<trial>_fp.csv.gz`, CC-BY-4.0).

Layout: `Header` (trial clock, s, 1000 Hz), then per plate `<plate>_{vx,vy,vz}`
(force, N; `vy` vertical, positive up), `_{px,py,pz}` (centre of pressure, m)
and `_moment_{x,y,z}` (N m), for plates `FP1, FP2, FP5, FP6, Combined` (and
`Treadmill_R/L`, unused here). A plate reads exactly zero while no foot is on
it. Only the vertical force is read: it is all the gait-event truth needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._text import check_time, infer_rate, numeric_columns, read_text, split_fields
from .errors import DataError

# The walkway plates of the level-ground circuit. The treadmill channels
# (`Treadmill_R/L`) are left out: the subject stands on the stopped treadmill
# at the ends of a trial, where there are no walking steps to time.
WALKWAY_PLATES = ("FP1", "FP2", "FP5", "FP6", "Combined")

TIME_COLUMN = "Header"


@dataclass
class ForcePlates:
    """Vertical ground reaction force of each plate on the trial clock."""

    t: np.ndarray  # (N,) s, strictly increasing
    vertical: dict[str, np.ndarray]  # plate -> (N,) N, positive up
    rate_hz: float
    source: str
    notes: list[str] = field(default_factory=list)


def vertical_column(plate: str) -> str:
    return f"{plate}_vy"


def read_forceplates(path: str | Path, plates: tuple[str, ...] = WALKWAY_PLATES) -> ForcePlates:
    """Read `Header` and `<plate>_vy` for each of `plates`; DataError names file, line and column."""
    path = Path(path)
    lines = read_text(path).splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        raise DataError(path, "empty file (no header row)")
    columns = [c.strip().strip('"') for c in lines[header_at].split(",")]
    wanted = [TIME_COLUMN, *(vertical_column(p) for p in plates)]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise DataError(
            path,
            f"missing column(s) {missing}; a force-plate file needs {TIME_COLUMN!r} and '<plate>_vy' for plates {list(plates)}",
            line=header_at + 1,
            column=missing[0],
        )
    rows: list[list[str]] = []
    numbers: list[int] = []
    for i in range(header_at + 1, len(lines)):
        if lines[i].strip():
            rows.append(split_fields(path, lines[i], ",", len(columns), i + 1))
            numbers.append(i + 1)
    if len(rows) < 2:
        raise DataError(path, f"{len(rows)} data row(s); need at least 2 to know the sample rate")
    line_numbers = np.asarray(numbers, dtype=np.int64)
    data = numeric_columns(path, rows, line_numbers, columns, [columns.index(c) for c in wanted])
    notes: list[str] = []
    keep, duplicates = check_time(path, data[:, 0], line_numbers, TIME_COLUMN)
    if duplicates:
        notes.append(f"{path.name}: {duplicates} duplicate timestamps removed")
        data, line_numbers = data[keep], line_numbers[keep]
    for j, name in enumerate(wanted[1:], start=1):
        bad = np.flatnonzero(~np.isfinite(data[:, j]))
        if bad.size:
            # A hole in the force would hide or invent a contact edge: refuse, do not guess.
            raise DataError(path, "missing or non-finite force", line=int(line_numbers[bad[0]]), column=name)
    t = data[:, 0]
    rate = infer_rate(path, t, TIME_COLUMN)
    vertical = {p: data[:, j] for j, p in enumerate(plates, start=1)}
    return ForcePlates(t=t, vertical=vertical, rate_hz=rate, source=str(path), notes=notes)
