"""Shared plumbing of the text readers: file loading, numeric cells, clocks, NaN repair.

Every failure becomes a DataError naming file, line and column, so a reader
never leaks a raw zlib/EOF/ValueError to the user.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

# A clock has a dominant interval when at least this share of its intervals
# lie within RATE_TOLERANCE of the median. Real loggers drop the odd sample;
# a stream timestamped on arrival (BLE, a PC clock) fails this and must be
# resampled by whoever knows its real rate.
RATE_TOLERANCE = 0.02
RATE_DOMINANT_SHARE = 0.9


def read_text(path: str | Path) -> str:
    """The whole file as text; `.gz` is decompressed. Truncated/corrupt files raise DataError."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except IsADirectoryError:
        raise DataError(path, "is a folder, not a file") from None
    except EOFError:
        raise DataError(path, "truncated gzip file (compressed stream ends early)") from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise DataError(path, f"corrupt gzip file ({e})") from None
    try:
        # utf-8-sig drops the BOM some spreadsheet exports put before the header.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Old exports are often Latin-1 (e.g. a degree sign in a header comment).
        return raw.decode("latin-1")


def split_fields(path: Path, line: str, sep: str | None, n_expected: int, line_no: int) -> list[str]:
    """One data row split into exactly `n_expected` fields.

    Trailing empty fields (a separator at the end of the line) are dropped;
    a row with too few fields is what a truncated file looks like.
    """
    fields = line.split(sep)
    while len(fields) > n_expected and fields[-1].strip() == "":
        fields.pop()
    if len(fields) != n_expected:
        hint = " (truncated file?)" if len(fields) < n_expected else ""
        raise DataError(path, f"expected {n_expected} fields, found {len(fields)}{hint}", line=line_no)
    return fields


def numeric_columns(
    path: Path,
    rows: list[list[str]],
    line_numbers: np.ndarray,
    columns: list[str],
    wanted: list[int],
    decimal_comma: bool = False,
) -> np.ndarray:
    """The `wanted` column indices of `rows` as float64 (N, len(wanted)); empty cells are NaN."""
    n, k = len(rows), len(wanted)
    if not decimal_comma:
        # Fast path: Python's float() is several times faster than numpy's
        # str->float cast and accepts the padding .mot files put around numbers.
        try:
            return np.array([float(row[i]) for row in rows for i in wanted], dtype=np.float64).reshape(n, k)
        except ValueError:
            pass  # an empty or bad cell: the careful path below decides which
    out = np.empty((n, k))
    for r, row in enumerate(rows):
        for j, i in enumerate(wanted):
            cell = row[i].strip()
            if not cell:
                out[r, j] = np.nan
                continue
            try:
                out[r, j] = float(cell.replace(",", ".") if decimal_comma else cell)
            except ValueError:
                raise DataError(path, f"non-numeric value {cell!r}", line=int(line_numbers[r]), column=columns[i]) from None
    return out


def check_time(
    path: Path, t: np.ndarray, line_numbers: np.ndarray, column: str
) -> tuple[np.ndarray, int]:
    """(keep mask, duplicates) for a time column that must increase.

    An exactly repeated timestamp is a logger writing the same sample twice:
    the later row is dropped and counted. Time going backwards is not
    repairable without guessing, so it is an error naming the line.
    """
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise DataError(path, "missing or non-finite time", line=int(line_numbers[bad[0]]), column=column)
    dt = np.diff(t)
    back = np.flatnonzero(dt < 0)
    if back.size:
        i = back[0] + 1
        raise DataError(
            path,
            f"time not increasing ({t[i]:.6g} s after {t[i - 1]:.6g} s)",
            line=int(line_numbers[i]),
            column=column,
        )
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = dt > 0
    return keep, int((~keep).sum())


def infer_rate(path: Path, t: np.ndarray, column: str = "time") -> float:
    """Sample rate (Hz) from the dominant interval of a strictly increasing clock."""
    if len(t) < 2:
        raise DataError(path, f"cannot infer the sample rate from {len(t)} sample(s); need at least 2", column=column)
    dt = np.diff(t)
    step = float(np.median(dt))
    regular = np.abs(dt - step) <= RATE_TOLERANCE * step
    share = float(regular.mean())
    if step <= 0 or share < RATE_DOMINANT_SHARE:
        raise DataError(
            path,
            f"cannot infer the sample rate: timestamps are irregular (only {share:.0%} of intervals "
            f"within {RATE_TOLERANCE:.0%} of the median {step:.6g} s)",
            column=column,
        )
    # Timestamps printed with few decimals (8.255, 8.26) give 199.99999... Hz.
    return round(1.0 / step, 3)


def repair_nan_runs(
    path: Path,
    t: np.ndarray,
    values: np.ndarray,
    line_numbers: np.ndarray,
    column: str,
    max_nan_run: int,
) -> tuple[np.ndarray, int, int]:
    """(repaired copy, NaN samples filled, runs) for one channel.

    Short dropouts (<= max_nan_run samples) are filled by linear interpolation
    in time; at the ends of the file the nearest valid value is held. A longer
    run would invent signal, so it is an error naming the first missing line.
    """
    infinite = np.flatnonzero(np.isinf(values))
    if infinite.size:
        raise DataError(path, "infinite value", line=int(line_numbers[infinite[0]]), column=column)
    missing = np.isnan(values)
    if not missing.any():
        return values, 0, 0
    if missing.all():
        raise DataError(path, "no valid value in the whole column", column=column)
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    lengths = ends - starts
    too_long = np.flatnonzero(lengths > max_nan_run)
    if too_long.size:
        k = too_long[0]
        raise DataError(
            path,
            f"{lengths[k]} consecutive missing values (more than max_nan_run={max_nan_run})",
            line=int(line_numbers[starts[k]]),
            column=column,
        )
    out = values.copy()
    out[missing] = np.interp(t[missing], t[~missing], values[~missing])
    return out, int(missing.sum()), int(len(starts))
