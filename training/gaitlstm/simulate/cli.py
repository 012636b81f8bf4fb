"""`python -m gaitlstm.simulate <command>`: `imu` (coordinates -> virtual trial), `validate` (vs AB06),
`cohort` (many virtual subjects from the shared walking recordings)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .imu import SENSOR_BODIES, default_mounts, output_times, simulate_imus
from .kinematics import Motion, read_coordinates
from .noise import NoiseModel
from .osim import load_osim
from .writer import ik_path_for, write_trial


def cmd_imu(a: argparse.Namespace) -> int:
    model = load_osim(a.model)
    coords = read_coordinates(a.mot, model)
    for note in coords.notes:
        print(f"note: {note}")
    motion = Motion(coords, a.lowpass)
    t = output_times(motion.t0, motion.t1, a.rate)
    mounts = default_mounts(model, {s: SENSOR_BODIES[s] for s in a.sensors}, a.mount)
    noise = None if a.noise == "none" else NoiseModel()
    mag = np.array(a.mag, dtype=float) if a.mag else None
    imus = simulate_imus(model, motion, mounts, t, noise=noise, seed=a.seed, mag_field=mag)
    translational = {c for c, k in model.coordinates.items() if k.translational}
    needed = [f"{j}_r" for j in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle")]
    lacking = [c for c in needed if c not in model.coordinates]
    if lacking:
        print(f"warning: the model has no {lacking}; read_camargo_trial needs them to read the _ik file")
    imu_path, ik_path = write_trial(a.out, imus, motion(t), translational)
    print(f"wrote {imu_path} and {ik_path}: {len(t)} samples at {a.rate:g} Hz, sensors {', '.join(a.sensors)}")
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    from .validate import run_validation, write_report

    v = run_validation(a.data, train_trial=a.train_trial, lowpass_hz=a.lowpass, max_trials=a.max_trials)
    path = write_report(v, a.out, a.data)
    print(f"wrote {path}")
    return 0


def default_data_root() -> Path:
    """`../shared/data` next to the repository."""
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def cmd_cohort(a: argparse.Namespace) -> int:
    from .cohort import CohortConfig, default_sources, generate_cohort

    sources = default_sources(a.data, include_ab06_kinematics=not a.no_ab06_kinematics)
    cfg = CohortConfig(n_subjects=a.subjects, seed=a.seed, mounting=a.mounting)
    m = generate_cohort(a.out, sources, a.data, cfg, workers=a.workers)
    people = sorted({s["person"] for s in m["subjects"]})
    print(f"wrote {m['n_subjects']} subjects, {m['total_trials']} trials, {m['total_hours'] * 60:.1f} min of walking "
          f"from {len(people)} people's kinematics into {a.out} in {m['generation_s']:.0f} s ({a.workers} workers); "
          f"manifest {Path(a.out) / 'cohort.json'}")
    return 0


def _cutoff(text: str) -> float | None:
    return None if text.lower() in ("none", "0", "off") else float(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gaitlstm.simulate", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("imu", help="simulate IMUs from a coordinates table; write <trial>_imu.csv + <trial>_ik.csv")
    p.add_argument("--mot", required=True, help=".mot/.sto (degrees or radians per its header) or a Camargo *_ik.csv[.gz]")
    p.add_argument("--model", required=True, help="the OpenSim 4 model the coordinates belong to (.osim)")
    p.add_argument("--out", required=True, help="<trial>_imu.csv or <trial>_imu.csv.gz; the _ik file goes next to it")
    p.add_argument("--rate", type=float, default=100.0, help="output sample rate, Hz (default 100, the product's)")
    p.add_argument("--sensors", nargs="+", default=["thigh", "shank", "foot"], choices=list(SENSOR_BODIES))
    p.add_argument("--mount", choices=["camargo", "body"], default="camargo",
                   help="camargo: AB06's fitted sensor axes, offsets and channel signs; body: the body's own axes at its origin")
    p.add_argument("--noise", choices=["default", "none"], default="default", help="default: NoiseModel() (datasheet-based)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lowpass", type=_cutoff, default=15.0, help="coordinate low-pass cutoff in Hz, or none (default 15)")
    p.add_argument("--mag", nargs=3, type=float, default=None, metavar=("X", "Y", "Z"),
                   help="also simulate a magnetometer: the field in ground coordinates (e.g. 0.2 -0.4 0)")
    p.set_defaults(func=cmd_imu)

    p = sub.add_parser("validate", help="simulate AB06's thigh/shank/foot/trunk IMUs and compare with the recorded ones")
    p.add_argument("--data", required=True, help="the camargo_ab06 folder (model/final_with_imu.osim, trials/)")
    p.add_argument("--out", default="reports/simulator")
    p.add_argument("--train-trial", default="levelground_ccw_normal_03_01", help="the trial the sensor mounts are fitted on")
    p.add_argument("--lowpass", type=_cutoff, default=15.0)
    p.add_argument("--max-trials", type=int, default=None, help="score only the first N other trials")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("cohort", help="a virtual cohort: <out>/<subject>/trials/<trial>_{imu,ik}.csv.gz + cohort.json")
    p.add_argument("--out", default="runs/cohort")
    p.add_argument("--subjects", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=default_data_root(), help="the shared data folder (mocap_ik/, camargo_ab06/)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-ab06-kinematics", action="store_true",
                   help="do not use AB06's IK as base motions (for a leak-free test on AB06's real data)")
    p.add_argument("--mounting", choices=["ab06", "random"], default="ab06",
                   help="ab06: AB06's fitted mounts on every subject; random: each subject's sensors in a random "
                        "orientation, right-handed, no channel quirks")
    p.set_defaults(func=cmd_cohort)

    a = ap.parse_args(argv)
    if a.cmd == "imu":
        ik_path_for(a.out)  # fail on a bad name before any work
    return int(a.func(a))
