"""A virtual cohort: many subjects' IMU trials simulated from a few people's mocap walks.

Each virtual subject = one real person's walking kinematics (a *base
motion*) on that person's OpenSim model, with, drawn from the subject's seed:

- segment lengths scaled (stature x per-segment factor, within +-10%) by
  scaling the model's joint offsets and coupled joint translations;
- several trials, each a window (long recordings) or a tiling of one gait
  cycle (short recordings, see `tile_cycle`) of a base motion, played
  0.85..1.15x faster or slower (time base scaled, angles unchanged);
- seven sensors at 100 Hz: pelvis, femur/tibia/calcn of both legs. Right leg:
  AB06's fitted mounts (`CAMARGO_MOUNTS`: axes, channel quirks, offsets
  scaled to the segment), left leg: their mirror image (`mirror_mount`:
  sagittal rate and sagittal-plane accelerations keep their sign),
  pelvis: `PELVIS_MOUNT` on the sacrum. The subject's placement is perturbed
  once (NoiseModel's placement error), each trial adds a quarter of that
  again (a strap that slips between trials) and the datasheet noise;
- both legs' own recorded kinematics (every base motion has both legs, so
  nothing is mirrored in time).

Output: `<out>/<subject>/trials/<trial>_{imu,ik}.csv.gz` (placement-named IMU
columns; IK in Camargo's sign: knee flexion NEGATIVE whatever the base
model's knee convention) and `<out>/cohort.json`. docs/simulator.md.

AB06 is the held-out "new person": its real recordings are never in the
cohort and no virtual subject is named after it. Its IK *kinematics* can be
base motions (person `camargo_ab06_kinematics`), flagged in the manifest;
`include_ab06_kinematics=False` leaves them out for a leak-free test on AB06.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from .imu import CAMARGO_MOUNTS, Mount, output_times, simulate_imus
from .kinematics import Coordinates, Motion, body_transforms, read_coordinates
from .noise import NoiseModel
from .osim import OsimModel, load_osim
from .writer import write_trial

COHORT_SCHEMA = "gaitlstm-cohort/1"
MOUNTINGS = ("ab06", "random")
RATE_HZ = 100.0
LOWPASS_HZ = 15.0
PLACEMENTS = ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l", "calcn_r", "calcn_l")
AB06_PERSON = "camargo_ab06_kinematics"

# Segment lengths of AB06's model (camargo_ab06/model/final_with_imu.osim, all
# coordinates zero): CAMARGO_MOUNTS offsets are scaled by length / these.
AB06_LENGTHS = {"femur": 0.415, "tibia": 0.462, "foot": 0.185}

# Pelvis sensor (no AB06 counterpart): on the sacrum, 15 cm behind the pelvis
# origin, x up, y to the left, z backward out of the skin, as an Xsens MTw on a
# belt (OpenSense's pelvis heading axis is then -z). Right-handed, channels as is.
PELVIS_MOUNT = Mount(
    body="pelvis",
    R_BS=np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),  # columns: sensor x, y, z in pelvis axes
    p_BS=np.array([-0.15, 0.02, 0.0]),
)

# Mirror through the sagittal plane (OpenSim z points to the right).
MIRROR = np.diag([1.0, 1.0, -1.0])

SEGMENT_OF = {"pelvis": "pelvis", "femur": "femur", "patella": "femur", "tibia": "tibia", "talus": "foot", "calcn": "foot", "toes": "foot"}

# Coordinates written to the _ik file (the rest: arms, patella couplers).
IK_PREFIXES = ("pelvis_", "hip_", "knee_angle_", "ankle_", "subtalar_", "mtp_", "lumbar_")
PROJECT_IK = [f"{j}_{s}" for s in ("r", "l") for j in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle")]


@dataclass(frozen=True)
class BaseMotion:
    """One real walking recording and the model it belongs to (paths relative to the data folder)."""

    person: str  # whose kinematics: subjects built on one person share it
    name: str
    model: str
    motion: str


def default_sources(data_root: Path, include_ab06_kinematics: bool = True) -> list[BaseMotion]:
    """The walking recordings of `shared/data` (mocap_ik README; not the Hamner running trial)."""
    m = "mocap_ik"
    out = [
        # OpenSim's gait example subject01: three processings of the same person's walk.
        BaseMotion("osim_subject01", "gait2392_walk1", f"{m}/models/gait2392_subject01.osim", f"{m}/ik/gait2354_subject01_walk1_ik_0.5-4.0s.mot"),
        BaseMotion("osim_subject01", "gait2354_walk1", f"{m}/models/gait2354_subject01_simbody.osim", f"{m}/ik/gait2354_subject01_walk1_ik_opensim-models.mot"),
        BaseMotion("osim_subject01", "gait10dof_walk", f"{m}/models/gait10dof18musc_subject01.osim", f"{m}/ik/gait10dof18musc_subject01_walk_IK.mot"),
        # Its own model (subject_walk_armless) is OpenSim 3.x; Rajagopal 2016 has the same coordinates.
        BaseMotion("rajagopal_walk", "rajagopal_walk", f"{m}/models/Rajagopal2016.osim", f"{m}/ik/rajagopal_walk_coordinates_exampleEMGTracking.mot"),
        BaseMotion("gaitdynamics_example", "gaitdynamics_walk", f"{m}/gaitdynamics_example/example_opensim_model.osim",
                   f"{m}/gaitdynamics_example/example_mot_complete_kinematics.mot"),
    ]
    addb = sorted((data_root / m / "addb_subject4" / "ik").glob("*_ik.mot"))
    out += [BaseMotion("addb_subject4", f"addb_{p.name.removesuffix('_ik.mot')}", f"{m}/addb_subject4/models/optimized_scale_and_markers.osim",
                       f"{m}/addb_subject4/ik/{p.name}") for p in addb]
    if include_ab06_kinematics:
        ab06 = sorted((data_root / "camargo_ab06" / "trials").glob("*_ik.csv.gz"))
        out += [BaseMotion(AB06_PERSON, f"camargo_{p.name.removesuffix('_ik.csv.gz')}", "camargo_ab06/model/final_with_imu.osim",
                           f"camargo_ab06/trials/{p.name}") for p in ab06]
    missing = [s.motion for s in out if not (data_root / s.motion).is_file()] + [s.model for s in out if not (data_root / s.model).is_file()]
    if missing:
        raise FileNotFoundError(f"{data_root}: missing {sorted(set(missing))}")
    return out


@dataclass
class CohortConfig:
    n_subjects: int = 24
    seed: int = 0
    trials_per_subject: tuple[int, int] = (6, 10)  # inclusive range
    trial_s: tuple[float, float] = (8.0, 12.0)  # duration of one trial at the played speed
    speed: tuple[float, float] = (0.85, 1.15)  # playback factor (>1: faster)
    stature: tuple[float, float] = (0.92, 1.08)
    segment_jitter: float = 0.03  # per-segment factor 1 +- this, on top of stature
    scale_limits: tuple[float, float] = (0.90, 1.10)
    stride_jitter: float = 0.03  # tiled cycles: each stride's duration 1 +- this
    trial_slip: float = 0.25  # per-trial placement error, as a fraction of the subject's
    noise: NoiseModel = field(default_factory=NoiseModel)
    # "ab06": every subject wears AB06's fitted mounts (axes and channel quirks; the
    # default, so seeded cohorts stay byte for byte what they were). "random": each
    # subject's sensors sit in a uniformly random orientation on their segment, as
    # right-handed sensors (channel maps +1 and the identity: no quirk), AB06's offsets
    # scaled; the orientation is drawn once per subject (issue #9: any sensor, strapped
    # on any way), the usual misplacement and per-trial slip on top.
    mounting: str = "ab06"

    def __post_init__(self) -> None:
        if self.mounting not in MOUNTINGS:
            raise ValueError(f"cohort mounting must be one of {MOUNTINGS}, got {self.mounting!r}")


@dataclass
class SubjectPlan:
    name: str
    person: str
    sources: list[BaseMotion]
    seed: int
    data_root: str
    out: str
    config: CohortConfig


# --------------------------------------------------------------------------- motions


def uniform(coords: Coordinates, rate_hz: float) -> Coordinates:
    """Coordinates resampled (cubic spline) on a uniform clock at `rate_hz`."""
    t = coords.t[0] + np.arange(int(np.floor((coords.t[-1] - coords.t[0]) * rate_hz + 1e-9)) + 1) / rate_hz
    return replace(coords, t=t, values={c: CubicSpline(coords.t, v)(t) for c, v in coords.values.items()})


def knee_sign(values: np.ndarray) -> float:
    """+1 when a knee_angle column is positive in flexion (Rajagopal family), -1 when negative (gait2392, Camargo)."""
    return -1.0 if -np.min(values) > np.max(values) else 1.0


def find_cycle(coords: Coordinates, min_s: float = 0.8, max_s: float = 1.6) -> tuple[int, int]:
    """(a, b) sample indices of the gait cycle whose end state best matches its start.

    The state is every hip/knee/ankle angle and its rate (weighted by 0.1 s), so
    the loop closes in position and velocity; a 1.3 s single-stride trial
    yields (nearly) itself, a longer walk its most repeatable cycle.
    """
    keys = [c for c in PROJECT_IK if c in coords.values and np.ptp(coords.values[c]) > 0]
    dt = float(np.median(np.diff(coords.t)))
    q = np.stack([coords.values[c] for c in keys], axis=1)
    dq = np.gradient(q, dt, axis=0) * 0.1
    state = np.concatenate([q, dq], axis=1)
    n = len(state)
    lo, hi = int(round(min_s / dt)), int(round(max_s / dt))
    best, where = np.inf, None
    for a in range(0, n - lo):
        b = np.arange(a + lo, min(a + hi, n - 1) + 1)
        if b.size == 0:
            break
        cost = np.sum((state[b] - state[a]) ** 2, axis=1)
        k = int(np.argmin(cost))
        if cost[k] < best:
            best, where = cost[k], (a, int(b[k]))
    if where is None:
        raise ValueError(f"{coords.source}: {n * dt:.2f} s holds no gait cycle of {min_s}-{max_s} s")
    return where


def tile_cycle(coords: Coordinates, translational: set[str], duration_s: float, rng: np.random.Generator, jitter: float) -> tuple[Coordinates, dict]:
    """A walk of `duration_s` from one gait cycle repeated, each stride 1 +- `jitter` as long.

    Angles are made periodic by spreading the cycle's closing error linearly
    over it; translations keep their progression (each stride starts where
    the last ended), so the walker moves on at the recorded speed. Strides
    are identical up to their duration: tiled subjects have less
    stride-to-stride variability than real ones.
    """
    a, b = find_cycle(coords)
    t_cyc = coords.t[a : b + 1] - coords.t[a]
    period = float(t_cyc[-1])
    ramp = t_cyc / period
    cycle: dict[str, np.ndarray] = {}
    step: dict[str, float] = {}
    for c, v in coords.values.items():
        seg = v[a : b + 1]
        delta = float(seg[-1] - seg[0])
        if c in translational:
            cycle[c], step[c] = seg, delta
        else:
            cycle[c], step[c] = seg - delta * ramp, 0.0
    times, values = [np.zeros(1)], {c: [cycle[c][:1]] for c in cycle}
    start, k = 0.0, 0
    while start < duration_s:
        stretch = 1.0 + rng.uniform(-jitter, jitter)
        times.append(start + t_cyc[1:] * stretch)
        for c in cycle:
            values[c].append(cycle[c][1:] + k * step[c])
        start += period * stretch
        k += 1
    t = np.concatenate(times)
    out = Coordinates(t, {c: np.concatenate(v) for c, v in values.items()}, coords.source, list(coords.notes))
    info = {"cycle_s": round(period, 4), "cycle_from_s": round(float(coords.t[a]), 4), "strides": k}
    return uniform(out, 1.0 / float(np.median(np.diff(coords.t)))), info


def cut(coords: Coordinates, start_s: float, duration_s: float) -> Coordinates:
    keep = (coords.t >= start_s - 1e-9) & (coords.t <= start_s + duration_s + 1e-9)
    return replace(coords, t=coords.t[keep], values={c: v[keep] for c, v in coords.values.items()})


def time_scaled(coords: Coordinates, speed: float) -> Coordinates:
    """The same movement `speed` times faster, starting at t = 0."""
    return replace(coords, t=(coords.t - coords.t[0]) / speed)


# --------------------------------------------------------------------------- models and mounts


def segment(body: str) -> str:
    return SEGMENT_OF.get(body.rsplit("_", 1)[0] if body.endswith(("_r", "_l")) else body, "trunk")


def scale_model(model: OsimModel, scales: dict[str, float]) -> OsimModel:
    """The model with each body's geometry scaled by scales[segment(body)].

    Joint offset frames scale with the body they hang on; coupled joint
    translations (a knee's translation as a function of its angle) with the
    parent. Translations that ARE coordinates (pelvis_tx...) are positions in
    ground and stay as recorded.
    """
    out = copy.deepcopy(model)
    for joint in out.joints.values():
        sp = scales.get(segment(joint.parent_body), 1.0) if joint.parent_body != "ground" else 1.0
        sc = scales.get(segment(joint.child_body), 1.0)
        joint.X_parent_F[:3, 3] *= sp
        joint.X_child_M[:3, 3] *= sc
        for axis in joint.axes:
            if axis.kind == "translation" and (axis.coordinate is None or not model.coordinates[axis.coordinate].translational):
                axis.function = (lambda f, s: (lambda x: s * f(x)))(axis.function, sp)
    return out


def segment_lengths(model: OsimModel) -> dict[str, float]:
    """Hip-knee, knee-ankle and calcaneus-toes distances at the all-zero pose."""
    q = {c: np.zeros(1) for c in model.coordinates}
    X = body_transforms(model, q)

    def dist(a: str, b: str) -> float:
        return float(np.linalg.norm(X[b][0, :3, 3] - X[a][0, :3, 3]))

    foot = dist("calcn_r", "toes_r") if "toes_r" in X else AB06_LENGTHS["foot"]
    return {"femur": dist("femur_r", "tibia_r"), "tibia": dist("tibia_r", "talus_r" if "talus_r" in X else "calcn_r"), "foot": foot}


def lateral_flip(mount: Mount) -> np.ndarray:
    """diag(+-1): -1 on the sensor axis most nearly along the body's lateral (z) axis."""
    k = int(np.argmax(np.abs(mount.R_BS[2, :])))
    F = np.ones(3)
    F[k] = -1.0
    return np.diag(F)


def mirror_mount(mount: Mount, body: str) -> Mount:
    """The mount's mirror image on the other leg: position and axes reflected
    through the sagittal plane, then the sensor axis that points most nearly
    sideways flipped back so the frame stays right-handed (R = M R F). Channel
    maps are kept. For a mirror-symmetric motion the left sensor then reads
    the right one's channels times `mirror_signs`: sagittal-plane
    accelerations and the sagittal rate keep their sign, the lateral
    acceleration and the two out-of-plane rates flip."""
    return replace(mount, body=body, R_BS=MIRROR @ mount.R_BS @ lateral_flip(mount), p_BS=MIRROR @ mount.p_BS)


def mirror_signs(mount: Mount) -> tuple[list[float], list[float]]:
    """Per-channel signs s_acc, s_gyro with left = s * right for a mirror-symmetric motion."""
    F = lateral_flip(mount)
    acc = np.diag(mount.acc_signs) @ F @ np.diag(mount.acc_signs)
    gyro = mount.gyro_axes @ (-F) @ mount.gyro_axes.T  # angular velocity is a pseudovector
    return [float(v) for v in np.diag(acc)], [float(v) for v in np.diag(gyro)]


def random_mount(mount: Mount, rng: np.random.Generator) -> Mount:
    """`mount` turned to a uniformly random orientation on its body, as a right-handed
    sensor with no channel quirk (acc_signs +1, gyro_axes the identity); offset kept."""
    R = Rotation.random(random_state=rng).as_matrix()
    return replace(mount, R_BS=R, acc_signs=np.ones(3), gyro_axes=np.eye(3))


def nominal_mounts(lengths: dict[str, float]) -> dict[str, Mount]:
    """The seven placements for a subject with these segment lengths (before misplacement)."""
    right = {"femur_r": ("thigh", "femur"), "tibia_r": ("shank", "tibia"), "calcn_r": ("foot", "foot")}
    out = {"pelvis": replace(PELVIS_MOUNT)}
    for placement, (preset, seg) in right.items():
        m = replace(CAMARGO_MOUNTS[preset])
        m = replace(m, p_BS=m.p_BS * lengths[seg] / AB06_LENGTHS[seg])
        out[placement] = m
        out[placement.replace("_r", "_l")] = mirror_mount(m, placement.replace("_r", "_l"))
    return {p: out[p] for p in PLACEMENTS}


# --------------------------------------------------------------------------- one subject


def ik_columns(model: OsimModel, q: dict[str, np.ndarray], knee_signs: dict[str, float]) -> dict[str, np.ndarray]:
    """The coordinates to write (SI units), knee in Camargo's sign, missing project joints as zeros."""
    out = {c: v for c, v in q.items() if c.startswith(IK_PREFIXES) and not c.endswith("_beta")}
    for side, sign in knee_signs.items():
        out[f"knee_angle_{side}"] = -sign * out[f"knee_angle_{side}"]
    n = len(next(iter(q.values())))
    for c in PROJECT_IK:
        out.setdefault(c, np.zeros(n))  # a planar model (gait10dof18musc) has no hip adduction/rotation
    return out


def generate_subject(plan: SubjectPlan) -> dict:
    cfg = plan.config
    rng = np.random.default_rng(plan.seed)
    root = Path(plan.data_root)
    stature = rng.uniform(*cfg.stature)
    scales = {s: float(np.clip(stature * rng.uniform(1 - cfg.segment_jitter, 1 + cfg.segment_jitter), *cfg.scale_limits))
              for s in ("pelvis", "femur", "tibia", "foot", "trunk")}
    n_trials = int(rng.integers(cfg.trials_per_subject[0], cfg.trials_per_subject[1] + 1))
    order = rng.permutation(len(plan.sources))
    picks = [plan.sources[order[k % len(order)]] for k in range(n_trials)]

    models: dict[str, tuple[OsimModel, dict[str, Mount], dict[str, float]]] = {}
    placement_rng = np.random.default_rng(rng.integers(2**63))
    slip = cfg.noise.with_(mount_rotation_std=cfg.noise.mount_rotation_std * cfg.trial_slip,
                           mount_offset_std=cfg.noise.mount_offset_std * cfg.trial_slip)
    trials = []
    out_dir = Path(plan.out) / plan.name / "trials"
    for k, src in enumerate(picks):
        if src.model not in models:
            base = load_osim(root / src.model)
            model = scale_model(base, scales)
            lengths = segment_lengths(model)
            # One strapping per subject and model (models of one person share the draw order).
            nominal = nominal_mounts(lengths)
            if cfg.mounting == "random":
                nominal = {p: random_mount(m, placement_rng) for p, m in nominal.items()}
            mounts = {p: cfg.noise.misplace(m, placement_rng) for p, m in nominal.items()}
            models[src.model] = (model, mounts, lengths)
        model, mounts, lengths = models[src.model]
        coords = uniform(read_coordinates(root / src.motion, model), RATE_HZ)
        translational = {c for c, v in model.coordinates.items() if v.translational}
        knees = {s: knee_sign(coords.values[f"knee_angle_{s}"]) for s in ("r", "l")}
        speed = float(rng.uniform(*cfg.speed))
        duration = float(rng.uniform(*cfg.trial_s))
        need = duration * speed + 0.2  # source seconds, with room for the pose differences
        span = float(coords.t[-1] - coords.t[0])
        if span >= need:
            start = float(coords.t[0] + rng.uniform(0.0, span - need))
            played, how = cut(coords, start, need), {"window_from_s": round(start, 3)}
        else:
            played, how = tile_cycle(coords, translational, need, rng, cfg.stride_jitter)
            played = cut(played, played.t[0], need)
        played = time_scaled(played, speed)
        motion = Motion(played, LOWPASS_HZ)
        t = output_times(motion.t0, motion.t1, RATE_HZ)
        trial_seed = int(rng.integers(2**31))
        imus = simulate_imus(model, motion, mounts, t, noise=slip, seed=trial_seed)
        pace = "slow" if speed < 0.95 else "fast" if speed > 1.05 else "normal"
        name = f"walk_{pace}_{k + 1:02d}"
        write_trial(out_dir / f"{name}_imu.csv.gz", imus, ik_columns(model, motion(t), knees), translational)
        trials.append({"trial": name, "base_motion": src.name, "speed": round(speed, 4), "duration_s": round(float(t[-1] - t[0]), 3),
                       "samples": len(t), "seed": trial_seed, **how})
    return {
        "subject": plan.name,
        "person": plan.person,
        "kinematics_from_ab06": plan.person == AB06_PERSON,
        "seed": plan.seed,
        "stature": round(float(stature), 4),
        "scales": {s: round(v, 4) for s, v in scales.items()},
        "models": {m: {s: round(v, 4) for s, v in lengths.items()} for m, (_, _, lengths) in models.items()},
        "trials": trials,
        "total_s": round(sum(tr["duration_s"] for tr in trials), 2),
        **({"mounts": {m: {p: np.round(mt.R_BS, 4).tolist() for p, mt in mounts.items()} for m, (_, mounts, _) in models.items()}}
           if cfg.mounting == "random" else {}),
    }


# --------------------------------------------------------------------------- the cohort


def plan_cohort(sources: list[BaseMotion], cfg: CohortConfig, data_root: Path, out: Path) -> list[SubjectPlan]:
    """Subjects assigned round-robin to the people in `sources`, each with its own seed."""
    persons = sorted({s.person for s in sources})
    seeds = np.random.SeedSequence(cfg.seed).spawn(cfg.n_subjects)
    plans = []
    for i in range(cfg.n_subjects):
        person = persons[i % len(persons)]
        plans.append(SubjectPlan(name=f"v{i + 1:02d}", person=person, sources=[s for s in sources if s.person == person],
                                 seed=int(seeds[i].generate_state(1)[0]), data_root=str(data_root), out=str(out), config=cfg))
    return plans


def generate_cohort(out: str | Path, sources: list[BaseMotion], data_root: str | Path, cfg: CohortConfig | None = None,
                    workers: int = 2, progress: bool = True) -> dict:
    """Write every subject's trials and `cohort.json` under `out`; return the manifest."""
    cfg = cfg or CohortConfig()
    out, data_root = Path(out), Path(data_root)
    if out.exists() and any(out.glob("*/trials/*_imu.csv*")):
        raise FileExistsError(f"{out} already holds a cohort; remove it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    plans = plan_cohort(sources, cfg, data_root, out)
    started = time.perf_counter()
    bar = tqdm(total=len(plans), desc="cohort", unit="subject", disable=not progress)
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = []
            for r in pool.imap_unordered(generate_subject, plans):
                results.append(r)
                bar.update()
    else:
        results = []
        for p in plans:
            results.append(generate_subject(p))
            bar.update()
    bar.close()
    elapsed = time.perf_counter() - started
    results.sort(key=lambda r: r["subject"])
    nominal = nominal_mounts(AB06_LENGTHS)
    manifest = {
        "schema": COHORT_SCHEMA,
        "seed": cfg.seed,
        "n_subjects": cfg.n_subjects,
        "sample_rate_hz": RATE_HZ,
        "placements": list(PLACEMENTS),
        "held_out": "AB06: its real recordings are not in the cohort and no subject is named after it. Subjects with "
                    "kinematics_from_ab06 replay AB06's mocap kinematics; drop them to test on AB06 without leakage.",
        "ik_convention": "degrees; knee_angle_{r,l} NEGATIVE in flexion (Camargo) whatever the base model; translations in metres",
        "config": {k: (asdict(v) if isinstance(v, NoiseModel) else v) for k, v in asdict(cfg).items()},
        "mounts": {p: {"body": m.body, "R_BS": np.round(m.R_BS, 4).tolist(), "p_BS_at_ab06_size": np.round(m.p_BS, 4).tolist(),
                       "acc_signs": m.acc_signs.tolist(), "gyro_axes": m.gyro_axes.tolist()} for p, m in nominal.items()},
        "left_from_right_signs": {p: dict(zip(("acc", "gyro"), mirror_signs(nominal[p]))) for p in ("femur_r", "tibia_r", "calcn_r")},
        "sources": [asdict(s) for s in sources],
        "subjects": results,
        "total_trials": sum(len(r["trials"]) for r in results),
        "total_hours": round(sum(r["total_s"] for r in results) / 3600, 3),
        "generation_s": round(elapsed, 1),
        "workers": workers,
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__},
    }
    text = json.dumps(manifest, indent=1)
    (out / "cohort.json").write_text(text + "\n")
    return json.loads(text)  # exactly what the file says (tuples as lists)
