"""From trials on disk to recordings: discovery, reading, the feature pipeline.

A *recording* is one trial of one subject after the feature pipeline: grid
features, grid-aligned true angles and its windows. A *part* is a fraction of
one subject's trial; splits (`splits`) are lists of parts and never touch raw
files.

Data folders: a folder of trials is one subject; a folder of such folders is a
cohort. A trial is either a Camargo-format pair `<name>_imu.csv[.gz]` (+
`<name>_ik.csv[.gz]`, the reference angles) or an Xsens MT Manager export: the
`<prefix>_<sensor id>.txt` files of an OpenSense `myIMUMappings.xml` (any
`*.xml` with `<XsensDataReaderSettings>`), which map sensor ids to placements.
Xsens exports carry no reference angles: enough for `predict`, not for
`evaluate` or `train`.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .features import (
    CalibrationRefused,
    FeatureConfig,
    GridFeatures,
    euler_reference_from_accel,
    grid_features,
    make_windows,
    window_starts,
)
from .config import default_data_dir  # noqa: F401  (re-exported: report and older callers import it from here)
from .io.camargo import read_camargo_trial
from .io.discover import find_camargo_trials
from .io.errors import DataError
from .io.types import JOINTS_R, Trial
from .io.xsens import read_xsens_trial
from .limits import PRODUCT_LIMITS, InputLimits, drop_out_of_limits


@dataclass
class Recording:
    subject: str
    trial: str
    grid: GridFeatures
    targets: np.ndarray  # (N, n_joints) degrees on the grid
    notes: list[str]

    def windows(self, cfg: FeatureConfig, stride: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, Y, starts) for windows at `stride` (default: the contract's)."""
        starts = window_starts(len(self.grid.t), cfg.window, stride or cfg.stride)
        x = make_windows(self.grid.rows, starts, cfg.window, len(cfg.placements))
        idx = starts[:, None] + np.arange(cfg.window)[None, :]
        return x.astype(np.float32), self.targets[idx].astype(np.float32), starts


def trial_streams(trial: Trial, placements: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = {}
    for p in placements:
        if p not in trial.imus:
            raise ValueError(f"{trial.source}: no IMU at placement '{p}' (has {sorted(trial.imus)})")
        s = trial.imus[p]
        if len(s.t) and np.isnan(s.gyro).all():
            raise ValueError(f"{trial.source}: placement '{p}' has no gyroscope readings; the model needs acc and gyro")
        out[p] = (s.t, s.acc, s.gyro)
    return out


def grid_targets(trial: Trial, t_grid: np.ndarray, joints: tuple[str, ...]) -> np.ndarray:
    if trial.angles_t is None:
        raise ValueError(
            f"{trial.source}: no joint angles (an *_ik file is needed for training/evaluation; "
            "`gaitlstm predict` writes a model's angles without one)"
        )
    missing = [j for j in joints if j not in trial.angles]
    if missing:
        raise ValueError(f"{trial.source}: missing joint angle columns {missing}")
    return np.stack([np.interp(t_grid, trial.angles_t, trial.angles[j]) for j in joints], axis=1)


def load_recording(trial: Trial, subject: str, cfg: FeatureConfig, joints: tuple[str, ...] = JOINTS_R) -> Recording:
    try:
        grid = grid_features(trial_streams(trial, cfg.placements), cfg)
    except CalibrationRefused as e:
        raise e.at(trial.source, subject, trial.name) from e
    except ValueError as e:
        raise ValueError(f"{trial.source}: {e}") from e
    notes = list(trial.notes)
    if grid.ahrs_resets:
        notes.append(f"{grid.ahrs_resets} AHRS NaN resets")
    for p, h in grid.converted.items():
        notes.append(f"placement '{p}': mirrored stream (handedness score {h.score:+.2f}) converted to right-handed "
                     "(Z flipped on acc and gyro) before its calibration")
    for p, c in grid.calibrations.items():
        if c.sign_source == "joint":
            notes.append(f"placement '{p}': flexion sign decided by the joint thigh+foot rule (own margin {c.sign_margin:+.3f}, "
                         f"lead-lag correlation with the foot {c.joint_margin:+.3f}; docs/calibration.md)")
    return Recording(subject, trial.name, grid, grid_targets(trial, grid.t, joints), notes)


@dataclass(frozen=True)
class TrialSource:
    """One trial on disk, before reading: its name and the file(s) to read."""

    name: str
    path: Path  # the Camargo *_imu.csv[.gz], or the Xsens mapping XML
    ik: Path | None = None  # the Camargo *_ik.csv[.gz] (reference angles), if any
    kind: str = "camargo"  # or "xsens"

    def read(self) -> Trial:
        if self.kind == "xsens":
            return read_xsens_trial(self.path)
        return read_camargo_trial(self.path, self.ik)


_XSENS_PREFIX = re.compile(r"<trial_prefix>\s*([^<\s]+)\s*</trial_prefix>")


def find_xsens_trials(folder: Path) -> list[TrialSource]:
    """The Xsens trials of a folder: one per OpenSense settings XML, named after its trial prefix."""
    out = []
    for xml in sorted(Path(folder).glob("*.xml")):
        text = xml.read_text(errors="replace")
        if "XsensDataReaderSettings" not in text:
            continue
        m = _XSENS_PREFIX.search(text)
        if not m:
            raise DataError(xml, "no <trial_prefix>")
        out.append(TrialSource(m.group(1), xml, None, "xsens"))
    return out


def find_trials(folder: Path) -> list[TrialSource]:
    """Camargo and Xsens trials of one folder (none: empty list)."""
    folder = Path(folder)
    camargo = [TrialSource(n, imu, ik) for n, imu, ik in find_camargo_trials(folder)] if any(folder.glob("*_imu.csv*")) else []
    found = camargo + find_xsens_trials(folder)
    names = [t.name for t in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(folder, f"trial name(s) {twice} exist both as Camargo and Xsens trials; keep one")
    return sorted(found, key=lambda t: t.name)


def discover_subjects(data_dir: Path) -> dict[str, list[TrialSource]]:
    """A folder of trials is one subject (named after the folder, or its parent when
    the folder is called `trials`); a folder of such folders is a cohort."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: no such data folder")
    direct = find_trials(data_dir)
    if direct:
        name = data_dir.parent.name if data_dir.name == "trials" else data_dir.name
        return {name: direct}
    subjects: dict[str, list[TrialSource]] = {}
    for sub in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        folder = sub / "trials" if (sub / "trials").is_dir() else sub
        trials = find_trials(folder)
        if trials:
            subjects[sub.name] = trials
    if not subjects:
        raise FileNotFoundError(
            f"{data_dir}: no trials in it or in its subfolders (*_imu.csv[.gz], or an Xsens myIMUMappings.xml)"
        )
    return subjects


def load_trials(
    data_dir: Path, include: str = "*", exclude: str | None = None, limits: InputLimits | None = PRODUCT_LIMITS
) -> dict[str, list[Trial]]:
    """Read every matching trial of every subject (raw, before features).

    `limits`: readings the edge would drop (not finite, or beyond the manifest's
    input_limits) are dropped here too and counted in the trial's notes; None
    keeps every reading.
    """
    found = discover_subjects(data_dir)
    jobs = [
        (subject, source)
        for subject, sources in found.items()
        for source in sources
        if fnmatch.fnmatch(source.name, include) and not (exclude and fnmatch.fnmatch(source.name, exclude))
    ]
    if not jobs:
        raise FileNotFoundError(f"{data_dir}: no trial matches include={include!r} exclude={exclude!r}")
    out: dict[str, list[Trial]] = {}
    for subject, source in tqdm(jobs, desc="read", unit="trial", leave=False):
        trial = source.read()
        out.setdefault(subject, []).append(trial if limits is None else drop_out_of_limits(trial, limits))
    return out


def fit_euler_reference(
    trials: list[Trial], placements: tuple[str, ...], spans: list[tuple[float, float]] | None = None
) -> dict[str, tuple[float, float, float, float]]:
    """q_ref per placement from the mean specific force of the training data.

    `spans[i]` = (start, end) fractions of `trials[i]` that train or validate
    (default: all of it): a test part must not shape the features it is scored on.
    """
    spans = spans if spans is not None else [(0.0, 1.0)] * len(trials)
    if len(spans) != len(trials):
        raise ValueError(f"fit_euler_reference: {len(trials)} trials but {len(spans)} spans")
    if not trials:
        raise ValueError("fit_euler_reference: no training data to fit the Euler reference on")
    ref = {}
    for p in placements:
        accs = []
        for trial, (start, end) in zip(trials, spans):
            acc = trial_streams(trial, (p,))[p][1]
            accs.append(acc[int(round(start * len(acc))) : int(round(end * len(acc)))])
        ref[p] = euler_reference_from_accel(accs)
    return ref


def to_recordings(
    trials: dict[str, list[Trial]], cfg: FeatureConfig, joints: tuple[str, ...] = JOINTS_R,
    refused: list[CalibrationRefused] | None = None,
) -> dict[str, list[Recording]]:
    """Features of every trial. A v2 trial whose calibration is refused raises, unless
    `refused` is given: then it is left out and its refusal (file, placement, reason)
    appended there, for the caller to report."""
    jobs = [(s, t) for s, ts in trials.items() for t in ts]
    out: dict[str, list[Recording]] = {}
    for subject, trial in tqdm(jobs, desc="features", unit="trial", leave=False):
        try:
            rec = load_recording(trial, subject, cfg, joints)
        except CalibrationRefused as e:
            if refused is None:
                raise
            refused.append(e)
            continue
        out.setdefault(subject, []).append(rec)
    return out


# ---------------------------------------------------------------- parts of trials

@dataclass(frozen=True)
class Part:
    """The [start, end) fractions of one subject's trial: what every split is made
    of, and what a checkpoint stores so that export and report rebuild exactly
    the recordings a model trained and was tested on."""

    subject: str
    trial: str
    start: float = 0.0
    end: float = 1.0

    @property
    def whole(self) -> bool:
        return self.start == 0.0 and self.end == 1.0

    @property
    def label(self) -> str:
        return f"{self.subject}/{self.trial}" + ("" if self.whole else f"[{self.start:.2f}:{self.end:.2f}]")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "Part":
        return Part(str(d["subject"]), str(d["trial"]), float(d.get("start", 0.0)), float(d.get("end", 1.0)))


def cut(rec: Recording, start: float, end: float) -> Recording:
    """The part of a recording between two fractions of its length (AHRS ran over the whole trial)."""
    n = len(rec.grid.t)
    a, b = int(round(start * n)), int(round(end * n))
    grid = type(rec.grid)(t=rec.grid.t[a:b], rows=rec.grid.rows[a:b], ahrs_resets=rec.grid.ahrs_resets,
                          calibrations=rec.grid.calibrations)
    return Recording(rec.subject, f"{rec.trial}[{start:.2f}:{end:.2f}]", grid, rec.targets[a:b], rec.notes)


def locate(available: dict[str, list[str]], parts: list[Part]) -> tuple[list[Part], list[Part]]:
    """(found, missing): `parts` re-addressed to the subjects of a local data folder.

    A subject is named after its folder, so a copy of the data in another folder
    renames it: a part whose subject is not here is looked up by trial name in the
    one local subject that has that trial.
    """
    found: list[Part] = []
    missing: list[Part] = []
    for part in parts:
        if part.subject in available:
            owners = [part.subject] if part.trial in available[part.subject] else []
        else:
            owners = [s for s, names in available.items() if part.trial in names]
        if len(owners) == 1:
            found.append(Part(owners[0], part.trial, part.start, part.end))
        else:
            missing.append(part)
    return found, missing


def realize(recs: dict[str, list[Recording]], parts: list[Part]) -> list[Recording]:
    """The recordings (whole or cut) that `parts` name."""
    index = {(r.subject, r.trial): r for rs in recs.values() for r in rs}
    out = []
    for part in parts:
        rec = index.get((part.subject, part.trial))
        if rec is None:
            raise ValueError(f"no recording {part.subject}/{part.trial} (have {sorted(f'{s}/{t}' for s, t in index)})")
        out.append(rec if part.whole else cut(rec, part.start, part.end))
    return out


def trial_names(trials: dict[str, list[Trial]]) -> dict[str, list[str]]:
    return {s: [t.name for t in ts] for s, ts in trials.items()}


def keep_trials(trials: dict[str, list[Trial]], parts: list[Part]) -> dict[str, list[Trial]]:
    """Only the trials some part uses (the feature pipeline is the slow step)."""
    wanted = {(p.subject, p.trial) for p in parts}
    kept = {s: [t for t in ts if (s, t.name) in wanted] for s, ts in trials.items()}
    return {s: ts for s, ts in kept.items() if ts}


def fit_reference_on(
    trials: dict[str, list[Trial]], parts: list[Part], placements: tuple[str, ...]
) -> dict[str, tuple[float, float, float, float]]:
    """q_ref from exactly the parts that train or validate."""
    index = {(s, t.name): t for s, ts in trials.items() for t in ts}
    return fit_euler_reference([index[(p.subject, p.trial)] for p in parts], placements, [(p.start, p.end) for p in parts])
