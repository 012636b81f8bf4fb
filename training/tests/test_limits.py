"""Readings beyond `manifest.input_limits` are dropped before the pipeline, as the edge drops them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from gaitlstm.cli import main as cli
from gaitlstm.io.types import ImuStream, Trial
from gaitlstm.limits import PRODUCT_LIMITS, InputLimits, drop_out_of_limits, within_limits

LIM = InputLimits(acc_abs_max=10.0, gyro_abs_max=2.0)


def _trial(acc: np.ndarray, gyro: np.ndarray) -> Trial:
    t = np.arange(len(acc)) * 0.01
    return Trial("walk", {"femur_r": ImuStream(t, acc, gyro)}, None, {}, 100.0, "walk_imu.csv")


def test_a_reading_beyond_a_limit_or_not_finite_is_dropped_whole() -> None:
    acc = np.zeros((6, 3))
    gyro = np.zeros((6, 3))
    acc[1, 2] = 10.0  # exactly the limit: kept (the edge drops only what exceeds it)
    acc[2, 0] = -10.5
    gyro[3, 1] = 1e308
    gyro[4, 2] = np.nan
    trial = _trial(acc, gyro)
    assert within_limits(trial.imus["femur_r"], LIM).tolist() == [True, True, False, False, False, True]
    out = drop_out_of_limits(trial, LIM)
    s = out.imus["femur_r"]
    np.testing.assert_array_equal(s.t, [0.0, 0.01, 0.05])
    assert s.acc.shape == (3, 3) and s.gyro.shape == (3, 3)
    assert out.notes == ["walk: femur_r: 3 reading(s) not finite or beyond input_limits (acc 10.0 m/s^2, gyro 2.0 rad/s) "
                         "dropped, the first at t=0.020 s"]
    assert len(trial.imus["femur_r"].t) == 6 and trial.notes == []  # the input is left alone


def test_a_clean_trial_comes_back_unchanged() -> None:
    trial = _trial(np.ones((4, 3)), np.ones((4, 3)))
    out = drop_out_of_limits(trial, LIM)
    assert out.imus["femur_r"] is trial.imus["femur_r"] and out.notes == []


def test_a_placement_without_gyroscope_is_left_for_the_pipeline_to_refuse_by_name() -> None:
    from gaitlstm.dataset import trial_streams

    trial = _trial(np.ones((4, 3)), np.full((4, 3), np.nan))
    out = drop_out_of_limits(trial, LIM)
    assert out.imus["femur_r"] is trial.imus["femur_r"]  # not "4 readings dropped"
    with pytest.raises(ValueError, match=r"walk_imu.csv: placement 'femur_r' has no gyroscope"):
        trial_streams(out, ("femur_r",))


def test_the_limits_are_the_manifests() -> None:
    assert PRODUCT_LIMITS == InputLimits.from_manifest({"input_limits": {"acc_abs_max": 16 * 9.80665, "gyro_abs_max": 35.0}}, "m")
    with pytest.raises(ValueError, match=r"manifest.json: input_limits needs"):
        InputLimits.from_manifest({}, "manifest.json")


def _corrupt(src: Path, dest: Path, row: int, column: str, value: str) -> None:
    lines = gzip.open(src, "rt").read().splitlines()
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / src.name.removesuffix(".gz")).write_text("\n".join(lines) + "\n")


def test_evaluate_drops_a_1e308_gyro_cell_as_the_edge_does(repo: Path, demo_dir: Path, tmp_path: Path) -> None:
    """The defect: one 1e308 deg/s cell went into the features (mean RMSE 2.10 -> 3.60 deg)."""
    name = "levelground_ccw_normal_04_01"
    bad = tmp_path / "bad"
    _corrupt(demo_dir / f"{name}_imu.csv.gz", bad, 1500, "thigh_Gyro_X", "1e308")
    (bad / f"{name}_ik.csv.gz").write_bytes((demo_dir / f"{name}_ik.csv.gz").read_bytes())
    model = str(repo / "models" / "reduced-femur-calcn-lstm")
    scores = {}
    for label, data in (("clean", demo_dir), ("bad", bad)):
        assert cli(["evaluate", "--model", model, "--data", str(data), "--json", str(tmp_path / f"{label}.json")]) == 0
        scores[label] = json.loads((tmp_path / f"{label}.json").read_text())
    # One 200 Hz reading of 3400, bridged by interpolation: the score barely moves.
    assert scores["bad"]["mean_rmse_deg"] == pytest.approx(scores["clean"]["mean_rmse_deg"], abs=0.02)
    assert scores["bad"]["n_windows"] == scores["clean"]["n_windows"]
    assert any("femur_r: 1 reading(s) not finite or beyond input_limits" in n for n in scores["bad"]["notes"])
    assert not any("input_limits" in n for n in scores["clean"]["notes"])


def test_without_the_limits_the_cell_reaches_the_features(demo_dir: Path, tmp_path: Path) -> None:
    """The check above is not vacuous: kept, the reading wrecks the filter's orientation."""
    from gaitlstm.dataset import load_trials

    name = "levelground_ccw_normal_04_01"
    _corrupt(demo_dir / f"{name}_imu.csv.gz", tmp_path, 1500, "thigh_Gyro_X", "1e308")
    kept = load_trials(tmp_path, limits=None)[tmp_path.name][0]
    dropped = load_trials(tmp_path)[tmp_path.name][0]
    assert np.abs(kept.imus["femur_r"].gyro).max() > 1e300
    assert len(dropped.imus["femur_r"].t) == len(kept.imus["femur_r"].t) - 1
