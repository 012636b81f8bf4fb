"""The study runner end to end on a tiny cohort made from the shipped demo trial (data/ab06).

Each virtual subject is the demo trial with its Camargo sensors renamed to
placements (trunk stands in for the pelvis, the right leg for the left one),
scaled and noised per subject, cut into two trials. The numbers mean nothing;
what is tested is the plumbing: every method's row, the curve, resumability of
the sweep, atomic result files and the report (partial sweep included).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from gaitlstm.features import PIPELINE_V2
from gaitlstm.study.__main__ import main
from gaitlstm.study.runner import PRODUCT, CompareConfig, compare, shared_person_note, ug_subjects
from gaitlstm.study.sweep import SweepConfig, combinations, result_path, sweep

SOURCE = {"pelvis": "trunk", "femur_r": "thigh", "femur_l": "thigh", "tibia_r": "shank", "tibia_l": "shank",
          "calcn_r": "foot", "calcn_l": "foot"}
CHANNELS = [f"{k}_{a}" for k in ("Accel", "Gyro") for a in "XYZ"]


def _read(path: Path) -> tuple[list[str], np.ndarray]:
    with gzip.open(path, "rt") as f:
        header = f.readline().strip().split(",")
        return header, np.loadtxt(f, delimiter=",")


def _write(path: Path, header: list[str], table: np.ndarray) -> None:
    with gzip.open(path, "wt") as f:
        f.write(",".join(header) + "\n")
        np.savetxt(f, table, delimiter=",", fmt="%.6g")


@pytest.fixture
def tiny_cohort(tmp_path: Path, demo_dir: Path) -> Path:
    root = tmp_path / "cohort"
    imu_h, imu = _read(next(demo_dir.glob("*_imu.csv.gz")))
    ik_h, ik = _read(next(demo_dir.glob("*_ik.csv.gz")))
    imu = imu[::2]  # 200 -> 100 Hz, as the cohort
    rng = np.random.default_rng(0)
    header = ["time"] + [f"{p}_{c}" for p in SOURCE for c in CHANNELS]
    for s in range(4):
        gain = 1.0 + 0.03 * s
        cols = [imu[:, 0]]
        for p, src in SOURCE.items():
            for c in CHANNELS:
                x = imu[:, imu_h.index(f"{src}_{c}")] * gain
                cols.append(x + rng.normal(0.0, 0.01, len(x)))
        table = np.stack(cols, axis=1)
        ik_s = ik.copy()
        ik_s[:, 1:] += 0.5 * s  # a per-subject offset of every angle
        folder = root / f"s{s}" / "trials"
        folder.mkdir(parents=True)
        half = imu[len(imu) // 2, 0]
        for name, keep_imu, keep_ik in (("walk_a", table[:, 0] < half, ik_s[:, 0] < half + 0.1),
                                        ("walk_b", table[:, 0] >= half, ik_s[:, 0] >= half - 0.1)):
            _write(folder / f"{name}_imu.csv.gz", header, table[keep_imu])
            _write(folder / f"{name}_ik.csv.gz", ik_h, ik_s[keep_ik])
    return root


def test_ug_subjects_hold_out_the_last_ones() -> None:
    who = ug_subjects(["c", "a", "d", "b", "e"], 2)
    assert (who.train, who.val, who.test) == (["a", "b"], "c", ["d", "e"])
    with pytest.raises(ValueError, match="at least 4 subjects"):
        ug_subjects(["a", "b", "c"], 2)


def test_combinations_are_the_studys_126() -> None:
    combos = combinations()
    assert len(combos) == 126 and len(set(combos)) == 126
    assert sum(len(c) == 2 for c in combos) == 21
    assert len(combinations(sizes=tuple(range(1, 8)))) == 127


def test_compare_sweep_and_report(tiny_cohort: Path, demo_dir: Path, tmp_path: Path) -> None:
    study = compare(CompareConfig(
        cohort=str(tiny_cohort), real=str(demo_dir), out=str(tmp_path / "study"), archs=("cnn",),
        placement_sets=(PRODUCT,), ratios=(0.5,), ua_epochs=(1, 2), n_test_subjects=1, max_epochs=1, threads=1,
    ))
    rows = {(r["scope"], r["method"]) for r in study["rows"]}
    assert {("cohort", "UG"), ("cohort", "UI"), ("ab06", "UG"), ("ab06", "UA"), ("ab06", "UI")} <= rows
    assert ("ab06", "IMU-IK") in rows  # gaitlstm.imuik ships with the workspace
    assert [c["epochs"] for c in study["curve"]] == [0, 1, 2]
    saved = json.loads((tmp_path / "study" / "compare.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(study["rows"], default=float))
    assert saved["subjects"]["test"] == ["s3"]
    # the UG model is saved as a training checkpoint: `train --method ua --base` and `export` take it
    from gaitlstm.checkpoint import Checkpoint

    ug = Checkpoint.load(tmp_path / "study" / "ug_cnn_femur_r+calcn_r.pt")
    assert (ug.config.method, ug.config.arch, ug.feature_config.placements) == ("ug", "cnn", PRODUCT)
    assert {p.subject for p in ug.test_parts} == {"s3"} and ug.model() is not None

    cfg = SweepConfig(cohort=str(tiny_cohort), out=str(tmp_path / "sweep"), arch="cnn", workers=1, sizes=(1,),
                      n_test_subjects=1, epochs=1, limit=2)
    first = sweep(cfg)
    assert (first["done"], first["ran_now"]) == (2, 2)
    done = sorted(p.name for p in (tmp_path / "sweep" / "results").glob("*.json"))
    assert done == ["femur_r.json", "pelvis.json"]
    stamp = result_path(cfg, ("pelvis",)).stat().st_mtime_ns
    # Resumed, with two worker processes: the two done ones are skipped, one more runs.
    cfg.workers, cfg.limit = 2, 1
    second = sweep(cfg)
    assert (second["done"], second["ran_now"]) == (3, 1)
    assert result_path(cfg, ("pelvis",)).stat().st_mtime_ns == stamp
    assert not list((tmp_path / "sweep" / "results").glob(".*tmp"))  # atomic writes leave no temporaries
    # Resuming with other settings (here the seed) would mix results silently: refused.
    cfg.seed = 1
    with pytest.raises(ValueError, match=r"pelvis\.json: trained with ug cnn .*'seed': 0.*use another --out"):
        sweep(cfg)
    cfg.seed = 0
    result = json.loads(result_path(cfg, ("femur_l",)).read_text())
    assert set(result["metrics"]["joints"]) == {"hip_flexion_r", "hip_adduction_r", "hip_rotation_r",
                                                "knee_flexion_r", "ankle_dorsiflexion_r"}

    out = tmp_path / "report"
    assert main(["report", "--runs", str(tmp_path / "study"), str(tmp_path / "sweep"), "--out", str(out)]) == 0
    text = (out / "README.md").read_text()
    assert "3 of 126 combinations done" in text
    assert "UA vs UG (cnn, femur_r+calcn_r)" in text
    assert "Feature pipeline: gait-features/2" in text
    assert "femur_r+calcn_r`: not done yet" in text
    for png in ("fig3_methods.png", "transfer_ratio.png", "sweep_heatmap.png"):
        assert (out / png).stat().st_size > 1000


def test_report_without_runs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="compare.json"):
        main(["report", "--runs", str(tmp_path), "--out", str(tmp_path / "r")])


def _pair_results(folder: Path, seed: int, rmse: dict[str, float], lr: float = 3e-3) -> Path:
    """Result files as a sweep writes them, for the pairs in `rmse` (only the fields the report reads)."""
    (folder / "results").mkdir(parents=True)
    for name, value in rmse.items():
        joints = {j: {"rmse_deg": value, "nrmse": 0.1, "r": 0.9} for j in
                  ("hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_flexion_r", "ankle_dorsiflexion_r")}
        (folder / "results" / f"{name}.json").write_text(json.dumps({
            "placements": name.split("+"), "method": "ug", "arch": "lstm", "seconds": 20.0, "finished": 1000.0 + seed,
            "device": "cpu", "subjects": {"test": ["v23", "v24"]},
            "metrics": {"mean_rmse_deg": value, "mean_r": 0.9, "joints": joints},
            "settings": {"epochs": 2, "patience": 2, "train_stride": 25, "lr": lr, "batch_size": 64, "seed": seed,
                         "n_test_subjects": 2},
        }))
    return folder


def test_report_seed_spread_says_which_pairs_beat_femur_calcn_beyond_seed_noise(tmp_path: Path) -> None:
    # pelvis+femur_r is better by far more than its seed spread; tibia_r+calcn_r only by noise.
    runs = {
        0: {"femur_r+calcn_r": 3.00, "pelvis+femur_r": 2.50, "tibia_r+calcn_r": 2.95},
        1: {"femur_r+calcn_r": 3.10, "pelvis+femur_r": 2.55, "tibia_r+calcn_r": 3.20},
        2: {"femur_r+calcn_r": 2.90, "pelvis+femur_r": 2.45, "tibia_r+calcn_r": 2.80},
    }
    folders = [_pair_results(tmp_path / f"seed{s}", s, r) for s, r in runs.items()]
    out = tmp_path / "report"
    assert main(["report", "--runs", str(folders[0]), "--repeats", *map(str, folders[1:]), "--out", str(out)]) == 0
    text = (out / "README.md").read_text()
    assert "the 3 pairs trained with 3 seeds (0, 1, 2)" in text
    assert "`femur_r+calcn_r`: 3.00 ± 0.10 deg (mean ± sd over seeds), rank 3 of 3" in text
    assert "not corrected for 2 comparisons): `pelvis+femur_r` (2.50, p 0.00" in text  # Welch: p ~ 0.005
    assert "`tibia_r+calcn_r` (2.98" not in text  # better on average, but within the seeds' spread

    # A repeat with other settings than the main sweep is refused, naming the folder.
    other = _pair_results(tmp_path / "other", 3, runs[1], lr=1e-3)
    with pytest.raises(ValueError, match=r"other: .* a seed repeat must differ in the seed only"):
        main(["report", "--runs", str(folders[0]), "--repeats", str(other), "--out", str(out)])


def test_the_report_says_when_unseen_cohort_subjects_replay_people_seen_in_training() -> None:
    persons = {"v01": "addb", "v02": "rajagopal", "v03": "addb", "v04": "osim"}
    note = shared_person_note(persons, train=["v01", "v02"], test=["v03", "v04"])
    assert note is not None and note.startswith("cohort test subjects v03 (addb) replay the kinematics")
    assert "v04" not in note  # osim's gait is new to the model
    assert shared_person_note(persons, train=["v01"], test=["v04"]) is None


def test_the_ui_sweep_trains_one_model_per_test_subject(tiny_cohort: Path, tmp_path: Path) -> None:
    cfg = SweepConfig(cohort=str(tiny_cohort), out=str(tmp_path / "ui"), method="ui", arch="cnn", workers=1, sizes=(2,),
                      n_test_subjects=2, epochs=1, limit=1)
    assert sweep(cfg)["ran_now"] == 1
    result = json.loads(next((tmp_path / "ui" / "results").glob("*.json")).read_text())
    assert result["method"] == "ui"
    assert {e["subject"] for e in result["history"]} == set(result["subjects"]["test"])  # one model each
    out = tmp_path / "report"
    assert main(["report", "--runs", str(tmp_path / "ui"), "--out", str(out)]) == 0
    text = (out / "README.md").read_text()
    assert "## IMU-combination sweep (UI)" in text and "trained on the first 40% of each of its trials" in text
    assert (out / "sweep_heatmap_ui.png").is_file()
    with pytest.raises(ValueError, match="no sweep of the same method"):  # a UG repeat has nothing to compare with
        main(["report", "--runs", str(tmp_path / "ui"), "--repeats", str(_pair_results(tmp_path / "r", 1, {"femur_r+calcn_r": 3.0})),
              "--out", str(out)])


def _still_trial(folder: Path, name: str, seconds: float = 12.0) -> None:
    """A trial of a sensor set that never moves (on a table): v2 refuses it, `no_motion`."""
    t = np.arange(0.0, seconds, 0.01)
    rng = np.random.default_rng(1)
    cols = [t] + [np.full(len(t), 1.0 if c == "Accel_Y" else 0.0) + rng.normal(0, 1e-3, len(t))
                  for p in SOURCE for c in CHANNELS]
    _write(folder / f"{name}_imu.csv.gz", ["time"] + [f"{p}_{c}" for p in SOURCE for c in CHANNELS], np.stack(cols, axis=1))
    ik_h = ["time", "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "ankle_angle_r"]
    _write(folder / f"{name}_ik.csv.gz", ik_h, np.stack([t] + [np.zeros(len(t))] * 5, axis=1))


def test_compare_runs_the_v2_pipeline_and_lists_the_trials_whose_calibration_is_refused(tiny_cohort: Path, demo_dir: Path,
                                                                                       tmp_path: Path) -> None:
    """gait-features/2, as `train` builds it: every trial calibrated from its own walking. A
    trial whose calibration is refused (here a test subject's sensors lying still) is left
    out of every model and score and listed in compare.json, not dropped silently."""
    _still_trial(tiny_cohort / "s3" / "trials", "still")
    study = compare(CompareConfig(
        cohort=str(tiny_cohort), real=str(demo_dir), out=str(tmp_path / "study"), archs=("cnn",), placement_sets=(PRODUCT,),
        ratios=(0.5,), ua_epochs=(1,), n_test_subjects=1, max_epochs=1, threads=1, imu_ik=False, pipeline=PIPELINE_V2,
    ))
    assert study["config"]["pipeline"] == PIPELINE_V2
    refused = {(r["subject"], r["trial"]) for r in study["refused"]}
    assert ("s3", "still") in refused
    assert {r["reason"] for r in study["refused"] if r["trial"] == "still"} == {"no_motion"}
    for subject, trial in refused:
        assert any(f"{subject}/{trial} left out of every model and score" in n for n in study["notes"])
    rows = {(r["scope"], r["method"]) for r in study["rows"]}
    assert {("cohort", "UG"), ("cohort", "UI"), ("ab06", "UG"), ("ab06", "UA"), ("ab06", "UI")} <= rows
    from gaitlstm.checkpoint import Checkpoint

    ug = Checkpoint.load(tmp_path / "study" / "ug_cnn_femur_r+calcn_r.pt")
    assert ug.feature_config.pipeline == PIPELINE_V2 and ug.config.pipeline == PIPELINE_V2
    used = {(p.subject, p.trial) for p in ug.train_parts + ug.val_parts + ug.test_parts}
    assert used and not used & refused
    assert ("s3", "walk_a") in used or ("s3", "walk_b") in used  # the test subject is still scored
