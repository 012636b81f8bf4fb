"""`report`: Markdown + PNG of a model on its held-out trials."""

import pytest

from gaitlstm.cli import main as cli


def test_report_on_the_demo_folder_with_the_shipped_model(repo, demo_dir, tmp_path):
    out = tmp_path / "report"
    assert cli(["report", "--model", str(repo / "models" / "reduced-femur-calcn-lstm" / "manifest.json"), "--data", str(demo_dir), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "gait_cycle.png", "rmse_per_joint.png", "timeseries.png"]
    text = (out / "README.md").read_text()
    # Named relative to the repository, not by this machine's absolute path.
    assert "Data: `data/ab06` (given with --data)" in text
    assert "from `models/reduced-femur-calcn-lstm/manifest.json`" in text
    assert "1 of the 5 held-out trials listed in the manifest" in text  # v2 scores 5: levelground_cw_slow_04_01's thigh is refused
    assert "gait cycles (heel strike to heel strike" in text


def test_report_without_any_held_out_trial_says_so(repo, cohort, tmp_path):
    with pytest.raises(ValueError, match=r"none of the 5 held-out trials listed.*--data"):
        cli(["report", "--model", str(repo / "models" / "reduced-femur-calcn-lstm"), "--data", str(cohort / "S0"), "--out", str(tmp_path)])

