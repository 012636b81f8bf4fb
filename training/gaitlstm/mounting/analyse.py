"""The calibration's measurements (docs/calibration.md quotes this command's output).

    cd training && ../.venv/bin/python -m gaitlstm.mounting.analyse --data ../../shared/data [--rotations 50] [--json out.json]

Data: AB06's 24 trials (200 Hz, every 2nd sample = the 100 Hz grid), the
simulator on the mocap_ik walks (one motion per base recording, sensors with
the segment's own axes, datasheet noise added AFTER each random remount), and
the OpenSense Xsens walk (gyro derived from its orientation output: the file
has none). Light enough for a shared 2-core machine (about 2-3 minutes).

Over 400 lines on purpose: one script per table of docs/calibration.md's
Measurements, all on the same loaded streams (loading and simulating them is
most of the run time), so the tables always come from one run.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..io.camargo import read_camargo_trial
from ..io.xsens import read_xsens_trial
from .calibrate import calibrate, lead_lag_correlation, remount, time_asymmetry
from .handedness import handedness, to_right_handed
from .linalg import axis_angle_deg, rotation_angle_deg
from .placement import check_pair, guess_placement

AB06_SENSORS = {"femur_r": "thigh", "tibia_r": "shank", "calcn_r": "foot", "torso": "trunk"}
SIM_PLACEMENTS = ("femur_r", "femur_l", "calcn_r", "calcn_l", "tibia_r")
SIM_MOTIONS = ("gait2392_walk1", "gait2354_walk1", "gait10dof_walk", "rajagopal_walk", "gaitdynamics_walk", "addb_walking1",
               "addb_walking2", "camargo_levelground_ccw_normal_01_01", "camargo_levelground_cw_fast_02_01")


# --------------------------------------------------------------------------- data

def ab06(data: Path) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    out = {}
    for p in sorted((data / "camargo_ab06" / "trials").glob("*_imu.csv.gz")):
        tr = read_camargo_trial(p)
        out[tr.name] = {pl: (s.acc[::2], s.gyro[::2]) for pl, s in tr.imus.items()}
    return out


def simulated(data: Path) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Noise-free sensors with the segment's own axes (C_true = I), ~20 s per motion."""
    from ..simulate import Motion, Mount, load_osim, read_coordinates, simulate_imus
    from ..simulate.cli import output_times
    from ..simulate.cohort import LOWPASS_HZ, RATE_HZ, cut, default_sources, nominal_mounts, segment_lengths, tile_cycle, uniform

    rng = np.random.default_rng(1)
    sources = {s.name: s for s in default_sources(data)}
    out = {}
    for name in SIM_MOTIONS:
        src = sources[name]
        model = load_osim(data / src.model)
        mounts = {p: Mount(body=m.body, p_BS=m.p_BS) for p, m in nominal_mounts(segment_lengths(model)).items() if p in SIM_PLACEMENTS}
        coords = uniform(read_coordinates(data / src.motion, model), RATE_HZ)
        span = coords.t[-1] - coords.t[0]
        if span >= 20.2:
            played = cut(coords, coords.t[0], 20.2)
        elif span >= 8:
            played = coords
        else:
            translational = {c for c, v in model.coordinates.items() if v.translational}
            played, _ = tile_cycle(coords, translational, 20.2, rng, 0.03)
            played = cut(played, played.t[0], 20.2)
        motion = Motion(played, LOWPASS_HZ)
        imus = simulate_imus(model, motion, mounts, output_times(motion.t0, motion.t1, RATE_HZ))
        out[f"{src.person}/{name}"] = {p: (v.acc, v.gyro) for p, v in imus.items()}
    return out


def opensense(data: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Placement -> (acc, gyro from the orientation, body z in sensor coordinates from the calibrated model)."""
    from ..simulate import load_osim

    xml = data / "opensense_example" / "example_walk_8imu" / "myIMUMappings.xml"
    model = load_osim(data / "opensense_example" / "models" / "std_calibrated_subject07.osim")
    tr = read_xsens_trial(xml)
    out = {}
    for pl in ("femur_r", "femur_l", "calcn_r", "calcn_l"):
        s = tr.imus[pl]
        q = s.quat
        R = Rotation.from_quat(np.column_stack([q[:, 1], q[:, 2], q[:, 3], q[:, 0]]))
        dt = float(np.median(np.diff(s.t)))
        w = np.zeros((len(q), 3))
        w[1:-1] = (R[:-2].inv() * R[2:]).as_rotvec() / (2 * dt)  # body-frame rate, central difference
        w[0], w[-1] = w[1], w[-2]
        X = model.frames[f"{pl}_imu"][1]
        out[pl] = (s.acc, w, X[2, :3])
    return out


# --------------------------------------------------------------------------- helpers

def noisy(acc: np.ndarray, gyro: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Datasheet white noise and a turn-on bias, in the (remounted) sensor frame (simulate/noise.py values)."""
    acc = acc + rng.normal(0, 120e-6 * 9.80665 * 10, acc.shape) + rng.normal(0, 5e-3 * 9.80665, 3)
    gyro = gyro + rng.normal(0, math.radians(0.007) * 10, gyro.shape) + rng.normal(0, math.radians(0.2), 3)
    return acc, gyro


def instantaneous_score(acc: np.ndarray, gyro: np.ndarray, horizon: int = 5) -> float:
    """The textbook test (df/dt = -w x f) over a 0.05 s horizon, for comparison: (E- - E+) / (E- + E+)
    with E+- = sum |f(t+h) - f(t) +- sum_t^{t+h} (w x f) dt|^2. Biased by the limb's own acceleration."""
    c = np.cross(gyro, acc) * 0.01
    cum = np.vstack([np.zeros(3), np.cumsum(c, axis=0)])
    integral = cum[horizon:len(acc)] - cum[:len(acc) - horizon]
    df = acc[horizon:] - acc[:-horizon]
    ep, em = float(np.sum((df + integral) ** 2)), float(np.sum((df - integral) ** 2))
    return (em - ep) / (em + ep)


def mean_rotation(Cs: list[np.ndarray]) -> np.ndarray:
    U, _, Vt = np.linalg.svd(np.sum(Cs, axis=0))
    D = np.diag([1.0, 1.0, np.linalg.det(U @ Vt)])
    return U @ D @ Vt


def stats(v: list[float]) -> str:
    if not v:
        return "n=0"
    a = np.asarray(v)
    return f"n={len(a)} mean {a.mean():.2f} median {np.median(a):.2f} p90 {np.percentile(a, 90):.2f} max {a.max():.2f}"


def sign_candidates(acc: np.ndarray, gyro: np.ndarray, z: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Candidate sign statistics on the sagittal rate w = gyro . z (z = the true-signed axis): > 0 = 'z right'."""
    w = gyro @ z
    ay = acc @ y
    x = np.cross(y, z)
    r = math.sqrt(float(np.mean(w * w)))
    big = np.abs(w) > 0.1 * r
    return {
        "time_asymmetry_0.2s (chosen)": time_asymmetry(w, 20),
        "skewness": float(np.mean(w**3) / np.mean(w**2) ** 1.5),
        "duration: 1 - 2 share(w > 0)": 1 - 2 * float(np.mean(w > 0)),
        "duration, dead band 0.1 rms": (float(np.sum(big & (w < 0))) - float(np.sum(big & (w > 0)))) / max(1, int(big.sum())),
        "corr(w, vertical acc)": float(np.corrcoef(w, ay)[0, 1]),
        "corr(w, AP acc) [even under the flip]": float(np.corrcoef(w, acc @ x)[0, 1]),
    }


def axes_of(acc: np.ndarray, gyro: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertical and (unsigned) flexion axis the way calibrate() finds them, for the candidate table."""
    c = calibrate(acc, gyro, check_handedness=False)
    if c.C is not None:
        return c.C[1], c.C[2]
    y = np.sum(acc, axis=0)
    y = y / np.linalg.norm(y)
    wh = gyro - np.outer(gyro @ y, y)
    _, V = np.linalg.eigh(wh.T @ wh)
    return y, V[:, -1]


# --------------------------------------------------------------------------- the measurements

def run(data: Path, n_rot: int) -> dict:
    from ..simulate.imu import CAMARGO_MOUNTS

    rng = np.random.default_rng(0)
    report: dict = {}
    A = ab06(data)
    S = simulated(data)
    O = opensense(data) if (data / "opensense_example").is_dir() else {}

    # Handedness -------------------------------------------------------------
    hand: dict[str, dict[str, int]] = {}
    scores: dict[str, list[float]] = {}
    inst: dict[str, list[float]] = {}

    def tally(key: str, acc: np.ndarray, gyro: np.ndarray) -> None:
        h = handedness(acc, gyro)
        hand.setdefault(key, {}).setdefault(h.decision, 0)
        hand[key][h.decision] += 1
        scores.setdefault(key, []).append(h.score)
        inst.setdefault(key, []).append(instantaneous_score(acc, gyro))

    for trial, imus in A.items():
        for pl, (acc, gyro) in imus.items():
            tally(f"ab06 {AB06_SENSORS[pl]}", acc, gyro)
            if pl in ("femur_r", "calcn_r"):
                tally(f"ab06 {AB06_SENSORS[pl]}, Z label flipped on both", *to_right_handed(acc, gyro))
    for name, imus in S.items():
        for pl, (acc, gyro) in imus.items():
            tally("sim right-handed", *noisy(acc, gyro, rng))
            tally("sim Z label flipped on both", *noisy(*to_right_handed(acc, gyro), rng))
    for pl, (acc, gyro, _) in O.items():
        tally("opensense (gyro from orientation)", acc, gyro)
    report["handedness"] = {k: {"decisions": v, "score_min": min(scores[k]), "score_median": float(np.median(scores[k])),
                                "score_max": max(scores[k]), "instantaneous_test_min": min(inst[k]),
                                "instantaneous_test_max": max(inst[k])} for k, v in hand.items()}

    # Sign-rule candidates ---------------------------------------------------
    table: dict[str, dict[str, list[float]]] = {}

    def candidates(group: str, acc: np.ndarray, gyro: np.ndarray, z_true: np.ndarray) -> None:
        y, z = axes_of(acc, gyro)
        z = z if z @ z_true > 0 else -z
        for k, v in sign_candidates(acc, gyro, z, y).items():
            table.setdefault(group, {}).setdefault(k, []).append(v)

    def fitted_z(sensor: str) -> np.ndarray:
        m = CAMARGO_MOUNTS[sensor]
        return m.gyro_axes @ m.R_BS[2, :]

    for trial, imus in A.items():
        for pl in ("femur_r", "calcn_r"):
            candidates(f"ab06 {AB06_SENSORS[pl]}", *imus[pl], fitted_z(AB06_SENSORS[pl]))
    for name, imus in S.items():
        for pl in ("femur_r", "femur_l", "calcn_r", "calcn_l"):
            candidates(f"sim {pl[:5]}", *imus[pl], np.array([0.0, 0.0, 1.0]))
    for pl, (acc, gyro, zb) in O.items():
        candidates(f"opensense {pl[:5]}", acc, gyro, zb)
    report["sign_rules"] = {g: {k: {"correct": int(np.sum(np.asarray(v) > 0)), "n": len(v), "min": float(np.min(v)),
                                    "median": float(np.median(v))} for k, v in c.items()} for g, c in table.items()}

    # Joint thigh+foot sign candidates (same leg, same walk; both z's signed by the truth) ----------
    joint: dict[str, dict[str, list[float]]] = {}

    def joint_candidates(group: str, thigh: tuple, foot: tuple, zt: np.ndarray, zf: np.ndarray) -> None:
        n = min(len(thigh[0]), len(foot[0]))
        (ta, tg), (fa, fg) = (thigh[0][:n], thigh[1][:n]), (foot[0][:n], foot[1][:n])
        z_thigh, z_foot = axes_of(ta, tg)[1], axes_of(fa, fg)[1]
        wt = tg @ (z_thigh if z_thigh @ zt > 0 else -z_thigh)
        wf = fg @ (z_foot if z_foot @ zf > 0 else -z_foot)
        rows = {"lead-lag corr, foot 0.2 s later (chosen)": lead_lag_correlation(wt, wf, 20),
                "corr at the same instant": float(np.mean(wt * wf) / math.sqrt(np.mean(wt * wt) * np.mean(wf * wf))),
                "lead-lag corr, foot 0.2 s EARLIER": lead_lag_correlation(wf, wt, 20),
                "thigh's own time asymmetry (for comparison)": time_asymmetry(wt, 20)}
        for k, v in rows.items():
            joint.setdefault(group, {}).setdefault(k, []).append(v)

    for trial, imus in A.items():
        joint_candidates("ab06", imus["femur_r"], imus["calcn_r"], fitted_z("thigh"), fitted_z("foot"))
    for name, imus in S.items():
        for side in ("r", "l"):
            joint_candidates("sim", imus[f"femur_{side}"], imus[f"calcn_{side}"], np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0]))
    for side in ("r", "l"):
        if O:
            joint_candidates("opensense", O[f"femur_{side}"][:2], O[f"calcn_{side}"][:2], O[f"femur_{side}"][2], O[f"calcn_{side}"][2])
    report["joint_sign_rules"] = {g: {k: {"correct": int(np.sum(np.asarray(v) > 0)), "n": len(v), "min": float(np.min(v)),
                                          "median": float(np.median(v))} for k, v in c.items()} for g, c in joint.items()}

    # Calibration on AB06: outcome, consistency across trials, tilt, remount equivariance ------------
    ab: dict = {}
    for pl in ("femur_r", "calcn_r"):
        sensor = AB06_SENSORS[pl]
        m = CAMARGO_MOUNTS[sensor]
        y_fit = m.acc_signs * m.R_BS[1, :]  # segment y in the accelerometer channels
        z_fit = fitted_z(sensor)
        Cs, reasons, tilt, zerr, stand_tilt, remount_err = [], {}, [], [], [], []
        own_only, sources, joint_margins = {}, {}, []
        for trial, imus in A.items():
            acc, gyro = imus[pl]
            partner = None
            if pl == "femur_r":  # the joint sign rule: the calibrated foot's sagittal rate (the pipeline's order)
                fc = calibrate(*imus["calcn_r"])
                partner = imus["calcn_r"][1] @ fc.C[2] if fc.C is not None else None
                co = calibrate(acc, gyro)
                own_only[co.reason or "ok"] = own_only.get(co.reason or "ok", 0) + 1
            c = calibrate(acc, gyro, sign_partner=partner)
            reasons[c.reason or "ok"] = reasons.get(c.reason or "ok", 0) + 1
            if c.sign_source:
                sources[c.sign_source] = sources.get(c.sign_source, 0) + 1
            if c.joint_margin is not None:
                joint_margins.append(c.joint_margin)
            if not c.ok:
                continue
            Cs.append(c.C)
            tilt.append(axis_angle_deg(c.C[1], y_fit))
            zerr.append(axis_angle_deg(c.C[2], z_fit))
            cs = calibrate(acc, gyro, vertical="stand", check_handedness=False)
            if cs.ok and cs.stand_s > 0:
                stand_tilt.append(axis_angle_deg(c.C[1], cs.C[1]))
            for _ in range(3):
                Q = Rotation.random(random_state=rng).as_matrix()
                # The partner is the foot's SEGMENT-frame rate: the thigh's remount leaves it as it is.
                cq = calibrate(*remount(acc, gyro, Q), check_handedness=False, sign_partner=partner)
                remount_err.append(rotation_angle_deg(cq.C, c.C @ Q.T) if cq.ok else 180.0)
        M = mean_rotation(Cs)
        spread = [rotation_angle_deg(C, M) for C in Cs]
        pairs = [rotation_angle_deg(Cs[i], Cs[j]) for i in range(len(Cs)) for j in range(i + 1, len(Cs))]
        ab[sensor] = {"outcomes": reasons, **({"outcomes_own_sign_only": own_only} if own_only else {}), "sign_source": sources,
                      **({"joint_margin": stats(joint_margins) + f" min {min(joint_margins):.3f}"} if joint_margins else {}),
                      "z_sign_right": f"{sum(int(C[2] @ z_fit > 0) for C in Cs)}/{len(Cs)}", "spread_to_mean_deg": stats(spread), "pairwise_deg": stats(pairs),
                      "pairs_over_restrap_threshold": f"{sum(p > 10.0 for p in pairs)}/{len(pairs)}",
                      "walking_vertical_vs_fitted_segment_y_deg": stats(tilt), "flexion_axis_vs_fitted_z_deg": stats(zerr),
                      "walking_vs_stand_vertical_deg": stats(stand_tilt), "remount_error_deg": stats(remount_err)}
    report["ab06_calibration"] = ab

    # Simulated: random mounts ----------------------------------------------------------------------
    sim: dict = {}
    for pl in ("femur_r", "femur_l", "calcn_r", "calcn_l"):
        errs, tilts, zerrs, mount_dep, signs, outcomes = [], [], [], [], 0, {}
        for name, imus in S.items():
            acc, gyro = imus[pl]
            c0 = calibrate(*noisy(acc, gyro, rng), check_handedness=False)
            for _ in range(n_rot):
                Q = Rotation.random(random_state=rng).as_matrix()  # v_sensor = Q v_segment: the random mount
                c = calibrate(*noisy(*remount(acc, gyro, Q), rng), check_handedness=False)
                outcomes[c.reason or "ok"] = outcomes.get(c.reason or "ok", 0) + 1
                if not c.ok:
                    continue
                C_seg = c.C @ Q  # the recovered frame in segment coordinates: ideally I
                errs.append(rotation_angle_deg(C_seg, np.eye(3)))
                tilts.append(axis_angle_deg(C_seg[1], np.array([0.0, 1.0, 0.0])))
                zerrs.append(axis_angle_deg(C_seg[2], np.array([0.0, 0.0, 1.0])))
                signs += int(C_seg[2][2] > 0)
                if c0.ok:
                    mount_dep.append(rotation_angle_deg(C_seg, c0.C))
        sim[pl] = {"outcomes": outcomes, "sign_correct": f"{signs}/{len(errs)}", "vs_segment_frame_deg": stats(errs),
                   "vertical_tilt_deg": stats(tilts), "flexion_axis_deg": stats(zerrs),
                   "same_motion_other_mount_deg": stats(mount_dep)}
    report["simulated_calibration"] = sim

    # Opensense ---------------------------------------------------------------------------------------
    osr = {}
    for pl, (acc, gyro, zb) in O.items():
        c = calibrate(acc, gyro)
        osr[pl] = {"ok": c.ok, "reason": c.reason, "planarity": round(c.planarity, 3), "sign_margin": round(c.sign_margin, 3),
                   "flexion_axis_vs_calibrated_model_deg": None if c.C is None else round(axis_angle_deg(c.C[2], zb), 1)}
    report["opensense_calibration"] = osr

    # Placement check --------------------------------------------------------------------------------
    place: dict = {}

    def guess(group: str, acc: np.ndarray, gyro: np.ndarray, truth: str) -> None:
        g = guess_placement(acc, gyro)
        d = place.setdefault(group, {"correct": 0, "undecided": 0, "wrong": 0, "scores": []})
        d["correct" if g.placement == truth else "undecided" if g.placement == "undecided" else "wrong"] += 1
        d["scores"].append(g.score if truth == "calcn" else -g.score)

    pair: dict = {}

    def pair_check(group: str, th: tuple, ft: tuple) -> None:
        d = pair.setdefault(group, {"as_labelled_ok": 0, "swap_caught": 0, "n": 0, "min_margin": math.inf})
        p, q = check_pair(*th, *ft), check_pair(*ft, *th)
        d["n"] += 1
        d["as_labelled_ok"] += int(p.swapped is False)
        d["swap_caught"] += int(q.swapped is True)
        d["min_margin"] = min(d["min_margin"], p.score)

    for trial, imus in A.items():
        guess("ab06 thigh", *imus["femur_r"], "femur")
        guess("ab06 foot", *imus["calcn_r"], "calcn")
        pair_check("ab06", imus["femur_r"], imus["calcn_r"])
    for name, imus in S.items():
        for side in ("r", "l"):
            th, ft = noisy(*imus[f"femur_{side}"], rng), noisy(*imus[f"calcn_{side}"], rng)
            guess("sim thigh", *th, "femur")
            guess("sim foot", *ft, "calcn")
            pair_check("sim", th, ft)
    for side in ("r", "l"):
        if O:
            guess("opensense thigh", *O[f"femur_{side}"][:2], "femur")
            guess("opensense foot", *O[f"calcn_{side}"][:2], "calcn")
            n = min(len(O[f"femur_{side}"][0]), len(O[f"calcn_{side}"][0]))
            pair_check("opensense", tuple(a[:n] for a in O[f"femur_{side}"][:2]), tuple(a[:n] for a in O[f"calcn_{side}"][:2]))
    for d in place.values():
        d["min_margin"] = float(min(d.pop("scores")))
    report["placement"] = place
    report["pairs"] = pair
    return report


def print_report(r: dict) -> None:
    print("== handedness (decisions; score min/median/max)")
    for k, v in r["handedness"].items():
        print(f"  {k:48s} {v['decisions']}  {v['score_min']:+.2f} / {v['score_median']:+.2f} / {v['score_max']:+.2f}"
              f"   [instantaneous test {v['instantaneous_test_min']:+.2f}..{v['instantaneous_test_max']:+.2f}]")
    print("== sign-rule candidates: correct sign (z right) / n, min, median")
    for g, c in r["sign_rules"].items():
        print(f"  {g}")
        for k, v in c.items():
            print(f"    {k:40s} {v['correct']:3d}/{v['n']:<3d} min {v['min']:+.3f} median {v['median']:+.3f}")
    print("== joint thigh+foot sign candidates (same leg, same walk): correct sign / n, min, median")
    for g, c in r["joint_sign_rules"].items():
        print(f"  {g}")
        for k, v in c.items():
            print(f"    {k:44s} {v['correct']:3d}/{v['n']:<3d} min {v['min']:+.3f} median {v['median']:+.3f}")
    print("== AB06 calibration (24 trials; the thigh with its foot as sign partner)")
    for s, v in r["ab06_calibration"].items():
        print(f"  {s}")
        for k, x in v.items():
            print(f"    {k:42s} {x}")
    print("== simulated sensors, random mounts (datasheet noise after the remount)")
    for s, v in r["simulated_calibration"].items():
        print(f"  {s}")
        for k, x in v.items():
            print(f"    {k:42s} {x}")
    print("== OpenSense Xsens walk (other person, other hardware; gyro from the orientation)")
    for s, v in r["opensense_calibration"].items():
        print(f"  {s:8s} {v}")
    print("== placement check (single stream; min margin toward the right answer)")
    for g, v in r["placement"].items():
        print(f"  {g:18s} {v}")
    print("== pair check (thigh/foot of one walk)")
    for g, v in r["pairs"].items():
        print(f"  {g:18s} {v}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../../shared/data")
    ap.add_argument("--rotations", type=int, default=50)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    r = run(Path(args.data), args.rotations)
    print_report(r)
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
