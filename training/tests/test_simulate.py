"""The IMU simulator on hand-written models: physics, .osim parsing, noise, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitlstm.dataset import discover_subjects
from gaitlstm.io import G, read_camargo_trial
from gaitlstm.io.errors import DataError
from gaitlstm.simulate import Motion, Mount, NoiseModel, body_transforms, parse_osim, read_coordinates, simulate_imus, write_trial
from gaitlstm.simulate.cli import main as simulate_main
from gaitlstm.simulate.kinematics import Coordinates
from gaitlstm.simulate.noise import SensorErrors


def offset(name: str, parent: str, translation: str = "0 0 0", orientation: str = "0 0 0") -> str:
    return (
        f'<PhysicalOffsetFrame name="{name}"><socket_parent>{parent}</socket_parent>'
        f"<translation>{translation}</translation><orientation>{orientation}</orientation></PhysicalOffsetFrame>"
    )


def coordinate(name: str) -> str:
    return f'<Coordinate name="{name}"><default_value>0</default_value><locked>false</locked></Coordinate>'


def osim(bodies: list[str], joints: list[str], gravity: str = "0 -9.80665 0") -> str:
    body_xml = "".join(bodies)
    return (
        '<?xml version="1.0"?><OpenSimDocument Version="40000"><Model name="test">'
        f"<gravity>{gravity}</gravity><BodySet><objects>{body_xml}</objects></BodySet>"
        f"<JointSet><objects>{''.join(joints)}</objects></JointSet></Model></OpenSimDocument>"
    )


def pin(name: str, parent: str, child: str, coord: str, at: str = "0 0 0") -> str:
    return (
        f'<PinJoint name="{name}"><socket_parent_frame>{parent}_offset</socket_parent_frame>'
        f"<socket_child_frame>{child}_offset</socket_child_frame><coordinates>{coordinate(coord)}</coordinates>"
        f"<frames>{offset(parent + '_offset', '/ground' if parent == 'ground' else '/bodyset/' + parent, at)}"
        f"{offset(child + '_offset', '/bodyset/' + child)}</frames></PinJoint>"
    )


def pendulum(gravity: str = "0 0 0"):
    """One body on a pin (z axis) at the ground origin."""
    return parse_osim(osim(['<Body name="bob"/>'], [pin("swing", "ground", "bob", "angle")], gravity))


def constant_motion(model, t: np.ndarray, **values) -> Motion:
    return Motion(Coordinates(t, {c: np.asarray(values.get(c, np.zeros_like(t)), dtype=float) for c in model.coordinates}, "test"))


T = np.linspace(0.0, 2.0, 201)
INNER = T[5:-5]


def test_a_sensor_at_rest_reads_gravity_only():
    model = pendulum(gravity="0 -9.80665 0")
    imu = simulate_imus(model, constant_motion(model, T), {"s": Mount(body="bob")}, INNER)["s"]
    np.testing.assert_allclose(imu.acc, np.tile([0.0, G, 0.0], (len(INNER), 1)), atol=1e-6)
    np.testing.assert_allclose(imu.gyro, 0.0, atol=1e-9)


def test_a_tilted_sensor_reads_gravity_on_its_own_axes():
    model = pendulum(gravity="0 -9.80665 0")
    # Sensor x along body -y: the sensor hangs "x down", so it reads -g on x.
    R_BS = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).T
    imu = simulate_imus(model, constant_motion(model, T), {"s": Mount(body="bob", R_BS=R_BS)}, INNER)["s"]
    np.testing.assert_allclose(imu.acc[0], [-G, 0.0, 0.0], atol=1e-6)


def test_a_pure_rotation_at_constant_rate_reads_that_rate():
    model = pendulum()
    w = 3.0
    imu = simulate_imus(model, constant_motion(model, T, angle=w * T), {"s": Mount(body="bob")}, INNER)["s"]
    np.testing.assert_allclose(imu.gyro, np.tile([0.0, 0.0, w], (len(INNER), 1)), atol=1e-6)
    # On the axis: no specific force without gravity.
    np.testing.assert_allclose(imu.acc, 0.0, atol=1e-5)


def test_a_pendulum_sensor_reads_the_centripetal_term():
    model = pendulum()
    w, r = 2.5, 0.4
    mount = Mount(body="bob", p_BS=np.array([0.0, -r, 0.0]))  # r below the pivot
    imu = simulate_imus(model, constant_motion(model, T, angle=w * T), {"s": mount}, INNER)["s"]
    # Specific force points from the sensor to the pivot (+y body), magnitude w^2 r.
    np.testing.assert_allclose(imu.acc, np.tile([0.0, w * w * r, 0.0], (len(INNER), 1)), atol=1e-5)


def test_a_swinging_pendulum_with_gravity_matches_the_closed_form():
    model = pendulum(gravity="0 -9.80665 0")
    A, f, r = 0.5, 0.8, 0.3
    th = A * np.sin(2 * np.pi * f * T)
    mount = Mount(body="bob", p_BS=np.array([0.0, -r, 0.0]))
    imu = simulate_imus(model, constant_motion(model, T, angle=th), {"s": mount}, INNER)["s"]
    t = INNER
    theta = A * np.sin(2 * np.pi * f * t)
    thd = A * 2 * np.pi * f * np.cos(2 * np.pi * f * t)
    thdd = -A * (2 * np.pi * f) ** 2 * np.sin(2 * np.pi * f * t)
    # Body frame: radial (+y) w^2 r + g cos(theta); tangential (x) r theta'' + g sin(theta)... with signs of a z-pin.
    expected_y = thd**2 * r + G * np.cos(theta)
    expected_x = r * thdd + G * np.sin(theta)
    # The spline through 100 Hz samples is not the exact sine: allow a small error.
    np.testing.assert_allclose(imu.acc[:, 1], expected_y, atol=2e-3)
    np.testing.assert_allclose(imu.acc[:, 0], expected_x, atol=2e-3)
    np.testing.assert_allclose(imu.gyro[:, 2], thd, atol=1e-4)


LEG = osim(
    [
        '<Body name="pelvis"/>',
        '<Body name="femur_r"><components>'
        + offset("thigh_imu", "..", "0.01 -0.2 0.05", "0 0 1.5707963267948966")
        + "</components></Body>",
        '<Body name="tibia_r"/>',
        '<Body name="calcn_r"/>',
    ],
    [
        '<FreeJoint name="ground_pelvis"><socket_parent_frame>/ground</socket_parent_frame>'
        "<socket_child_frame>/bodyset/pelvis</socket_child_frame><coordinates>"
        + "".join(coordinate(c) for c in ("pelvis_rx", "pelvis_ry", "pelvis_rz", "pelvis_tx", "pelvis_ty", "pelvis_tz"))
        + "</coordinates></FreeJoint>",
        pin("hip_r", "pelvis", "femur_r", "hip_flexion_r", at="-0.07 -0.07 0.08"),
        '<CustomJoint name="knee_r"><socket_parent_frame>femur_r_offset</socket_parent_frame>'
        "<socket_child_frame>tibia_r_offset</socket_child_frame><coordinates>"
        + coordinate("knee_angle_r")
        + "</coordinates><frames>"
        + offset("femur_r_offset", "/bodyset/femur_r", "0 -0.4 0")
        + offset("tibia_r_offset", "/bodyset/tibia_r")
        + "</frames><SpatialTransform>"
        '<TransformAxis name="rotation1"><coordinates>knee_angle_r</coordinates><axis>0 0 1</axis>'
        "<LinearFunction><coefficients>1 0</coefficients></LinearFunction></TransformAxis>"
        '<TransformAxis name="rotation2"><coordinates/><axis>0 1 0</axis><Constant><value>0</value></Constant></TransformAxis>'
        '<TransformAxis name="translation1"><coordinates>knee_angle_r</coordinates><axis>1 0 0</axis>'
        "<MultiplierFunction><function><SimmSpline><x>-2 -1 0 1 2</x><y>-0.02 -0.01 0 0.01 0.02</y></SimmSpline></function>"
        "<scale>2</scale></MultiplierFunction></TransformAxis>"
        '<TransformAxis name="translation2"><coordinates/><axis>0 1 0</axis>'
        "<MultiplierFunction><function><Constant><value>0.5</value></Constant></function><scale>-0.1</scale></MultiplierFunction>"
        "</TransformAxis></SpatialTransform></CustomJoint>",
        '<WeldJoint name="ankle_r"><socket_parent_frame>tibia_r_offset</socket_parent_frame>'
        "<socket_child_frame>calcn_r_offset</socket_child_frame><frames>"
        + offset("tibia_r_offset", "/bodyset/tibia_r", "0 -0.43 0", "0 1.5707963267948966 0")
        + offset("calcn_r_offset", "/bodyset/calcn_r", "0.05 0 0")
        + "</frames></WeldJoint>",
    ],
)


def test_osim_parsing_of_a_small_leg():
    model = parse_osim(LEG, "leg.osim")
    assert model.bodies == ["pelvis", "femur_r", "tibia_r", "calcn_r"]
    assert [j.name for j in model.chain("calcn_r")] == ["ground_pelvis", "hip_r", "knee_r", "ankle_r"]
    assert model.coordinates["pelvis_ty"].translational and not model.coordinates["knee_angle_r"].translational
    body, X = model.frames["thigh_imu"]
    assert body == "femur_r"
    np.testing.assert_allclose(X[:3, 3], [0.01, -0.2, 0.05])
    np.testing.assert_allclose(X[:3, :3] @ [1, 0, 0], [0, 1, 0], atol=1e-12)

    knee = -0.5
    q = {c: np.zeros(1) for c in model.coordinates}
    q["pelvis_ty"] = np.array([1.0])
    q["knee_angle_r"] = np.array([knee])
    X = body_transforms(model, q)
    hip = np.array([-0.07, 1.0 - 0.07, 0.08])
    np.testing.assert_allclose(X["femur_r"][0, :3, 3], hip, atol=1e-12)
    # Knee: translation in the parent offset frame (x: 2 * 0.01 * knee, y: -0.05), then rotation about z.
    knee_origin = hip + np.array([2 * 0.01 * knee, -0.4 - 0.05, 0.0])
    np.testing.assert_allclose(X["tibia_r"][0, :3, 3], knee_origin, atol=1e-9)
    c, s = np.cos(knee), np.sin(knee)
    Rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    np.testing.assert_allclose(X["tibia_r"][0, :3, :3], Rz, atol=1e-12)
    # Weld with a rotated parent frame and a child offset: calcn origin = ankle - R_ankle @ (0.05, 0, 0).
    Ry = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=float)
    ankle = knee_origin + Rz @ [0, -0.43, 0]
    np.testing.assert_allclose(X["calcn_r"][0, :3, 3], ankle - Rz @ Ry @ [0.05, 0, 0], atol=1e-9)


def test_osim_errors_name_the_problem():
    with pytest.raises(DataError, match="unsupported joint type <EllipsoidJoint>"):
        parse_osim(osim(['<Body name="b"/>'], ['<EllipsoidJoint name="j"><coordinates/></EllipsoidJoint>']), "x.osim")
    with pytest.raises(DataError, match="names no body or frame"):
        parse_osim(osim(['<Body name="b"/>'], [pin("j", "ground", "b", "q").replace("/bodyset/b", "/bodyset/nope")]), "x.osim")


def test_noise_statistics_follow_the_model():
    rate, n = 100.0, 40_000
    t = np.arange(n) / rate
    m = NoiseModel.ideal().with_(gyro_noise_density=0.01, acc_noise_density=0.002)
    errors = SensorErrors.draw(m, np.random.default_rng(1))
    acc, gyro = errors.apply(np.zeros((n, 3)), np.zeros((n, 3)), t, np.random.default_rng(2))
    np.testing.assert_allclose(gyro.std(axis=0), 0.01 * np.sqrt(rate), rtol=0.03)
    np.testing.assert_allclose(acc.std(axis=0), 0.002 * np.sqrt(rate), rtol=0.03)
    assert np.all(np.abs(gyro.mean(axis=0)) < 5 * 0.01 * np.sqrt(rate) / np.sqrt(n))

    biased = NoiseModel.ideal().with_(gyro_bias_std=0.02, acc_scale_std=0.01)
    draws = [SensorErrors.draw(biased, np.random.default_rng(k)) for k in range(2000)]
    assert np.std([d.gyro_bias for d in draws]) == pytest.approx(0.02, rel=0.05)
    assert np.std([d.acc_scale for d in draws]) == pytest.approx(0.01, rel=0.05)

    walk = NoiseModel.ideal().with_(gyro_bias_stability=0.001)
    ends = [SensorErrors.draw(walk, np.random.default_rng(k)).apply(np.zeros((10_001, 3)), np.zeros((10_001, 3)),
                                                                    np.arange(10_001) / rate, np.random.default_rng(k))[1][-1]
            for k in range(300)]
    # After tau = 100 s the random walk's std equals the bias stability.
    assert np.std(ends) == pytest.approx(0.001, rel=0.15)


def test_noisy_simulation_is_seeded_and_stays_close_to_the_truth():
    model = pendulum(gravity="0 -9.80665 0")
    motion = constant_motion(model, T, angle=0.5 * np.sin(2 * np.pi * T))
    mounts = {"s": Mount(body="bob", p_BS=np.array([0.0, -0.3, 0.0]))}
    a = simulate_imus(model, motion, mounts, INNER, noise=NoiseModel(), seed=7)["s"]
    b = simulate_imus(model, motion, mounts, INNER, noise=NoiseModel(), seed=7)["s"]
    c = simulate_imus(model, motion, mounts, INNER, noise=NoiseModel(), seed=8)["s"]
    clean = simulate_imus(model, motion, mounts, INNER)["s"]
    np.testing.assert_array_equal(a.gyro, b.gyro)
    assert not np.allclose(a.gyro, c.gyro)
    # Datasheet-level noise + a few degrees of misplacement: the sagittal rate survives.
    assert np.corrcoef(a.gyro[:, 2], clean.gyro[:, 2])[0, 1] > 0.9
    assert np.abs(a.acc - clean.acc).mean() < 3.0


def test_magnetometer_is_the_field_in_the_sensor_frame():
    model = pendulum()
    imu = simulate_imus(model, constant_motion(model, T, angle=np.full_like(T, np.pi / 2)), {"s": Mount(body="bob")},
                        INNER, mag_field=np.array([1.0, 0.0, 0.0]))["s"]
    np.testing.assert_allclose(imu.mag[0], [0.0, -1.0, 0.0], atol=1e-9)


def test_the_trial_writer_round_trips_through_read_camargo_trial(tmp_path: Path):
    model = parse_osim(LEG, "leg.osim")
    t = np.arange(0.0, 2.0, 0.01)
    knee_deg = -30 - 20 * np.sin(2 * np.pi * t)
    coords = {c: np.zeros_like(t) for c in model.coordinates}
    coords["knee_angle_r"] = np.radians(knee_deg)
    coords["hip_flexion_r"] = np.radians(20 * np.sin(2 * np.pi * t))
    coords["pelvis_tx"] = 1.2 * t
    motion = Motion(Coordinates(t, coords, "test"))
    tt = t[1:-1]
    imus = simulate_imus(model, motion, {"thigh": Mount(body="femur_r"), "foot": Mount(body="calcn_r")}, tt)
    out = tmp_path / "virtual01" / "trials" / "walk_01_imu.csv.gz"
    translational = {c for c, k in model.coordinates.items() if k.translational}
    written = motion(tt)
    for missing in ("hip_adduction_r", "hip_rotation_r", "ankle_angle_r"):  # the reader wants all five right-leg joints
        written[missing] = np.zeros_like(tt)
    imu_path, ik_path = write_trial(out, imus, written, translational)
    assert ik_path is not None and ik_path.name == "walk_01_ik.csv.gz"

    trial = read_camargo_trial(imu_path, ik_path)
    assert set(trial.imus) == {"femur_r", "calcn_r"}
    np.testing.assert_allclose(trial.imus["femur_r"].acc, imus["thigh"].acc, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(trial.imus["calcn_r"].gyro, imus["foot"].gyro, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trial.angles["knee_flexion_r"], -knee_deg[1:-1], atol=1e-3)
    assert trial.rate_hz == pytest.approx(100.0)
    assert list(discover_subjects(tmp_path)) == ["virtual01"]
    # The _ik file reads back as coordinates too, translations still in metres.
    back = read_coordinates(ik_path, model)
    np.testing.assert_allclose(back.values["pelvis_tx"], 1.2 * tt, atol=1e-6)


def test_cli_imu_writes_a_trial_pair_from_a_mot(tmp_path: Path):
    model_path = tmp_path / "leg.osim"
    model_path.write_text(LEG)
    t = np.arange(0.0, 1.5, 0.01)
    cols = {"hip_flexion_r": 25 * np.sin(2 * np.pi * t), "knee_angle_r": -30 + 25 * np.cos(2 * np.pi * t), "pelvis_ty": np.full_like(t, 0.9)}
    lines = ["walk", "version=1", f"nRows={len(t)}", f"nColumns={len(cols) + 1}", "inDegrees=yes", "endheader",
             "\t".join(["time", *cols])]
    lines += ["\t".join(f"{v:.6f}" for v in (t[i], *(c[i] for c in cols.values()))) for i in range(len(t))]
    mot = tmp_path / "walk.mot"
    mot.write_text("\n".join(lines) + "\n")
    out = tmp_path / "cohort" / "s01" / "trials" / "walk_imu.csv"
    assert simulate_main(["imu", "--mot", str(mot), "--model", str(model_path), "--out", str(out),
                          "--sensors", "thigh", "foot", "--mount", "body", "--noise", "none"]) == 0
    trial = read_camargo_trial(out)
    assert trial.rate_hz == pytest.approx(100.0)
    ik = read_coordinates(out.with_name("walk_ik.csv"), parse_osim(LEG))
    assert np.ptp(np.degrees(ik.values["hip_flexion_r"])) == pytest.approx(50, abs=1.0)
    np.testing.assert_allclose(ik.values["pelvis_ty"], 0.9, atol=1e-6)
    # Thigh gyro z is the hip flexion rate (pelvis fixed): amplitude 25 deg * 2 pi rad/s.
    assert np.max(np.abs(trial.imus["femur_r"].gyro[:, 2])) == pytest.approx(np.radians(25) * 2 * np.pi, rel=0.1)
    with pytest.raises(ValueError, match="_imu.csv"):
        simulate_main(["imu", "--mot", str(mot), "--model", str(model_path), "--out", str(tmp_path / "bad.csv")])
