from pathlib import Path

from gaitlstm.paths import REPO_ROOT, display_path


def test_paths_in_and_next_to_the_repository_are_relative_to_its_root() -> None:
    assert display_path(REPO_ROOT / "models" / "m" / "manifest.json") == "models/m/manifest.json"
    assert display_path(REPO_ROOT.parent / "shared" / "data") == "../shared/data"


def test_paths_elsewhere_are_kept_as_given() -> None:
    elsewhere = Path("/nonexistent-gait-root/x.json")
    assert REPO_ROOT.parent not in elsewhere.parents  # holds unless the repository sits directly under /
    assert display_path(elsewhere) == str(elsewhere)
