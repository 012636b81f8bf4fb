"""The predictor: a model's published stream, and `gaitlstm predict` on recordings
without reference angles (a folder of Xsens MT exports)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gaitlstm.cli import main as cli
from gaitlstm.dataset import discover_subjects, load_trials
from gaitlstm.features import FeatureConfig, GridFeatures
from gaitlstm.io.errors import DataError
from gaitlstm.io.opensim import read_opensim_table
from gaitlstm.predict import published_stream

XSENS = Path(__file__).parent / "fixtures" / "xsens"
MAPPING = """<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000">
  <XsensDataReaderSettings>
    <trial_prefix>walk-000</trial_prefix>
    <ExperimentalSensors>
      <ExperimentalSensor name="_00B421AF"><name_in_model>femur_r_imu</name_in_model></ExperimentalSensor>
      <ExperimentalSensor name="_00B421B0"><name_in_model>calcn_r_imu</name_in_model></ExperimentalSensor>
    </ExperimentalSensors>
  </XsensDataReaderSettings>
</OpenSimDocument>
"""


def test_the_published_stream_is_window_0_then_the_last_stride_of_each_window() -> None:
    fc = FeatureConfig(placements=("femur_r",), window=4, stride=2)
    n = 9  # windows start at 0, 2, 4 (a window at 6 would end past the grid)
    grid = GridFeatures(t=np.arange(n) * 0.01, rows=np.zeros((n, 9)), ahrs_resets=0)
    calls = []

    def predict(x: np.ndarray) -> np.ndarray:  # window k outputs 10 * k + the sample's index in the window
        calls.append(len(x))
        k = np.arange(len(x))[:, None, None] + sum(calls[:-1])
        return np.broadcast_to(10 * k + np.arange(4)[None, :, None], (len(x), 4, 1)).astype(float)

    targets = np.arange(n, dtype=float)[:, None]
    s = published_stream(grid, fc, predict, targets, batch=2)
    assert s.n_windows == 3 and calls == [2, 1]
    np.testing.assert_allclose(s.pred[:, 0], [0, 1, 2, 3, 12, 13, 22, 23])
    np.testing.assert_allclose(s.t, grid.t[:8])  # one gap-free stream on the grid
    np.testing.assert_allclose(s.true[:, 0], np.arange(8))


@pytest.fixture
def xsens_folder(tmp_path: Path) -> Path:
    """Two sensors of one OpenSense trial: a 1.5 s excerpt with gyroscope, as femur_r and calcn_r."""
    folder = tmp_path / "mine"
    folder.mkdir()
    src = XSENS / "MT_012005D6_031-000-excerpt_00B421AF.txt"
    for sensor in ("00B421AF", "00B421B0"):
        shutil.copy(src, folder / f"walk-000_{sensor}.txt")
    (folder / "myIMUMappings.xml").write_text(MAPPING)
    return folder


def test_an_xsens_folder_is_discovered_as_one_trial(xsens_folder: Path) -> None:
    found = discover_subjects(xsens_folder)
    assert list(found) == ["mine"] and [(t.name, t.kind) for t in found["mine"]] == [("walk-000", "xsens")]
    trial = load_trials(xsens_folder)["mine"][0]
    assert sorted(trial.imus) == ["calcn_r", "femur_r"] and trial.angles_t is None


# The Xsens example is 1.5 s of a standing wearer: a gait-features/2 model (the shipped one) cannot
# calibrate its sensors from it (no walking), so the reading of the format is tested on a v1 model.
V1_MODEL = Path("test") / "fixtures" / "models" / "tiny-v1"


def test_predict_writes_the_published_angles_of_an_xsens_recording(repo: Path, xsens_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "angles"
    assert cli(["predict", "--model", str(repo / V1_MODEL), "--data", str(xsens_folder), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [(s["trial"], s["windows"], s["samples"]) for s in summary] == [("walk-000", 5, 150)]  # 150 grid samples: 50 + 4 x 25
    table = read_opensim_table(out / "walk-000_angles.mot")
    assert table.in_degrees and table.columns == ["hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_flexion_r", "ankle_dorsiflexion_r"]
    np.testing.assert_allclose(np.diff(table.time), 0.01, atol=1e-6)
    assert all(np.isfinite(table.data[c]).all() for c in table.columns)


def test_evaluate_on_an_xsens_folder_says_it_needs_reference_angles(repo: Path, xsens_folder: Path) -> None:
    with pytest.raises(ValueError, match=r"no joint angles.*gaitlstm predict"):
        cli(["evaluate", "--model", str(repo / V1_MODEL), "--data", str(xsens_folder)])


def test_an_xsens_export_without_gyroscope_is_refused_by_name(repo: Path, tmp_path: Path) -> None:
    """OpenSense's example walk exports accelerometer and orientation only."""
    with pytest.raises(ValueError, match=r"myIMUMappings.xml.*placement '\w+' has no gyroscope"):
        cli(["predict", "--data", str(XSENS / "example_walk_8imu"), "--out", str(tmp_path)])


def test_a_settings_file_without_trial_prefix_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "myIMUMappings.xml").write_text("<OpenSimDocument><XsensDataReaderSettings/></OpenSimDocument>")
    with pytest.raises(DataError, match=r"myIMUMappings.xml: no <trial_prefix>"):
        discover_subjects(tmp_path)
