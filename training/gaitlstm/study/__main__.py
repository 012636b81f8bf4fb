"""python -m gaitlstm.study {compare,sweep,report} (docs/study.md)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


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
    c.add_argument("--no-imu-ik", action="store_true")

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

    a = ap.parse_args(argv)
    if a.cmd == "compare":
        from .runner import PRODUCT, CompareConfig, compare

        sets = tuple(tuple(p.split(",")) for p in a.placements) if a.placements else (PRODUCT,)
        compare(CompareConfig(
            cohort=a.cohort, real=a.real, out=a.out, archs=tuple(a.archs.split(",")), placement_sets=sets,
            ratios=a.ratios, ua_epochs=a.ua_epochs, table_ratio=a.table_ratio, n_test_subjects=a.n_test_subjects,
            exclude_ab06_kinematics=not a.keep_ab06_kinematics, include=a.include, max_epochs=a.max_epochs,
            patience=a.patience, train_stride=a.train_stride, lr=a.lr, ua_lr=a.ua_lr, threads=a.threads,
            imu_ik=not a.no_imu_ik,
        ))
    elif a.cmd == "sweep":
        from .sweep import SweepConfig, sweep

        sweep(SweepConfig(
            cohort=a.cohort, out=a.out, method=a.method, arch=a.arch, workers=a.workers,
            sizes=a.sizes or ((1, 2, 3, 4, 5, 6, 7) if a.all else (1, 2, 3, 4, 5, 6)), n_test_subjects=a.n_test_subjects,
            include=a.include, epochs=a.epochs, patience=a.patience, train_stride=a.train_stride, lr=a.lr, limit=a.limit,
            seed=a.seed,
        ))
    else:
        from .report import write_report

        print(write_report([Path(p) for p in a.runs], Path(a.out), repeats=[Path(p) for p in a.repeats]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
