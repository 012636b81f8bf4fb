"""`python -m gaitlstm <command>`: prepare, train, export, evaluate, predict, report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import add_train_args, default_data_dir, train_config_from_args
from .paths import REPO_ROOT

SHIPPED = REPO_ROOT / "models" / "reduced-femur-calcn-lstm"
MODEL_HELP = "manifest.json, its folder, an .onnx file, or a training checkpoint.pt"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="gaitlstm", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("prepare", help="read trials, run the feature pipeline, report what was found")
    p.add_argument("--data", default=str(default_data_dir()))
    p.add_argument("--imus", nargs="+", default=["femur_r", "calcn_r"])

    add_train_args(sub.add_parser("train", help="train one model (ui, ug or ua)"))

    p = sub.add_parser("export", help="checkpoint -> fp32 + int8 ONNX, manifest, golden vectors")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", default=str(SHIPPED))
    p.add_argument("--name", default="reduced-femur-calcn-lstm")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--data", default=None, help="data folder (default: the one the checkpoint was trained on)")

    p = sub.add_parser("evaluate", help="score a model on a folder of trials with reference angles")
    p.add_argument("--model", default=str(SHIPPED / "manifest.json"), help=MODEL_HELP)
    p.add_argument("--data", required=True, help="folder of *_imu.csv[.gz] + *_ik.csv[.gz] trials")
    p.add_argument("--include", default="*", help="fnmatch pattern on trial names, e.g. '*_04_01' (default: every trial)")
    p.add_argument("--exclude", default=None, help="fnmatch pattern on trial names to leave out")
    p.add_argument("--remounts", type=int, default=0,
                   help="also score every trial re-expressed in K random sensor frames (seeded), the odd ones with "
                        "the thigh left-handed (Z label flipped on acc and gyro), which gait-features/2 detects and "
                        "converts (docs/calibration.md, 'In training')")
    p.add_argument("--remount-seed", type=int, default=0, help="seed of the random frames of --remounts")
    p.add_argument("--json", default=None, help="write the scores here")

    p = sub.add_parser("predict", help="a model's joint angles for every trial of a folder, one .mot per trial")
    p.add_argument("--model", default=str(SHIPPED / "manifest.json"), help=MODEL_HELP)
    p.add_argument("--data", required=True,
                   help="folder of trials: *_imu.csv[.gz] (Camargo format) or Xsens MT exports with their myIMUMappings.xml")
    p.add_argument("--include", default="*", help="fnmatch pattern on trial names")
    p.add_argument("--out", required=True, help="folder for <trial>_angles.mot")

    p = sub.add_parser("report", help="Markdown + PNG report of a model on held-out trials")
    p.add_argument("--model", default=str(SHIPPED / "manifest.json"))
    p.add_argument("--data", default=None)
    p.add_argument("--out", default=str(REPO_ROOT / "reports" / "latest"))
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Each command imports its module only when it runs: `evaluate` need not load torch's training code.
    if args.cmd == "train":
        from .train import train

        train(train_config_from_args(args))
    elif args.cmd == "export":
        from .export import export

        m = export(Path(args.checkpoint), Path(args.out), args.name, args.version, Path(args.data) if args.data else None)
        summary = {k: m["metrics"][k]["mean_rmse_deg"] for k in ("int8", "fp32", "pytorch", "baseline_mean", "baseline_ridge")}
        print(json.dumps({"out": args.out, "heldout_mean_rmse_deg": summary, "parity": m["metrics"]["parity"]}, indent=2))
    elif args.cmd == "evaluate":
        from .evaluate import evaluate_folder

        result = evaluate_folder(Path(args.model), Path(args.data), args.include, args.exclude,
                                 args.remount_seed, args.remounts)
        text = json.dumps(result, indent=2)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(text + "\n")
        print(text)
    elif args.cmd == "predict":
        from .predict import predict_folder

        print(json.dumps(predict_folder(Path(args.model), Path(args.data), Path(args.out), args.include), indent=2))
    elif args.cmd == "prepare":
        from .prepare import prepare

        prepare(Path(args.data), tuple(args.imus))
    elif args.cmd == "report":
        from .report import write_report

        print(write_report(Path(args.model), Path(args.data) if args.data else None, Path(args.out)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
