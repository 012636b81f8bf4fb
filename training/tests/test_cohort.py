"""The virtual cohort generator and the placement-named trial format, on a tiny model written here."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from leg_models import legs_osim, walking, write_mot

from gaitlstm.dataset import discover_subjects, load_trials
from gaitlstm.io import G, read_camargo_trial
from gaitlstm.io.errors import DataError
from gaitlstm.simulate import Motion, parse_osim, simulate_imus
from gaitlstm.simulate.cohort import (
    PLACEMENTS,
    BaseMotion,
    CohortConfig,
    find_cycle,
    generate_cohort,
    mirror_signs,
    nominal_mounts,
    scale_model,
    segment_lengths,
    tile_cycle,
)
from gaitlstm.mounting import handedness
from gaitlstm.simulate.imu import CAMARGO_MOUNTS
from gaitlstm.simulate.kinematics import Coordinates
from gaitlstm.simulate.writer import write_trial


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """Two 'people': one long walk, one 1.5 s recording that must be tiled."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "legs.osim").write_text(legs_osim())
    t_long = np.arange(0.0, 12.0, 0.01)
    write_mot(root / "long.mot", t_long, walking(t_long))
    t_short = np.arange(0.0, 1.5, 0.01)
    write_mot(root / "short.mot", t_short, walking(t_short, cadence_hz=0.9))
    return root


SOURCES = [BaseMotion("person_a", "long_walk", "legs.osim", "long.mot"), BaseMotion("person_b", "short_walk", "legs.osim", "short.mot")]
SMALL = CohortConfig(n_subjects=2, seed=5, trials_per_subject=(2, 2), trial_s=(3.0, 3.5))


def trial_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.glob("*/trials/*.csv.gz"))}


def test_the_cohort_is_seeded_and_reads_as_subjects(tmp_path: Path, data_root: Path):
    a = generate_cohort(tmp_path / "a", SOURCES, data_root, SMALL, workers=1, progress=False)
    generate_cohort(tmp_path / "b", SOURCES, data_root, SMALL, workers=1, progress=False)
    generate_cohort(tmp_path / "c", SOURCES, data_root, replace(SMALL, seed=6), workers=1, progress=False)
    files_a, files_b, files_c = (trial_bytes(tmp_path / x) for x in "abc")
    assert len(files_a) == 2 * 2 * 2  # subjects x trials x (imu, ik)
    assert files_a == files_b  # byte for byte: same seed, same cohort
    assert any(files_a[k] != files_c.get(k) for k in files_a)

    subjects = discover_subjects(tmp_path / "a")
    assert sorted(subjects) == ["v01", "v02"]
    trials = load_trials(tmp_path / "a")
    for subject, ts in trials.items():
        assert len(ts) == 2
        for trial in ts:
            assert sorted(trial.imus) == sorted(PLACEMENTS)
            assert trial.rate_hz == pytest.approx(100.0)
            assert len(trial.angles_t) >= 300  # >= 3 s: many 50-sample windows
            # The model's knee is negative in flexion; the reader's knee_flexion is positive.
            assert trial.angles["knee_flexion_r"].max() > 40 and trial.angles["knee_flexion_l"].min() > -1
            # A sensor at roughly rest on average reads ~1 g.
            assert 8.0 < np.linalg.norm(trial.imus["pelvis"].acc.mean(axis=0)) < 11.5

    manifest = json.loads((tmp_path / "a" / "cohort.json").read_text())
    assert manifest == {**a, "generation_s": manifest["generation_s"]}
    people = {s["subject"]: s for s in manifest["subjects"]}
    assert {people["v01"]["person"], people["v02"]["person"]} == {"person_a", "person_b"}
    for s in manifest["subjects"]:
        assert all(0.9 <= v <= 1.1 for v in s["scales"].values())
        assert all(0.85 <= tr["speed"] <= 1.15 for tr in s["trials"])
        assert not s["kinematics_from_ab06"]
    tiled = next(s for s in manifest["subjects"] if s["person"] == "person_b")
    assert all(tr["strides"] >= 3 for tr in tiled["trials"])  # 1.5 s of data became >= 3 s of walking


def test_a_short_recording_is_tiled_from_its_best_cycle(data_root: Path):
    model = parse_osim(legs_osim())
    from gaitlstm.simulate import read_coordinates

    coords = read_coordinates(data_root / "short.mot", model)
    a, b = find_cycle(coords)
    assert (coords.t[b] - coords.t[a]) == pytest.approx(1 / 0.9, abs=0.02)
    tiled, info = tile_cycle(coords, {"pelvis_tx", "pelvis_ty", "pelvis_tz"}, 6.0, np.random.default_rng(0), jitter=0.0)
    assert tiled.t[-1] >= 6.0 and info["strides"] >= 5
    knee = tiled.values["knee_angle_r"]
    assert np.max(np.abs(np.diff(knee))) < 3 * np.max(np.abs(np.diff(coords.values["knee_angle_r"])))  # no jump at the seams
    # Translation keeps progressing at the recorded speed.
    assert np.polyfit(tiled.t, tiled.values["pelvis_tx"], 1)[0] == pytest.approx(1.2, rel=0.05)


def test_scaling_the_model_scales_its_segments():
    model = parse_osim(legs_osim())
    scaled = scale_model(model, {"femur": 1.1, "tibia": 0.9, "pelvis": 1.0, "foot": 1.0, "trunk": 1.0})
    before, after = segment_lengths(model), segment_lengths(scaled)
    assert after["femur"] == pytest.approx(1.1 * before["femur"])
    assert after["tibia"] == pytest.approx(0.9 * before["tibia"])
    assert segment_lengths(model) == before  # the original is untouched


def test_the_left_leg_mirrors_the_right(tmp_path: Path):
    """A mirror-symmetric motion: each left sensor reads the right one's channels times mirror_signs."""
    model = parse_osim(legs_osim())
    t = np.arange(0.0, 3.0, 0.01)
    deg = walking(t, symmetric=True)
    values = {c: np.zeros_like(t) for c in model.coordinates}
    for c, v in deg.items():
        values[c] = v if c in ("pelvis_tx", "pelvis_ty", "pelvis_tz") else np.radians(v)
    motion = Motion(Coordinates(t, values, "symmetric"))
    mounts = nominal_mounts(segment_lengths(model))
    imus = simulate_imus(model, motion, mounts, t[2:-2])
    for right in ("femur_r", "tibia_r", "calcn_r"):
        left = right.replace("_r", "_l")
        s_acc, s_gyro = mirror_signs(mounts[right])
        np.testing.assert_allclose(imus[left].acc, imus[right].acc * s_acc, atol=1e-6)
        np.testing.assert_allclose(imus[left].gyro, imus[right].gyro * s_gyro, atol=1e-6)
        # The sagittal rate keeps its sign on the left (it is a mirror, not a copy).
        sagittal = int(np.argmax(imus[right].gyro.std(axis=0)))
        assert s_gyro[sagittal] == 1.0
    # Placement-named columns round-trip through the writer and the reader, both legs.
    imu_path, ik_path = write_trial(tmp_path / "s" / "trials" / "w_imu.csv.gz", imus, motion(t[2:-2]), {"pelvis_tx", "pelvis_ty", "pelvis_tz"})
    trial = read_camargo_trial(imu_path, ik_path)
    assert sorted(trial.imus) == sorted(PLACEMENTS)
    np.testing.assert_allclose(trial.imus["femur_l"].acc, imus["femur_l"].acc, atol=1e-5 * G)
    np.testing.assert_allclose(trial.angles["knee_flexion_l"], -deg["knee_angle_l"][2:-2], atol=1e-3)


def _write_csv(path: Path, header: list[str], rows: np.ndarray) -> None:
    text = ",".join(header) + "\n" + "\n".join(",".join(f"{v:.6g}" for v in r) for r in rows) + "\n"
    with gzip.open(path, "wt") as f:
        f.write(text)


def test_the_reader_takes_columns_named_by_placement(tmp_path: Path):
    t = np.arange(0.0, 1.0, 0.01)
    header, cols = ["time"], [t]
    for p, k in (("pelvis", 1.0), ("femur_l", 2.0), ("calcn_r", 3.0)):
        header += [f"{p}_{q}_{a}" for q in ("Accel", "Gyro") for a in "XYZ"]
        cols += [np.full_like(t, k)] * 3 + [np.full_like(t, -k)] * 3
    _write_csv(tmp_path / "x_imu.csv.gz", header, np.column_stack(cols))
    ik_cols = [f"{j}_{s}" for s in "rl" for j in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle")]
    _write_csv(tmp_path / "x_ik.csv.gz", ["time", *ik_cols], np.column_stack([t] + [np.full_like(t, -20.0)] * len(ik_cols)))
    trial = read_camargo_trial(tmp_path / "x_imu.csv.gz", tmp_path / "x_ik.csv.gz")
    assert sorted(trial.imus) == ["calcn_r", "femur_l", "pelvis"]
    np.testing.assert_allclose(trial.imus["femur_l"].acc, 2.0 * G)  # g -> m/s^2
    np.testing.assert_allclose(trial.imus["calcn_r"].gyro, -3.0)  # rad/s as is
    np.testing.assert_allclose(trial.angles["knee_flexion_l"], 20.0)  # left knee converted like the right

    # One placement under two names is ambiguous: refuse it, naming the column.
    _write_csv(tmp_path / "y_imu.csv.gz", header + [f"thigh_{q}_{a}" for q in ("Accel", "Gyro") for a in "XYZ"]
               + [f"femur_r_{q}_{a}" for q in ("Accel", "Gyro") for a in "XYZ"], np.column_stack(cols + [t] * 12))
    with pytest.raises(DataError, match="femur_r.*twice"):
        read_camargo_trial(tmp_path / "y_imu.csv.gz")


def test_random_mounting_gives_each_subject_right_handed_sensors_in_its_own_frames(tmp_path: Path, data_root: Path):
    """`mounting="random"`: a uniformly random orientation per subject and placement,
    right-handed and without channel quirks (the handedness test says `right` on the
    legs' streams), recorded in the manifest; the default stays AB06's mounts."""
    cfg = replace(SMALL, mounting="random", trials_per_subject=(1, 1), trial_s=(9.0, 9.5))
    m = generate_cohort(tmp_path / "r", SOURCES, data_root, cfg, workers=1, progress=False)
    frames = {s["subject"]: s["mounts"]["legs.osim"] for s in m["subjects"]}
    assert sorted(frames) == ["v01", "v02"]
    for subject, mounts in frames.items():
        for p, R in mounts.items():
            assert np.linalg.det(np.array(R)) == pytest.approx(1.0, abs=1e-3), (subject, p)
    # drawn per subject: no two subjects (nor AB06's preset) share a thigh frame
    a, b = (np.array(frames[s]["femur_r"]) for s in ("v01", "v02"))
    assert np.abs(a - b).max() > 0.1 and np.abs(a - CAMARGO_MOUNTS["thigh"].R_BS).max() > 0.1
    for ts in load_trials(tmp_path / "r").values():
        for trial in ts:
            for p in ("femur_r", "femur_l", "calcn_r", "calcn_l"):
                s = trial.imus[p]
                assert handedness(s.acc, s.gyro).decision == "right", (trial.name, p)
    with pytest.raises(ValueError, match="mounting"):
        CohortConfig(mounting="sideways")
    assert "mounts" not in generate_cohort(tmp_path / "d", SOURCES, data_root, replace(SMALL, n_subjects=1), workers=1,
                                           progress=False)["subjects"][0]
