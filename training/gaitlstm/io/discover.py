"""Finding trials on disk."""

from __future__ import annotations

from pathlib import Path

from .camargo import trial_name
from .errors import DataError


def find_camargo_trials(folder: str | Path) -> list[tuple[str, Path, Path | None]]:
    """(name, imu, ik) for every `*_imu.csv[.gz]` in `folder`, sorted by name.

    `ik` is the matching `<name>_ik.csv[.gz]`, or None when the trial has no
    reference angles (enough for inference, not for training). A folder with
    no IMU file at all is a DataError: silently training on nothing helps nobody.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "not a folder")
    found: dict[str, tuple[str, Path, Path | None]] = {}
    for imu in sorted(folder.iterdir()):
        if not (imu.name.endswith("_imu.csv") or imu.name.endswith("_imu.csv.gz")) or not imu.is_file():
            continue
        name = trial_name(imu)
        if name in found:
            raise DataError(imu, f"trial {name!r} exists both as .csv and .csv.gz; keep one")
        ik = next((p for p in (folder / f"{name}_ik.csv.gz", folder / f"{name}_ik.csv") if p.is_file()), None)
        found[name] = (name, imu, ik)
    if not found:
        raise DataError(folder, "no *_imu.csv or *_imu.csv.gz trial files")
    return [found[name] for name in sorted(found)]
