"""The batch assembly of the coupled-batching measurement (gaitlstm.batch_coupling)."""

import numpy as np
import pytest

from gaitlstm.batch_coupling import coupled_batches


def test_each_window_gets_its_own_slot_and_distinct_partners() -> None:
    rng = np.random.default_rng(3)
    partners, slots = coupled_batches(n=20, pool=30, batch=8, rng=rng)
    assert partners.shape == (20, 8)
    for row, slot in zip(partners, slots):
        assert row[slot] == -1  # the window itself
        others = np.delete(row, slot)
        assert len(set(others.tolist())) == 7  # no partner twice
        assert others.min() >= 0 and others.max() < 30


def test_batch_one_has_no_partners() -> None:
    partners, slots = coupled_batches(n=3, pool=5, batch=1, rng=np.random.default_rng(0))
    assert partners.tolist() == [[-1], [-1], [-1]]
    assert slots.tolist() == [0, 0, 0]


def test_a_pool_too_small_for_the_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 8 partners, the pool has 4"):
        coupled_batches(n=1, pool=4, batch=9, rng=np.random.default_rng(0))
