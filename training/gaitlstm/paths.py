"""Where things are, and how reports name them.

Reports are committed, so they name files relative to the repository root
(`models/...`, `../shared/data/...`) rather than by the absolute path of the
machine that wrote them.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def display_path(path: str | Path) -> str:
    """`path` relative to the repository root when it lies in or next to it, else as given."""
    p = Path(path).resolve()
    if REPO_ROOT.parent in p.parents or p == REPO_ROOT.parent:
        return Path(os.path.relpath(p, REPO_ROOT)).as_posix()
    return str(path)
