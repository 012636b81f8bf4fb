"""The CI smoke path (yolov5 style): train one epoch, export, quantize, run the
ONNX models and compare with PyTorch; the three methods on a small cohort."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from gaitlstm.cli import main as cli
from gaitlstm.contract import load_contract
from gaitlstm.dataset import fit_euler_reference, load_trials, trial_names
from gaitlstm.export import export, sha256
from gaitlstm.features import FeatureConfig, grid_features
from gaitlstm.config import TrainConfig
from gaitlstm.splits import feature_config, plan_ui, split_ui
from gaitlstm.train import train

TINY = dict(max_epochs=1, train_stride=25, batch_size=32, threads=2)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Three 'subjects' cut from the shipped AB06 trial at different offsets, two trials each."""
    from conftest import DEMO_TRIAL

    root = tmp_path_factory.mktemp("cohort")
    imu = gzip.open(DEMO_TRIAL / "levelground_ccw_normal_04_01_imu.csv.gz", "rt").read().splitlines()
    ik = gzip.open(DEMO_TRIAL / "levelground_ccw_normal_04_01_ik.csv.gz", "rt").read().splitlines()
    for s in range(3):
        d = root / f"S{s}" / "trials"
        d.mkdir(parents=True)
        for k in range(2):
            a = 1 + s * 300 + k * 900
            rows = slice(a, a + 1400)
            (d / f"walk_{k:02d}_01_imu.csv").write_text("\n".join([imu[0], *imu[rows]]) + "\n")
            (d / f"walk_{k:02d}_01_ik.csv").write_text("\n".join([ik[0], *ik[rows]]) + "\n")
    return root


@pytest.fixture(scope="module")
def rotated_cohort(cohort, tmp_path_factory) -> Path:
    """The cohort with S2's thigh and foot accelerometers worn turned 90 degrees
    (x -> z, z -> -x): its mean gravity direction differs from S0's and S1's."""
    import shutil

    root = tmp_path_factory.mktemp("rotated")
    for s in ("S0", "S1", "S2"):
        shutil.copytree(cohort / s, root / s)
    for f in (root / "S2" / "trials").glob("*_imu.csv"):
        lines = f.read_text().splitlines()
        header = lines[0].split(",")
        out = [lines[0]]
        for line in lines[1:]:
            v = line.split(",")
            for seg in ("thigh", "foot"):
                x, z = header.index(f"{seg}_Accel_X"), header.index(f"{seg}_Accel_Z")
                v[x], v[z] = v[z], str(-float(v[x]))
            out.append(",".join(v))
        f.write_text("\n".join(out) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import DEMO_TRIAL

    out = tmp_path_factory.mktemp("run")
    ck = train(TrainConfig(data=str(DEMO_TRIAL), out=str(out), heldout=None, **TINY))
    return out, ck


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    out, _ = trained
    d = tmp_path_factory.mktemp("export") / "model"
    return export(out / "checkpoint.pt", d, "test-model", "0.0.1"), d


def test_checkpoint_carries_its_args_and_scores(trained):
    out, ck = trained
    assert (out / "checkpoint.pt").exists()
    assert ck.config.arch == "lstm" and ck.config.imus == ("femur_r", "calcn_r")
    assert ck.metrics["n_windows"] > 0
    assert set(ck.metrics["joints"]) == set(TrainConfig().joints)


def test_export_parity_manifest_and_golden(exported):
    m, d = exported
    # PyTorch vs fp32 ONNX vs int8 on the same inputs
    assert m["metrics"]["parity"]["pytorch_vs_fp32_max_abs_deg"] < 1e-3
    assert m["metrics"]["parity"]["fp32_vs_int8_max_abs_deg"] < 5.0
    assert abs(m["metrics"]["int8"]["mean_rmse_deg"] - m["metrics"]["fp32"]["mean_rmse_deg"]) < 1.0
    # the contract
    assert m["schema"] == "gait-model-contract/1" and m["feature_pipeline"] == "gait-features/1"
    assert m["placements"] == ["femur_r", "calcn_r"] and len(m["channels"]) == 9
    assert m["tensors"]["input"]["shape"] == ["batch", 50, 18]
    assert m["model"]["sha256"] == sha256(d / m["model"]["file"])
    assert m["variants"]["fp32"]["sha256"] == sha256(d / "model.fp32.onnx")
    assert set(m["euler"]["reference"]) == {"femur_r", "calcn_r"}
    assert m["resampling"]["max_gap_s"] == 0.1
    assert m["ahrs"]["first_sample"] == "init-only" and m["ahrs"]["zero_gradient"] == "gyro-only-step"
    g = json.loads((d / "golden.json").read_text())
    assert np.array(g["features"]).shape[1:] == (50, 18)
    assert np.array(g["outputs"]["int8"]).shape[1:] == (50, 5)
    assert abs(g["raw"]["femur_r"]["t"][1] - g["raw"]["femur_r"]["t"][0] - 0.005) < 1e-9  # source rate kept
    # the ONNX file carries the contract too
    c = load_contract(d / "model.int8.onnx")
    assert c.manifest["name"] == "test-model" and c.features.window == 50


def test_export_scores_the_fraction_split_test_tail_only(trained, exported, demo_dir):
    """heldout=None tests on the last 20% of the trial: export scores that tail
    (the PyTorch score equals training's), not the whole trial with its training part."""
    out, ck = trained
    m, d = exported
    assert [p.to_dict() for p in ck.test_parts] == [{"subject": "ab06", "trial": "levelground_ccw_normal_04_01", "start": 0.8, "end": 1.0}]
    assert ck.train_trials == ck.test_trials == ["ab06/levelground_ccw_normal_04_01"]
    assert m["metrics"]["heldout_trials"] == ["ab06/levelground_ccw_normal_04_01[0.80:1.00]"]
    assert m["metrics"]["pytorch"]["mean_rmse_deg"] == pytest.approx(ck.metrics["mean_rmse_deg"], abs=1e-4)
    assert m["metrics"]["pytorch"]["n_windows"] == ck.metrics["n_windows"]
    assert m["provenance"]["test_set"] == [p.to_dict() for p in ck.test_parts]
    # golden vectors start where the test part starts, not at the trial start
    g = json.loads((d / "golden.json").read_text())
    t_all = load_trials(demo_dir)["ab06"][0].imus["femur_r"].t
    assert g["part"]["start"] == 0.8
    assert g["raw"]["femur_r"]["t"][0] > t_all[0] + 0.75 * (t_all[-1] - t_all[0])


def test_evaluate_cli_on_a_folder(exported, tmp_path, demo_dir, capsys):
    _, d = exported
    dest = tmp_path / "scores.json"
    assert cli(["evaluate", "--model", str(d / "manifest.json"), "--data", str(demo_dir), "--json", str(dest)]) == 0
    r = json.loads(dest.read_text())
    assert set(r["joints"]) == {"hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_flexion_r", "ankle_dorsiflexion_r"}
    assert r["n_windows"] > 50 and r["mean_rmse_deg"] > 0
    assert {"rmse_deg", "nrmse", "r"} <= set(r["joints"]["knee_flexion_r"])


def test_ui_split_holds_out_matching_trials_completely(cohort):
    from gaitlstm.dataset import load_trials, to_recordings
    from gaitlstm.features import FeatureConfig

    recs = to_recordings(load_trials(cohort / "S0"), FeatureConfig(placements=("femur_r", "calcn_r")))
    s = split_ui(recs, TrainConfig(heldout="walk_01_01", val_trials=None))
    assert [r.trial for r in s.test] == ["walk_01_01"]
    assert all(not r.trial.startswith("walk_01_01") for r in s.train + s.val)


def test_ug_then_ua_on_a_cohort(rotated_cohort, tmp_path):
    """Default subjects: S2 (last by name) tests, S1 validates. S2 wears its IMUs
    turned, so an Euler reference fitted on it too would differ."""
    ug = train(TrainConfig(data=str(rotated_cohort), out=str(tmp_path / "ug"), method="ug", heldout=None, **TINY))
    assert ug.train_trials == ["S0/walk_00_01", "S0/walk_01_01"]
    assert all(t.startswith("S2/") for t in ug.test_trials)
    assert ug.metrics["n_windows"] > 0
    trials = load_trials(rotated_cohort)
    imus = ("femur_r", "calcn_r")
    without_test = fit_euler_reference(trials["S0"] + trials["S1"], imus)
    with_test = fit_euler_reference(trials["S0"] + trials["S1"] + trials["S2"], imus)
    for p in imus:
        assert ug.feature_config.euler_reference[p] == pytest.approx(without_test[p], abs=1e-12)
        assert not np.allclose(with_test[p], without_test[p], atol=1e-3)  # the rotation matters

    # export scores S2 only, with baselines fitted on S0
    m = export(tmp_path / "ug" / "checkpoint.pt", tmp_path / "ug-model", "ug", "0.0.1")
    assert m["metrics"]["heldout_trials"] == ["S2/walk_00_01", "S2/walk_01_01"]
    assert m["metrics"]["pytorch"]["mean_rmse_deg"] == pytest.approx(ug.metrics["mean_rmse_deg"], abs=1e-4)

    ua = train(TrainConfig(data=str(rotated_cohort), out=str(tmp_path / "ua"), method="ua", base=str(tmp_path / "ug" / "checkpoint.pt"), transfer_ratio=0.3, ua_epochs=1, heldout=None, **TINY))
    assert ua.metrics["n_windows"] > 0
    assert ua.feature_config == ug.feature_config  # the base model's contract is kept
    assert "S2/walk_00_01" in ua.train_trials and "S0/walk_00_01" in ua.train_trials
    m = export(tmp_path / "ua" / "checkpoint.pt", tmp_path / "ua-model", "ua", "0.0.1")
    assert m["metrics"]["heldout_trials"] == ["S2/walk_00_01[0.30:1.00]", "S2/walk_01_01[0.30:1.00]"]
    assert m["metrics"]["pytorch"]["mean_rmse_deg"] == pytest.approx(ua.metrics["mean_rmse_deg"], abs=1e-4)


def test_export_names_a_trial_missing_from_the_data_folder(rotated_cohort, demo_dir, tmp_path):
    ug = tmp_path / "ug"
    train(TrainConfig(data=str(rotated_cohort), out=str(ug), method="ug", heldout=None, max_epochs=0, threads=2, train_stride=50))
    with pytest.raises(ValueError, match=r"missing, e\.g\. S0/walk_00_01.*--data"):
        export(ug / "checkpoint.pt", tmp_path / "m", "x", "0.0.1", data_dir=demo_dir)


def test_ui_reference_leaves_out_the_test_tails(demo_dir):
    """Without --heldout the last 20% of every trial tests: turning the sensors in
    that tail must not move q_ref."""
    cfg = TrainConfig(data=str(demo_dir), heldout=None)
    trials = load_trials(demo_dir)
    plan = plan_ui(trial_names(trials), cfg)
    before = feature_config(cfg, trials, plan).euler_reference
    for t in trials["ab06"]:
        for p in cfg.imus:
            acc = t.imus[p].acc
            tail = slice(int(round(0.8 * len(acc))), None)
            acc[tail] = acc[tail][:, [2, 1, 0]] * [1, 1, -1]
    after = feature_config(cfg, trials, plan).euler_reference
    assert after == before
    everything = fit_euler_reference(trials["ab06"], tuple(cfg.imus))
    assert not np.allclose(everything["femur_r"], before["femur_r"], atol=1e-3)


def test_default_training_on_the_demo_folder_says_what_to_pass(demo_dir, tmp_path):
    """`make train` on a clone without ../shared: the only trial is held out."""
    with pytest.raises(ValueError, match=r"ab06: no training trials left after holding out '\*_04_01'.*--data .*--heldout none"):
        train(TrainConfig(data=str(demo_dir), out=str(tmp_path), **TINY))


def test_val_trials_matching_nothing_is_an_error(cohort, tmp_path):
    with pytest.raises(ValueError, match=r"--val-trials '\*_03_01' matches none.*--val-trials none"):
        train(TrainConfig(data=str(cohort / "S0"), out=str(tmp_path), heldout="walk_01_01", val_trials="*_03_01", **TINY))
    with pytest.raises(ValueError, match=r"--heldout 'nope' matches none"):
        train(TrainConfig(data=str(cohort / "S0"), out=str(tmp_path), heldout="nope", **TINY))


def test_grid_features_refuse_a_gap(demo_dir):
    trial = load_trials(demo_dir)["ab06"][0]
    fc = FeatureConfig(placements=("femur_r", "calcn_r"))
    streams = {p: (trial.imus[p].t.copy(), trial.imus[p].acc, trial.imus[p].gyro) for p in fc.placements}
    grid_features(streams, fc)  # the shipped trial has no gap
    t = streams["calcn_r"][0]
    t[500:] += 0.2  # a 0.205 s hole after sample 499
    with pytest.raises(ValueError, match=r"placement 'calcn_r'.*t=\d+\.\d+ s.*max_gap_s=0.1"):
        grid_features(streams, fc)


def test_real_ab06_trials_have_no_gap():
    from conftest import shared_or_skip
    from gaitlstm.features import first_gap

    trials = load_trials(shared_or_skip("camargo_ab06", "trials"))
    gaps = [f"{t.name}/{p}" for ts in trials.values() for t in ts for p, s in t.imus.items() if first_gap(s.t, 0.1) is not None]
    assert gaps == []


def test_report_on_the_demo_folder_with_the_shipped_model(repo, demo_dir, tmp_path):
    out = tmp_path / "report"
    assert cli(["report", "--model", str(repo / "models" / "reduced-femur-calcn-lstm" / "manifest.json"), "--data", str(demo_dir), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "gait_cycle.png", "rmse_per_joint.png", "timeseries.png"]
    text = (out / "README.md").read_text()
    # Named relative to the repository, not by this machine's absolute path.
    assert "Data: `data/ab06` (given with --data)" in text
    assert "from `models/reduced-femur-calcn-lstm/manifest.json`" in text
    assert "1 of the 6 held-out trials listed in the manifest" in text
    assert "gait cycles (heel strike to heel strike" in text


def test_report_without_any_held_out_trial_says_so(repo, cohort, tmp_path):
    with pytest.raises(ValueError, match=r"none of the 6 held-out trials listed.*--data"):
        cli(["report", "--model", str(repo / "models" / "reduced-femur-calcn-lstm"), "--data", str(cohort / "S0"), "--out", str(tmp_path)])


def test_evaluate_include_picks_trials_by_name(repo, cohort, tmp_path):
    out = tmp_path / "scores.json"
    args = ["evaluate", "--model", str(repo / "models" / "reduced-femur-calcn-lstm"), "--data", str(cohort / "S0"), "--json", str(out)]
    assert cli([*args, "--include", "walk_01*"]) == 0
    assert json.loads(out.read_text())["trials"] == ["walk_01_01"]
    assert cli(args) == 0
    assert json.loads(out.read_text())["trials"] == ["walk_00_01", "walk_01_01"]


def test_cnn_architecture_trains(demo_dir, tmp_path):
    ck = train(TrainConfig(data=str(demo_dir), out=str(tmp_path), arch="cnn", heldout=None, **TINY))
    assert ck.metrics["mean_rmse_deg"] > 0


def test_ug_needs_three_subjects(demo_dir, tmp_path):
    with pytest.raises(ValueError, match="subjects"):
        train(TrainConfig(data=str(demo_dir), out=str(tmp_path), method="ug", heldout=None, **TINY))


def test_evaluate_takes_a_thigh_and_foot_only_recording(tmp_path, demo_dir, repo):
    """A new user's trial needs only the placements the model uses."""
    imu = gzip.open(demo_dir / "levelground_ccw_normal_04_01_imu.csv.gz", "rt").read().splitlines()
    header = imu[0].split(",")
    keep = [i for i, c in enumerate(header) if c == "time" or c.startswith(("thigh_", "foot_"))]
    rows = [",".join(line.split(",")[i] for i in keep) for line in imu[:1200]]
    (tmp_path / "mine_imu.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "mine_ik.csv.gz").write_bytes((demo_dir / "levelground_ccw_normal_04_01_ik.csv.gz").read_bytes())
    out = tmp_path / "scores.json"
    assert cli(["evaluate", "--model", str(repo / "models" / "reduced-femur-calcn-lstm"), "--data", str(tmp_path), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["n_windows"] > 0


def test_cli_reports_bad_input_without_a_traceback(tmp_path, repo):
    import subprocess
    import sys

    (tmp_path / "x_imu.csv").write_text("time,thigh_Accel_X\n0.0,1\n")
    r = subprocess.run(
        [sys.executable, "-m", "gaitlstm", "evaluate", "--data", str(tmp_path)],
        cwd=repo / "training", capture_output=True, text=True,
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "x_imu.csv" in r.stderr and "thigh_Accel_Y" in r.stderr
