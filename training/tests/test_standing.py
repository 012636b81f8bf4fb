"""The standing-pose offset experiment (gaitlstm.study.standing, issue #9 item 6).

Pure logic on synthetic streams (stand detection, the offsets), then one trial
end to end on the shipped demo trial (AB06, real), its own end stand copied
before it, through the v2 pipeline with a predictor that always says the same
angles: then every variant's corrected stream is known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from gaitlstm.dataset import cut, load_recording, load_trials
from gaitlstm.features import PIPELINE_V2, SEGMENT_REFERENCE, FeatureConfig
from gaitlstm.io.types import JOINTS_R, ImuStream
from gaitlstm.mounting.calibrate import G
from gaitlstm.study.standing import Scope, first_stand, on_grid, stand_offset, stands_on_all, with_stand_before

RATE = 100.0


def _stream(still: list[tuple[int, int]], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """acc, gyro: moving (|w| 2 rad/s, |f| off g) except on the `still` spans (gravity, no rotation)."""
    rng = np.random.default_rng(seed)
    acc = np.tile([0.0, G + 3.0, 0.0], (n, 1)) + rng.normal(0, 0.5, (n, 3))
    gyro = np.tile([2.0, 0.0, 0.0], (n, 1)) + rng.normal(0, 0.1, (n, 3))
    for a, b in still:
        acc[a:b] = [0.0, G, 0.0]
        gyro[a:b] = 0.0
    return acc, gyro


def test_a_stand_is_where_every_placement_is_still() -> None:
    # The foot settles first (0.5-3.0 s), the thigh later (1.2-2.8 s): the common stand is 1.2-2.8 s.
    # A 0.6 s still spell of the foot alone (stance-like) is no stand.
    foot = _stream([(50, 300), (600, 660)], 1000, 0)
    thigh = _stream([(120, 280), (590, 700)], 1000, 1)
    assert stands_on_all({"calcn_r": foot, "femur_r": thigh}, RATE) == [(120, 280)]
    # Still on each, but together for less than the overlap asked for: none.
    assert stands_on_all({"calcn_r": foot, "femur_r": thigh}, RATE, overlap_s=2.0) == []
    with pytest.raises(ValueError, match="no placement"):
        stands_on_all({}, RATE)


def test_the_offset_comes_from_the_first_stand_before_the_test_part() -> None:
    assert first_stand([(120, 280), (900, 1000)], before=500) == (120, 280)
    assert first_stand([(600, 700)], before=500) is None  # only a stand inside the test part: no offset
    pred = np.tile([10.0, 2.0], (6, 1))
    true = np.tile([4.0, -1.0], (6, 1))
    off = stand_offset(pred, true, (1, 4), reference=np.array([5.0, 0.0]))
    assert np.allclose(off["none"], 0) and np.allclose(off["neutral"], [5.0, 2.0]) and np.allclose(off["oracle"], [6.0, 3.0])


def test_a_stand_played_before_a_walk_shifts_the_walk_and_keeps_its_samples(demo_dir) -> None:
    walk = next(iter(load_trials(demo_dir).values()))[0]
    n = 300
    stand = {p: ImuStream(np.arange(n) / RATE, np.tile([0.0, G, 0.0], (n, 1)), np.zeros((n, 3))) for p in ("femur_r", "calcn_r")}
    joined = with_stand_before(walk, stand, JOINTS_R, np.arange(5.0))
    t = joined.imus["femur_r"].t
    assert len(t) == n + len(walk.imus["femur_r"].t) and np.all(np.diff(t) > 0)
    assert np.array_equal(joined.imus["calcn_r"].acc[n:], walk.imus["calcn_r"].acc)
    assert joined.angles["knee_flexion_r"][0] == 3.0 and np.array_equal(joined.angles["knee_flexion_r"][n:], walk.angles["knee_flexion_r"])


def test_one_real_trial_end_to_end_with_a_constant_predictor(demo_dir) -> None:
    """AB06's demo trial, its end stand (still on thigh and foot) copied before it, v2 features.
    A predictor that always says `c`: `oracle` then makes every test sample the true mean of
    the stand, `neutral` makes it the reference, `none` leaves `c`."""
    walk = next(iter(load_trials(demo_dir).values()))[0]
    placements = ("femur_r", "calcn_r")
    fc = FeatureConfig(placements=placements, euler_reference={p: SEGMENT_REFERENCE for p in placements}, pipeline=PIPELINE_V2)
    grid_t = np.arange(walk.imus["femur_r"].t[0], walk.imus["femur_r"].t[-1], 1.0 / RATE)
    end = stands_on_all(on_grid(walk, placements, grid_t), RATE)[-1]
    t0, t1 = grid_t[end[0]], grid_t[end[1] - 1]
    stand = {}
    for p in placements:
        s = walk.imus[p]
        keep = (s.t >= t0) & (s.t <= t1)
        stand[p] = ImuStream(s.t[keep] - s.t[keep][0], s.acc[keep], s.gyro[keep])
    truth = np.array([np.interp((t0 + t1) / 2, walk.angles_t, walk.angles[j]) for j in JOINTS_R])
    joined = with_stand_before(walk, stand, JOINTS_R, truth)
    c = np.array([20.0, 1.0, -3.0, 30.0, 5.0], dtype=np.float32)
    predict = lambda x: np.broadcast_to(c, (*x.shape[:2], 5)).copy()  # noqa: E731
    stand_rec, walk_rec = load_recording(joined, "AB06", fc), load_recording(walk, "AB06", fc)
    scope = Scope("ab06")
    reference = np.array([1.0, 0.0, 0.0, 2.0, 0.0])
    scope.add("AB06/demo", stand_rec, len(stand["femur_r"].t) + 10, cut(walk_rec, 0.5, 1.0), fc, predict, joined, reference, JOINTS_R)
    assert not scope.left_out and len(scope.trials) == 1
    assert scope.trials[0]["stand_s"] >= 0.5
    test_true = scope.segments["none"][0][1]
    for variant, expected in (("none", c), ("neutral", reference), ("oracle", truth), ("bias_bound", test_true.mean(0))):
        (pred, _), = scope.segments[variant]
        assert np.allclose(pred, expected[None, :], atol=1e-3), variant
    summary = scope.summary(JOINTS_R, RATE)
    assert set(summary["mean_rmse_deg"]) == {"none", "neutral", "oracle", "bias_bound"}
    # a constant stream's only error that a constant can remove is its mean: the bound is the lowest
    assert summary["mean_rmse_deg"]["bias_bound"] == min(summary["mean_rmse_deg"].values())

    # The same trial without a stand before its test part: reported, not scored.
    scope.add("AB06/no-stand", walk_rec, 100, cut(walk_rec, 0.5, 1.0), fc, predict, walk, reference, JOINTS_R)
    assert scope.left_out == ["AB06/no-stand: no stand before the test part (each placement still for 1 s, all together for 0.5 s)"]
