"""Issue #9 item 6: would a per-wearer standing-pose offset lower the error?

The idea: the wearer stands still for a moment (the README already asks for
2 s at the start); the model's angles over that stand, minus a neutral
standing posture, are the wearer's offset, subtracted from every later angle.
It helps only if (a) the model's error while standing is the error it makes
while walking, and (b) the wearer really stands in the neutral posture. This
module measures both, with a UG model (`study compare` saves one), on people
it never saw:

- AB06 real: every trial begins with a still stand (found from the gyro and
  accelerometer of ALL the model's placements, with the calibration's still
  rule: `mounting.calibrate.still_mask`, runs of at least `STAND_S`). Its
  true angles there are the mocap's, so both (a) and (b) are tested.
- the cohort's held-out subjects (another anatomy, other people): the
  simulator's walks have no stand, so one is synthesized: `stand_s` seconds
  in the model's neutral pose (every rotational coordinate 0, the OpenSim
  anatomical standing posture; translations at their defaults), with the
  subject's own scaled model, its own sensor mounts (`cohort.json`) and the
  simulator's noise model, put before the walk. The true angles of that stand
  are the neutral pose, so (b) holds by construction: this tests (a) alone,
  the most favourable case for an offset.

The neutral reference comes from training data only: the cohort's standing
posture, the neutral pose (0 deg on the five right-leg angles) for every
simulated person alike. Variants scored:

- `none`: the model's angles as published;
- `neutral`: minus (mean angle over the first stand − the neutral reference),
  what the edge could offer;
- `oracle`: minus (mean angle over the first stand − the TRUE mean angle
  there), which needs mocap: the best a stand-based offset can do, (a) alone;
- `bias_bound`: minus the model's mean error over the scored part itself
  (fitted on the test data): the most ANY constant per-wearer offset could
  gain, whatever it is estimated from.

Scores are the study's: the last (1 - `test_from`) of every trial (the
compare table's test part), the published stream, `metrics_of`. The offset
comes from the stand at the start, which lies outside that part (no overlap
between what fits the offset and what scores it). Results: `<out>/standing.json`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import Checkpoint
from ..dataset import Recording, cut, load_recording, load_trials, trial_streams
from ..evaluate import metrics_of, stream_predictions
from ..features import CalibrationRefused, FeatureConfig
from ..fit import device
from ..io.types import ImuStream, Trial
from ..jsonio import write_json_atomic
from ..mounting.calibrate import STAND_S, runs, still_mask
from ..predict import Predict, torch_predictor

VARIANTS = ("none", "neutral", "oracle", "bias_bound")
OVERLAP_S = 0.5  # the shortest stand common to all placements that gives an offset


# ---------------------------------------------------------------- pure logic

def stands_on_all(streams: dict[str, tuple[np.ndarray, np.ndarray]], rate_hz: float,
                  overlap_s: float = OVERLAP_S) -> list[tuple[int, int]]:
    """[start, end) of every still stand seen by ALL placements (acc, gyro on one clock):
    each placement's stands by the calibration's rule (still for at least `STAND_S`),
    intersected, kept where at least `overlap_s` long. (The overlap is shorter than a
    stand: on AB06 the thigh settles later than the foot, e.g. thigh still 1.96-2.72 s
    within the foot's 1.35-2.77 s; the offset then averages fewer samples.)"""
    if not streams:
        raise ValueError("stands_on_all: no placement given")
    need = int(round(STAND_S * rate_hz))
    n = min(len(acc) for acc, _ in streams.values())
    mask = np.ones(n, dtype=bool)
    for acc, gyro in streams.values():
        own = np.zeros(n, dtype=bool)
        for a, b in runs(still_mask(acc[:n], gyro[:n])):
            if b - a >= need:
                own[a:b] = True
        mask &= own
    return [(a, b) for a, b in runs(mask) if b - a >= int(round(overlap_s * rate_hz))]


def first_stand(stands: list[tuple[int, int]], before: int) -> tuple[int, int] | None:
    """The first stand that ends before sample `before` (the test part's start), else None."""
    return next(((a, b) for a, b in stands if b <= before), None)


def stand_offset(pred: np.ndarray, true: np.ndarray, span: tuple[int, int], reference: np.ndarray) -> dict[str, np.ndarray]:
    """Per-joint offset of each variant from the stand `span` of a published stream."""
    a, b = span
    mean_pred = pred[a:b].mean(axis=0)
    return {"none": np.zeros_like(mean_pred), "neutral": mean_pred - reference, "oracle": mean_pred - true[a:b].mean(axis=0)}


# ---------------------------------------------------------------- trials

def on_grid(trial: Trial, placements: tuple[str, ...], t_grid: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each placement's raw acc and gyro on the feature grid (linear, as the grid itself):
    stillness is rotation-invariant, so the sensor frame will do."""
    def resampled(t: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(t_grid, t, x[:, k]) for k in range(3)], axis=1)

    return {p: (resampled(t, acc), resampled(t, gyro)) for p, (t, acc, gyro) in trial_streams(trial, placements).items()}


def with_stand_before(walk: Trial, stand: dict[str, ImuStream], joints: tuple[str, ...], stand_angles: np.ndarray) -> Trial:
    """`walk` with the `stand` streams (their own clock from 0) played before it; the true
    angles of the stand are `stand_angles` (one per joint of `joints`)."""
    gap = 1.0 / walk.rate_hz
    shift = max(float(s.t[-1]) for s in stand.values()) + gap - min(float(walk.imus[p].t[0]) for p in stand)
    imus = {p: ImuStream(np.concatenate([stand[p].t, walk.imus[p].t + shift]), np.concatenate([stand[p].acc, walk.imus[p].acc]),
                         np.concatenate([stand[p].gyro, walk.imus[p].gyro])) for p in stand}
    if walk.angles_t is None:
        raise ValueError(f"{walk.source}: no true angles")
    t_stand = next(iter(stand.values())).t
    angles = {j: np.concatenate([np.full(len(t_stand), stand_angles[k]), walk.angles[j]]) for k, j in enumerate(joints)}
    return Trial(walk.name + "~stand", imus, np.concatenate([t_stand, walk.angles_t + shift]), angles, walk.rate_hz,
                 walk.source + " (+ a synthesized neutral stand)", list(walk.notes))


def neutral_stands(cohort: Path, data: Path, subject: str, placements: tuple[str, ...], seconds: float
                   ) -> dict[str, dict[str, ImuStream]]:
    """Per trial of `subject`: its placements' readings standing still for `seconds` in the
    neutral pose, simulated with the subject's scaled model and mounts of that trial's
    base motion (cohort.json), the cohort's noise model and its per-trial slip.

    The simulator is imported here: only this synthesized stand needs it."""
    from ..simulate.cohort import RATE_HZ, scale_model
    from ..simulate.imu import output_times, simulate_imus
    from ..simulate.kinematics import Coordinates, Motion
    from ..simulate.mount import Mount
    from ..simulate.noise import NoiseModel
    from ..simulate.osim import load_osim

    meta = json.loads((Path(cohort) / "cohort.json").read_text())
    info = next((s for s in meta["subjects"] if s["subject"] == subject), None)
    if info is None or "mounts" not in info:
        raise ValueError(f"{cohort}/cohort.json: no subject {subject!r} with its mounts (a --mounting random cohort has them)")
    model_of = {s["name"]: s["model"] for s in meta["sources"]}
    cc = meta["config"]
    base_noise = NoiseModel(**cc["noise"])
    # Soft-tissue wobble off: in the simulator it is driven noise standing for heel-strike
    # jiggle, which a still stand does not have (on, it reads up to 0.7 rad/s: no stand at all).
    slip = base_noise.with_(mount_rotation_std=base_noise.mount_rotation_std * cc["trial_slip"],
                            mount_offset_std=base_noise.mount_offset_std * cc["trial_slip"],
                            tissue_rotation_rms=0.0, tissue_offset_rms=0.0)
    out: dict[str, dict[str, ImuStream]] = {}
    models = {}
    for tr in info["trials"]:
        model_path = model_of[tr["base_motion"]]
        if model_path not in models:
            if not (Path(data) / model_path).is_file():
                raise FileNotFoundError(f"{Path(data) / model_path}: the cohort's model is not in the data folder (--data)")
            models[model_path] = scale_model(load_osim(Path(data) / model_path), info["scales"])
        model = models[model_path]
        # A still sensor reads gravity in its own frame: its orientation matters, not its
        # position on the segment (cohort.json keeps only the orientation, R_BS).
        mounts = {p: Mount(body=p, R_BS=np.asarray(info["mounts"][model_path][p])) for p in placements}
        pose = {c: np.full(2, v.default if v.translational else 0.0) for c, v in model.coordinates.items()}
        span = seconds + 0.2
        motion = Motion(Coordinates(np.array([0.0, span]), pose, f"{subject} neutral stand"), None)
        t = output_times(0.1, 0.1 + seconds, RATE_HZ)
        imus = simulate_imus(model, motion, mounts, t, noise=slip, seed=int(tr["seed"]) + 1)
        out[tr["trial"]] = {p: ImuStream(v.t - v.t[0], v.acc, v.gyro) for p, v in imus.items()}
    return out


# ---------------------------------------------------------------- the experiment

@dataclass
class StandingConfig:
    model: str  # a UG checkpoint (`study compare` writes <out>/ug_<arch>_<placements>.pt)
    real: str | None  # AB06's trials folder
    cohort: str | None  # the cohort the model trained on (its held-out subjects are scored)
    out: str = "runs/standing"
    data: str = "../shared/data"  # the shared data folder: the cohort's OpenSim models, for the synthesized stands
    test_from: float = 0.5  # score the last (1 - this) of every trial, as the compare table
    stand_s: float = 3.0
    threads: int = 0


@dataclass
class Scope:
    """One set of people: per-trial offsets and errors, then pooled scores per variant."""

    name: str
    trials: list[dict] = field(default_factory=list)
    segments: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=lambda: {v: [] for v in VARIANTS})
    left_out: list[str] = field(default_factory=list)

    def add(self, label: str, stand_rec: Recording, before: int, test_rec: Recording, fc: FeatureConfig, predict: Predict,
            stand_trial: Trial, reference: np.ndarray, joints: tuple[str, ...]) -> None:
        """One trial: the offset from the first stand of `stand_rec` that ends before grid
        sample `before`, applied to the published stream of `test_rec`."""
        pred, true, _ = stream_predictions(stand_rec, fc, predict)
        grid = on_grid(stand_trial, fc.placements, stand_rec.grid.t[: len(pred)])
        span = first_stand(stands_on_all(grid, fc.rate_hz), before)
        if span is None:
            self.left_out.append(f"{label}: no stand before the test part (each placement still for {STAND_S:g} s, "
                                 f"all together for {OVERLAP_S:g} s)")
            return
        offsets = stand_offset(pred, true, span, reference)
        tp, tt, _ = stream_predictions(test_rec, fc, predict)
        offsets["bias_bound"] = (tp - tt).mean(axis=0)
        for v in VARIANTS:
            self.segments[v].append((tp - offsets[v][None, :].astype(tp.dtype), tt))
        self.trials.append({
            "trial": label, "stand_s": round((span[1] - span[0]) / fc.rate_hz, 2),
            "stand_error_deg": _by_joint(pred[span[0]:span[1]].mean(0) - true[span[0]:span[1]].mean(0), joints),
            "stand_true_deg": _by_joint(true[span[0]:span[1]].mean(0), joints),
            "walk_bias_deg": _by_joint((tp - tt).mean(0), joints),
            "offset_deg": {v: _by_joint(offsets[v], joints) for v in VARIANTS if v != "none"},
        })

    def summary(self, joints: tuple[str, ...], rate_hz: float) -> dict:
        if not self.trials:
            return {"trials": [], "left_out": self.left_out, "metrics": {}}
        metrics = {v: metrics_of(self.segments[v], joints, rate_hz) for v in VARIANTS}
        stand = np.array([[t["stand_error_deg"][j] for j in joints] for t in self.trials])
        walk = np.array([[t["walk_bias_deg"][j] for j in joints] for t in self.trials])
        return {
            "trials": self.trials, "left_out": self.left_out,
            "mean_rmse_deg": {v: metrics[v]["mean_rmse_deg"] for v in VARIANTS},
            "rmse_deg": {v: {j: metrics[v]["joints"][j]["rmse_deg"] for j in joints} for v in VARIANTS},
            # (a) per joint: is the model's standing error its walking bias? mean of each, over trials
            "mean_stand_error_deg": _by_joint(stand.mean(0), joints),
            "mean_walk_bias_deg": _by_joint(walk.mean(0), joints),
            "metrics": metrics,
        }


def _by_joint(v: np.ndarray, joints: tuple[str, ...]) -> dict[str, float]:
    return {j: round(float(x), 3) for j, x in zip(joints, v)}


def standing(cfg: StandingConfig) -> dict:
    """Run the experiment; returns (and writes) `<out>/standing.json`."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dev = device()
    ck = Checkpoint.load(cfg.model)
    fc, joints = ck.feature_config, tuple(ck.config.joints)
    model = ck.model().to(dev)
    predict = torch_predictor(model, dev)
    reference = np.zeros(len(joints))  # the cohort's standing posture: the neutral pose (module docstring)
    out: dict = {"config": asdict(cfg), "pipeline": fc.pipeline, "placements": list(fc.placements), "joints": list(joints),
                 "reference_deg": _by_joint(reference, joints), "scopes": {}}

    def recording(trial: Trial, subject: str, scope: Scope) -> Recording | None:
        try:
            return load_recording(trial, subject, fc, joints)
        except CalibrationRefused as e:
            scope.left_out.append(f"{subject}/{trial.name}: {e}")
            return None

    if cfg.real:
        scope = Scope("ab06")
        for subject, trials in load_trials(Path(cfg.real)).items():
            for trial in trials:
                rec = recording(trial, subject, scope)
                if rec is not None:
                    test_at = int(round(cfg.test_from * len(rec.grid.t)))
                    scope.add(f"{subject}/{trial.name}", rec, test_at, cut(rec, cfg.test_from, 1.0), fc, predict, trial,
                              reference, joints)
        out["scopes"]["ab06"] = scope.summary(joints, fc.rate_hz)
    if cfg.cohort:
        scope = Scope("cohort")
        test_subjects = sorted({p.subject for p in ck.test_parts})
        cohort = load_trials(Path(cfg.cohort))
        for subject in test_subjects:
            stands = neutral_stands(Path(cfg.cohort), Path(cfg.data), subject, fc.placements, cfg.stand_s)
            for trial in cohort[subject]:
                walk = recording(trial, subject, scope)
                joined_trial = with_stand_before(trial, stands[trial.name], joints, reference)
                joined = recording(joined_trial, subject, scope)
                if walk is not None and joined is not None:
                    # the stand is all before the walk; the walk is scored as it was recorded (no splice)
                    scope.add(f"{subject}/{trial.name}", joined, len(joined.grid.t), cut(walk, cfg.test_from, 1.0), fc,
                              predict, joined_trial, reference, joints)
        out["scopes"]["cohort"] = scope.summary(joints, fc.rate_hz)
        out["cohort_test_subjects"] = test_subjects
    dest = Path(cfg.out)
    dest.mkdir(parents=True, exist_ok=True)
    write_json_atomic(dest / "standing.json", out)
    for name, s in out["scopes"].items():
        if s.get("mean_rmse_deg"):
            print(f"[standing] {name:6s} {len(s['trials'])} trials: mean RMSE " +
                  "  ".join(f"{v} {s['mean_rmse_deg'][v]:.2f}" for v in VARIANTS) + " deg", flush=True)
        for note in s["left_out"]:
            print(f"[standing] {name}: left out {note}", flush=True)
    return out
