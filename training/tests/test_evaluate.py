"""`evaluate`: a model through the full preprocessing on a folder of trials."""

import gzip
import json

from gaitlstm.cli import main as cli


def test_evaluate_cli_on_a_folder(exported, tmp_path, demo_dir, capsys):
    _, d = exported
    dest = tmp_path / "scores.json"
    assert cli(["evaluate", "--model", str(d / "manifest.json"), "--data", str(demo_dir), "--json", str(dest)]) == 0
    r = json.loads(dest.read_text())
    assert set(r["joints"]) == {"hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_flexion_r", "ankle_dorsiflexion_r"}
    assert r["n_windows"] > 50 and r["mean_rmse_deg"] > 0
    assert {"rmse_deg", "nrmse", "r"} <= set(r["joints"]["knee_flexion_r"])


def test_evaluate_include_picks_trials_by_name(repo, cohort, tmp_path):
    # A gait-features/1 test model: the test cohort's trials walk 7 s, shorter than a v2
    # model's walking calibration needs (8 s; it would refuse them `too_short`).
    out = tmp_path / "scores.json"
    model = repo / "test" / "fixtures" / "models" / "tiny-v1"
    args = ["evaluate", "--model", str(model), "--data", str(cohort / "S0"), "--json", str(out)]
    assert cli([*args, "--include", "walk_01*"]) == 0
    assert json.loads(out.read_text())["trials"] == ["walk_01_01"]
    assert cli(args) == 0
    assert json.loads(out.read_text())["trials"] == ["walk_00_01", "walk_01_01"]


def test_evaluate_takes_a_thigh_and_foot_only_recording(tmp_path, demo_dir, repo):
    """A new user's trial needs only the placements the model uses."""
    imu = gzip.open(demo_dir / "levelground_ccw_normal_04_01_imu.csv.gz", "rt").read().splitlines()
    header = imu[0].split(",")
    keep = [i for i, c in enumerate(header) if c == "time" or c.startswith(("thigh_", "foot_"))]
    # The whole trial (17 s): the shipped v2 model calibrates each sensor from its walking (8 s at least).
    rows = [",".join(line.split(",")[i] for i in keep) for line in imu]
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

