"""`python -m gaitlstm.gait {evaluate,golden,plate-events,calibrate-ab06}` (run from training/)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..io.errors import DataError

REPO = Path(__file__).resolve().parents[3]


def _fmt(stats: object) -> str:
    if not isinstance(stats, dict) or not stats.get("n"):
        return "n/a"
    return f"median {stats['median']:.1f}, p95 {stats['p95']:.1f}, signed mean {stats['mean_signed']:+.1f}, max {stats['max']:.1f} (n={stats['n']})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gaitlstm.gait", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ev = sub.add_parser("evaluate", help="score the detector against the force plates of every trial")
    ev.add_argument("--data", type=Path, required=True, help="camargo_ab06 folder (with trials/ and fp/)")
    ev.add_argument("--include", default="*", help="trial name glob (default all)")
    ev.add_argument("--json", type=Path, help="write the full result here")
    go = sub.add_parser("golden", help="write test/fixtures/gait/golden.json from the shipped trial")
    go.add_argument("--out", type=Path, default=REPO / "test" / "fixtures" / "gait" / "golden.json")
    pe = sub.add_parser("plate-events", help="write data/ab06/<trial>_fp_events.json")
    pe.add_argument("--data", type=Path, required=True)
    pe.add_argument("--out", type=Path, default=REPO / "data" / "ab06" / "levelground_ccw_normal_04_01_fp_events.json")
    ca = sub.add_parser("calibrate-ab06", help="print AB06's foot sensor->segment rotation")
    ca.add_argument("--data", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "evaluate":
            from .evaluate import evaluate

            result = evaluate(args.data, include=args.include)
            s = result["summary"]
            assert isinstance(s, dict)
            print(f"{s['trials']} trials, {s['plate_contacts']} plate contacts: {s['right_contacts']} right, "
                  f"{s['left_contacts']} left, {s['undecided_contacts']} undecided")
            print(f"heel strike: missed {s['hs_missed']}, doubled {s['hs_doubled']}; error ms {_fmt(s['hs_error_ms'])}")
            print(f"toe off:     missed {s['to_missed']}, doubled {s['to_doubled']}; error ms {_fmt(s['to_error_ms'])}")
            print(f"cadence error, steps/min: whole trial {_fmt(s['trial_cadence_error_spm'])}")
            print(f"  per stride, implied by the plate heel-strike errors: {_fmt(s['cadence_error_from_hs_errors_spm'])}")
            print(f"  per stride, against the IK knee cycle around the plate step: {_fmt(s['cadence_error_vs_knee_cycle_spm'])}")
            print(f"stance % error: {_fmt(s['stance_error_pct'])}")
            print(f"phase RMSE: {s['phase_rmse_pct']:.2f} % of stride over {s['phase_samples']} samples "
                  f"({s['phase_unknown_samples']} samples without a phase)")
            print(f"latency ms (detected - estimated event time): HS {_fmt(s['hs_latency_ms'])}; TO {_fmt(s['to_latency_ms'])}; mid-swing {_fmt(s['msw_latency_ms'])}")
            print(f"latency ms (detected - plate event):          HS {_fmt(s['hs_latency_vs_plate_ms'])}; TO {_fmt(s['to_latency_vs_plate_ms'])}")
            print(f"all swings (IK knee-flexion peaks): {s['knee_strides']}; mid-swings detected {s['detected_mid_swings']}; "
                  f"IK swings missed {s['ik_swings_missed']}, doubled {s['ik_swings_doubled']}; "
                  f"mid-swings without an IK swing {s['mid_swings_without_ik_swing']}")
            if args.json:
                args.json.write_text(json.dumps(result, indent=1) + "\n")
                print(f"wrote {args.json}")
        elif args.cmd == "golden":
            from .fixtures import golden

            doc = golden(REPO / "data" / "ab06", args.out)
            exp = doc["expected"]
            assert isinstance(exp, dict)
            print(f"wrote {args.out}: {len(exp['events'])} events, {len(exp['strides'])} strides")
        elif args.cmd == "plate-events":
            from .fixtures import plate_events

            doc = plate_events(args.data, args.out)
            print(f"wrote {args.out}: {len(doc['contacts'])} contacts")  # type: ignore[arg-type]
        elif args.cmd == "calibrate-ab06":
            from .fixtures import calibrate_ab06

            print(json.dumps(calibrate_ab06(args.data).tolist()))
    except (DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
