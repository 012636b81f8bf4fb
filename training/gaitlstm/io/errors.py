"""The one exception every reader raises for a bad input file."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A problem with an input file; the message names file, line (1-based) and column when known.

    `str(e)` reads like
    ``data/x_imu.csv.gz line 1204, column 'thigh_Gyro_Y': non-numeric value 'abc'``
    so a user can open the file at that line. The parts stay available as
    attributes for code that wants to report them separately.
    """

    def __init__(
        self,
        path: str | Path,
        message: str,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = str(path)
        self.message = message
        self.line = line
        self.column = column
        where = self.path
        if line is not None:
            where += f" line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
