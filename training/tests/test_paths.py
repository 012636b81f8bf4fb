from pathlib import Path

from gaitlstm.paths import REPO_ROOT, display_path


def test_paths_in_and_next_to_the_repository_are_relative_to_its_root() -> None:
    assert display_path(REPO_ROOT / "models" / "m" / "manifest.json") == "models/m/manifest.json"
    assert display_path(REPO_ROOT.parent / "shared" / "data") == "../shared/data"


def test_paths_elsewhere_are_kept_as_given(tmp_path: Path) -> None:
    if REPO_ROOT.parent in tmp_path.resolve().parents:  # a checkout under /tmp: nothing to show
        return
    assert display_path(tmp_path / "x.json") == str(tmp_path / "x.json")
