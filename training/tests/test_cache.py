"""The feature cache: features of every placement once, any combination as columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitlstm.cache import FeatureCache, write_cache
from gaitlstm.dataset import Recording
from gaitlstm.features import FeatureConfig, GridFeatures

PLACEMENTS = ("pelvis", "femur_r", "calcn_r")


def _rec(subject: str, seed: int) -> Recording:
    rng = np.random.default_rng(seed)
    n = 60
    return Recording(subject, f"walk{seed}", GridFeatures(np.arange(n) / 100.0, rng.normal(size=(n, 27)), 0), rng.normal(size=(n, 5)), [])


def test_a_combination_reads_exactly_its_placements_columns(tmp_path: Path) -> None:
    fc = FeatureConfig(placements=PLACEMENTS, euler_reference={p: (1.0, 0.0, 0.0, 0.0) for p in PLACEMENTS})
    recs = {"a": [_rec("a", 0), _rec("a", 1)], "b": [_rec("b", 2)]}
    write_cache(tmp_path / "features.npz", recs, {"a": "train", "b": "test"}, fc, {"subjects": {"train": ["a"]}})
    cache = FeatureCache.load(tmp_path / "features.npz")
    assert cache.meta["subjects"] == {"train": ["a"]}
    sub_fc, train = cache.recordings(("calcn_r", "pelvis"), "train")
    assert sub_fc.placements == ("calcn_r", "pelvis") and sorted(sub_fc.euler_reference) == ["calcn_r", "pelvis"]
    assert [r.trial for r in train] == ["walk0", "walk1"]
    src = recs["a"][1]
    # columns 18..26 (calcn_r) then 0..8 (pelvis), stored as float32
    np.testing.assert_allclose(train[1].grid.rows, np.hstack([src.grid.rows[:, 18:27], src.grid.rows[:, 0:9]]), rtol=1e-6)
    np.testing.assert_array_equal(train[1].targets, src.targets)
    assert [r.subject for r in cache.recordings(("femur_r",), "test")[1]] == ["b"]
    assert not list(tmp_path.glob(".*"))  # the temporary file was renamed, not left behind


def test_a_placement_not_in_the_cache_is_named(tmp_path: Path) -> None:
    fc = FeatureConfig(placements=PLACEMENTS)
    write_cache(tmp_path / "c.npz", {"a": [_rec("a", 0)]}, {"a": "train"}, fc, {})
    with pytest.raises(ValueError, match=r"\['tibia_r'\] are not in the cache"):
        FeatureCache.load(tmp_path / "c.npz").recordings(("tibia_r",), "train")
