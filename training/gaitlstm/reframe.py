"""The same walking read in other sensor frames: remounted copies of trials.

`evaluate --remounts K` scores a model on them (how much does the way a sensor
is strapped on matter?) and `train --remount-augment K` trains on them. A
remount turns a placement's acc and gyro alike by a proper rotation Q
(`mounting.remount`: what a sensor strapped on turned by Q would have read).

A *left-handed* sensor is the other thing a stream can do to the axes: a Z
label flipped on acc AND gyro (`left_handed`, the fault issue #9 and the
cohort simulator describe). No rotation turns a left-handed frame into a
right-handed one, so the calibration alone cannot absorb it; the v2 pipeline
detects it (`mounting.handedness`) and converts it (`to_right_handed`) before
calibrating, and reports the conversion (features.segment_frame).
`evaluate --remounts K` makes the odd remounts' thighs left-handed to show it.
(AB06's thigh FILE is a consistent mirror of a proper sensor, which no data
test can see; the reader fixes it by name: io/camargo.py.)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .io.types import ImuStream, Trial
from .mounting import remount

LEFT_HANDED = np.diag([1.0, 1.0, -1.0])  # the Z label flipped: on acc and gyro alike


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly distributed proper rotation (a normalised Gaussian quaternion)."""
    w, x, y, z = (q := rng.normal(size=4)) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def remount_stream(s: ImuStream, Q: np.ndarray, left_handed: bool = False) -> ImuStream:
    """`s` read by a sensor turned by Q (and, when `left_handed`, with its Z label
    then flipped on acc and gyro: v = LEFT_HANDED Q v_recorded).
    Orientation and magnetometer are dropped: they would still be in the old frame."""
    acc, gyro = remount(s.acc, s.gyro, Q)
    if left_handed:
        acc, gyro = acc @ LEFT_HANDED.T, gyro @ LEFT_HANDED.T
    return ImuStream(t=s.t, acc=acc, gyro=gyro)


def remount_trial(trial: Trial, rotations: dict[str, np.ndarray], left_handed: tuple[str, ...] = (), tag: str = "") -> Trial:
    """A copy of `trial` with each placement in `rotations` remounted (and made left-handed
    when named in `left_handed`); other placements as recorded. `tag` is appended to the name."""
    imus = dict(trial.imus)
    for p, Q in rotations.items():
        imus[p] = remount_stream(trial.imus[p], Q, p in left_handed)
    note = f"remounted {', '.join(sorted(rotations))}" + (f"; left-handed {', '.join(left_handed)}" if left_handed else "")
    return replace(trial, name=trial.name + tag, imus=imus, notes=[*trial.notes, note])


def random_remount(trial: Trial, placements: tuple[str, ...], rng: np.random.Generator, left_handed_thigh: bool = False,
                   tag: str = "") -> Trial:
    """`trial` with every placement in a random frame; `left_handed_thigh` also makes
    the femur placements left-handed (Z label flipped on acc and gyro)."""
    rotations = {p: random_rotation(rng) for p in placements}
    left = tuple(p for p in placements if p.startswith("femur")) if left_handed_thigh else ()
    return remount_trial(trial, rotations, left, tag)


def main(argv: list[str] | None = None) -> int:
    """`python -m gaitlstm.reframe`: how far v2 features move when every trial of a
    folder is remounted (proper rotations): the calibration is rotation-equivariant,
    so what remount augmentation could teach a v2 model is this residual."""
    import argparse
    from pathlib import Path

    from .dataset import load_trials, to_recordings
    from .features import PIPELINE_V2, SEGMENT_REFERENCE, CalibrationRefused, FeatureConfig

    ap = argparse.ArgumentParser(prog="python -m gaitlstm.reframe", description=main.__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--imus", nargs="+", default=["femur_r", "calcn_r"])
    ap.add_argument("--remounts", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    imus = tuple(args.imus)
    fc = FeatureConfig(placements=imus, pipeline=PIPELINE_V2, euler_reference={p: SEGMENT_REFERENCE for p in imus})
    trials = load_trials(Path(args.data))
    refused: list[CalibrationRefused] = []
    base = {(r.subject, r.trial): r.grid.rows for rs in to_recordings(trials, fc, refused=refused).values() for r in rs}
    worst = 0.0
    for k in range(args.remounts):
        copies = {s: [random_remount(t, imus, np.random.default_rng([args.seed, k, *t.name.encode()])) for t in ts]
                  for s, ts in trials.items()}
        for rs in to_recordings(copies, fc, refused=[]).values():
            for r in rs:
                worst = max(worst, float(np.abs(r.grid.rows - base[(r.subject, r.trial)]).max()))
    print(f"{len(base)} calibrated trials x {args.remounts} remounts: max |v2 feature change| = {worst:.3g}")
    for e in refused:
        print(f"refused (as recorded): {e}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
