"""`python -m gaitlstm <command>`: prepare, train, export, evaluate, report."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from .train import TrainConfig

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "reduced-femur-calcn-lstm"


def add_train_args(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, typed from its default."""
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        if f.name == "imus":
            p.add_argument(flag, nargs="+", default=list(value), help="placements in input order")
        elif f.name == "arch":
            p.add_argument(flag, choices=["lstm", "cnn"], default=value)
        elif f.name == "method":
            p.add_argument(flag, choices=["ui", "ug", "ua"], default=value)
        elif f.name == "joints":
            p.add_argument(flag, nargs="+", default=list(value))
        elif isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        elif isinstance(value, (int, float)):
            p.add_argument(flag, type=type(value), default=value)
        else:
            p.add_argument(flag, default=value, type=lambda s: None if s in ("", "none") else s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gaitlstm", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("prepare", help="read trials, run the feature pipeline, report what was found")
    p.add_argument("--data", default=str(TrainConfig().data))
    p.add_argument("--imus", nargs="+", default=["femur_r", "calcn_r"])

    add_train_args(sub.add_parser("train", help="train one model (ui, ug or ua)"))

    p = sub.add_parser("export", help="checkpoint -> fp32 + int8 ONNX, manifest, golden vectors")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", default=str(SHIPPED))
    p.add_argument("--name", default="reduced-femur-calcn-lstm")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--data", default=None, help="data folder (default: the one the checkpoint was trained on)")

    p = sub.add_parser("evaluate", help="score an exported ONNX model on a folder of trials")
    p.add_argument("--model", default=str(SHIPPED / "manifest.json"), help="manifest.json, its folder, or an .onnx file")
    p.add_argument("--data", required=True, help="folder of *_imu.csv[.gz] + *_ik.csv[.gz] trials")
    p.add_argument("--include", default="*", help="fnmatch pattern on trial names, e.g. '*_04_01' (default: every trial)")
    p.add_argument("--json", default=None, help="write the scores here")

    p = sub.add_parser("report", help="Markdown + PNG report of a model on held-out trials")
    p.add_argument("--model", default=str(SHIPPED / "manifest.json"))
    p.add_argument("--data", default=None)
    p.add_argument("--out", default=str(REPO / "reports" / "latest"))

    args = ap.parse_args(argv)
    if args.cmd == "train":
        from .train import train

        kw = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
        kw["imus"], kw["joints"] = tuple(kw["imus"]), tuple(kw["joints"])
        train(TrainConfig(**kw))
    elif args.cmd == "export":
        from .export import export

        m = export(Path(args.checkpoint), Path(args.out), args.name, args.version, Path(args.data) if args.data else None)
        summary = {k: m["metrics"][k]["mean_rmse_deg"] for k in ("int8", "fp32", "pytorch", "baseline_mean", "baseline_ridge")}
        print(json.dumps({"out": args.out, "heldout_mean_rmse_deg": summary, "parity": m["metrics"]["parity"]}, indent=2))
    elif args.cmd == "evaluate":
        from .evaluate_cli import evaluate_folder

        result = evaluate_folder(Path(args.model), Path(args.data), args.include)
        text = json.dumps(result, indent=2)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(text + "\n")
        print(text)
    elif args.cmd == "prepare":
        from .prepare import prepare

        prepare(Path(args.data), tuple(args.imus))
    elif args.cmd == "report":
        from .report import write_report

        print(write_report(Path(args.model), Path(args.data) if args.data else None, Path(args.out)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
