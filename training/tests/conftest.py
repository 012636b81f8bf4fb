import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "training"))

SHARED = REPO.parent / "shared" / "data"
DEMO_TRIAL = REPO / "data" / "ab06"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def demo_dir() -> Path:
    return DEMO_TRIAL


def shared_or_skip(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not present (clone without ../shared); covered by shipped fixtures")
    return p
