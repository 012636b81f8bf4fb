"""python -m gaitlstm.study {compare,sweep,report,standing} (docs/study.md)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..features import PIPELINE_V2, PIPELINES


def _floats(s: str) -> tuple[float, ...]:
    return tuple(float(x) for x in s.split(","))


def _ints(s: str) -> tuple[int, ...]:
    return tuple(int(x) for x in s.split(","))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    ap = argparse.ArgumentParser(prog="python -m gaitlstm.study", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("compare", help="UI / UG / UA / IMU-IK, LSTM and CNN, cohort and AB06 real")
    c.add_argument("--cohort", required=True)
    c.add_argument("--real", required=True, help="the new person's trials folder (AB06 real)")
    c.add_argument("--out", default="runs/study")
    c.add_argument("--archs", default="lstm,cnn")
    c.add_argument("--placements", action="append", default=None,
                   help="a placement set, comma-separated; repeatable (default: femur_r,calcn_r)")
    c.add_argument("--ratios", type=_floats, default=(0.05, 0.1, 0.2, 0.5))
    c.add_argument("--ua-epochs", type=_ints, default=(1, 5, 15))
    c.add_argument("--table-ratio", type=float, default=0.5)
    c.add_argument("--n-test-subjects", type=int, default=3)
    c.add_argument("--keep-ab06-kinematics", action="store_true", help="keep cohort subjects that replay AB06's mocap")
    c.add_argument("--include", default="*", help="trial name pattern for the cohort")
    c.add_argument("--max-epochs", type=int, default=10)
    c.add_argument("--patience", type=int, default=3)
    c.add_argument("--train-stride", type=int, default=10)
    c.add_argument("--lr", type=float, default=1e-3)
    c.add_argument("--ua-lr", type=float, default=1e-3)
    c.add_argument("--threads", type=int, default=0)
    c.add_argument("--seed", type=int, default=0, help="training seed (a repeat with another seed: another --out)")
    c.add_argument("--no-imu-ik", action="store_true")
    c.add_argument("--pipeline", default=PIPELINE_V2, choices=PIPELINES,
                   help="feature pipeline (docs/contract.md): gait-features/2, the shipped contract (default), or "
                        "gait-features/1, the study's first figures")
    c.add_argument("--calibration-seconds", type=float, default=30.0,
                   help="gait-features/2: the first seconds of each trial that calibrate it (as `train`)")

    s = sub.add_parser("sweep", help="UG for every IMU combination (resumable, parallel)")
    s.add_argument("--cohort", required=True)
    s.add_argument("--method", default="ug", choices=["ug", "ui"],
                   help="ug: one model per combination, tested on unseen subjects; ui: one per test subject, on its own data")
    s.add_argument("--arch", default="lstm", choices=["lstm", "cnn"])
    s.add_argument("--out", default="runs/sweep")
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--all", action="store_true", help="all 127 combinations (default: sizes 1..6, the study's 126)")
    s.add_argument("--sizes", type=_ints, default=None,
                   help="only combinations of these sizes, e.g. 2 for the 21 pairs (a seed repeat)")
    s.add_argument("--seed", type=int, default=0, help="training seed; repeats with other seeds go to other --out folders")
    s.add_argument("--epochs", type=int, default=2)
    s.add_argument("--patience", type=int, default=2)
    s.add_argument("--train-stride", type=int, default=25)
    s.add_argument("--lr", type=float, default=3e-3)
    s.add_argument("--n-test-subjects", type=int, default=3)
    s.add_argument("--include", default="*")
    s.add_argument("--limit", type=int, default=0, help="run at most this many pending combinations")

    r = sub.add_parser("report", help="Markdown + PNG from runs/study and runs/sweep")
    r.add_argument("--runs", nargs="+", required=True, help="folders written by compare and/or sweep")
    r.add_argument("--out", default="reports/study")
    r.add_argument("--repeats", nargs="*", default=[],
                   help="sweep folders of the same settings with other seeds: the pairs' seed spread")

    st = sub.add_parser("standing", help="issue #9 item 6: does a standing-pose offset lower a UG model's error?")
    st.add_argument("--model", required=True, help="a UG checkpoint (compare writes <out>/ug_<arch>_<placements>.pt)")
    st.add_argument("--real", default=None, help="the new person's trials folder (AB06 real: stands at each trial's start)")
    st.add_argument("--cohort", default=None, help="the model's cohort (--mounting random): its held-out subjects, "
                                                   "each trial with a synthesized neutral stand")
    st.add_argument("--data", default="../shared/data", help="the shared data folder (the cohort's OpenSim models)")
    st.add_argument("--out", default="runs/standing")
    st.add_argument("--test-from", type=float, default=0.5, help="score the last (1 - this) of every trial")
    st.add_argument("--stand-s", type=float, default=3.0, help="seconds of the synthesized stand")
    st.add_argument("--threads", type=int, default=0)

    a = ap.parse_args(argv)
    if a.cmd == "compare":
        from .runner import PRODUCT, CompareConfig, compare

        sets = tuple(tuple(p.split(",")) for p in a.placements) if a.placements else (PRODUCT,)
        compare(CompareConfig(
            cohort=a.cohort, real=a.real, out=a.out, archs=tuple(a.archs.split(",")), placement_sets=sets,
            ratios=a.ratios, ua_epochs=a.ua_epochs, table_ratio=a.table_ratio, n_test_subjects=a.n_test_subjects,
            exclude_ab06_kinematics=not a.keep_ab06_kinematics, include=a.include, max_epochs=a.max_epochs,
            patience=a.patience, train_stride=a.train_stride, lr=a.lr, ua_lr=a.ua_lr, threads=a.threads,
            imu_ik=not a.no_imu_ik, seed=a.seed, pipeline=a.pipeline, calibration_seconds=a.calibration_seconds,
        ))
    elif a.cmd == "sweep":
        from .sweep import SweepConfig, sweep

        sweep(SweepConfig(
            cohort=a.cohort, out=a.out, method=a.method, arch=a.arch, workers=a.workers,
            sizes=a.sizes or ((1, 2, 3, 4, 5, 6, 7) if a.all else (1, 2, 3, 4, 5, 6)), n_test_subjects=a.n_test_subjects,
            include=a.include, epochs=a.epochs, patience=a.patience, train_stride=a.train_stride, lr=a.lr, limit=a.limit,
            seed=a.seed,
        ))
    elif a.cmd == "standing":
        from .standing import StandingConfig, standing

        if not (a.real or a.cohort):
            ap.error("standing: give --real and/or --cohort")
        standing(StandingConfig(model=a.model, real=a.real, cohort=a.cohort, out=a.out, data=a.data,
                                test_from=a.test_from, stand_s=a.stand_s, threads=a.threads))
    else:
        from .report import write_report

        print(write_report([Path(p) for p in a.runs], Path(a.out), repeats=[Path(p) for p in a.repeats]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
