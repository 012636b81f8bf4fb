"""`sweep`: UG for every combination of the seven placements (the study's Fig. 5).

Features are computed ONCE for all seven placements and cached
(`<out>/features.npz`): a placement's nine feature columns depend only on its
own sensor, its own Madgwick filter and its own q_ref (fitted on the UG
training + validation parts, the same for every combination), and the
cohort's placements share one clock, so a combination's features are exactly
the columns of its placements. Each worker process then trains one
combination at a time with one thread and writes
`<out>/results/<placements>.json` atomically; a rerun skips every combination
whose file exists (resumable; kill it any time).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path


from ..cache import FeatureCache, write_cache
from ..config import FitConfig
from ..dataset import cut, fit_reference_on, keep_trials, load_trials, to_recordings
from ..evaluate import metrics_of
from ..features import FeatureConfig
from ..fit import device, fit_new
from ..io.types import JOINTS_R
from ..jsonio import write_json_atomic
from .runner import PLACEMENTS, CompareConfig, segments_of, ug_subjects, whole


def combinations(placements: tuple[str, ...] = PLACEMENTS, sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 6)) -> list[tuple[str, ...]]:
    """Non-empty combinations in placement order; sizes 1..6 of 7 give the study's 126 (2^7 - 2)."""
    return [c for k in sizes for c in itertools.combinations(placements, k)]


def combo_name(combo: tuple[str, ...]) -> str:
    return "+".join(combo)


@dataclass
class SweepConfig:
    cohort: str
    out: str = "runs/sweep"
    method: str = "ug"
    arch: str = "lstm"
    workers: int = 2
    sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    n_test_subjects: int = 3
    include: str = "*"
    # Budget settings (2-core machine, ~45-60 min for 126 LSTM combinations): see docs/study.md.
    epochs: int = 2
    patience: int = 2
    train_stride: int = 25
    lr: float = 3e-3
    batch_size: int = 64
    seed: int = 0
    limit: int = 0  # run at most this many pending combinations (0: all); for tests and trial runs
    joints: tuple[str, ...] = JOINTS_R


# UI within each test subject: (end of training, end of validation) as fractions of every
# trial, the rest tests; the fractions of `compare`'s UI rows (0.4, 0.5 by default).
UI_SPLIT = (CompareConfig.table_ratio * (1.0 - CompareConfig.val_fraction), CompareConfig.table_ratio)

# What a result file records of its training; a resumed sweep must match it exactly.
RESULT_SETTINGS = ("epochs", "patience", "train_stride", "lr", "batch_size", "seed", "n_test_subjects")


# ---------------------------------------------------------------- the feature cache

def build_cache(cfg: SweepConfig) -> Path:
    """All-placement features of every cohort trial, with its UG role, in one npz."""
    out = Path(cfg.out)
    path = out / "features.npz"
    if path.is_file():
        return path
    cohort = load_trials(Path(cfg.cohort), include=cfg.include)
    names = {s: [t.name for t in ts] for s, ts in cohort.items()}
    who = ug_subjects(list(cohort), cfg.n_test_subjects)
    fit_parts = whole(names, who.train) + whole(names, [who.val])
    missing = [p for p in PLACEMENTS if any(p not in t.imus for ts in cohort.values() for t in ts)]
    if missing:
        raise ValueError(f"{cfg.cohort}: the sweep needs all of {PLACEMENTS}; some trials lack {missing}")
    fc = FeatureConfig(placements=PLACEMENTS, euler_reference=fit_reference_on(cohort, fit_parts, PLACEMENTS))
    recs = to_recordings(keep_trials(cohort, fit_parts + whole(names, who.test)), fc, cfg.joints)
    role = {**{s: "train" for s in who.train}, who.val: "val", **{s: "test" for s in who.test}}
    write_cache(path, recs, role, fc, {"subjects": asdict(who), "joints": list(cfg.joints)})
    return path


# ---------------------------------------------------------------- workers

_CACHE: FeatureCache | None = None


def _init_worker(cache_path: str) -> None:
    import torch

    torch.set_num_threads(1)  # one process per core beats one process with many threads for this model size
    global _CACHE
    _CACHE = FeatureCache.load(Path(cache_path))


def run_combo(args: tuple[SweepConfig, tuple[str, ...]]) -> tuple[str, float]:
    """Train and score one combination; writes its result file. Runs in a worker process."""
    cfg, combo = args
    assert _CACHE is not None, "worker not initialised"
    t0 = time.monotonic()
    dev = device()
    fcfg = FitConfig(epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed, patience=cfg.patience,
                     max_minutes=30.0)
    fc, test = _CACHE.recordings(combo, "test")
    if cfg.method == "ug":  # one model: training subjects, early-stopped on the validation subject
        _, train = _CACHE.recordings(combo, "train")
        _, val = _CACHE.recordings(combo, "val")
        model, _, history = fit_new(cfg.arch, fcfg, fc, train, val, dev, cfg.train_stride)
        segments = segments_of(test, fc, model, dev)
    else:  # ui: one model per test subject, on the first part of each of its trials (as `compare` does)
        segments, history = [], []
        for subject in sorted({r.subject for r in test}):
            own = [r for r in test if r.subject == subject]
            model, _, h = fit_new(cfg.arch, fcfg, fc, [cut(r, 0.0, UI_SPLIT[0]) for r in own], [cut(r, *UI_SPLIT) for r in own], dev,
                                    cfg.train_stride)
            segments += segments_of([cut(r, UI_SPLIT[1], 1.0) for r in own], fc, model, dev)
            history += [{**e, "subject": subject} for e in h]
    metrics = metrics_of(segments, tuple(cfg.joints), fc.rate_hz)
    seconds = time.monotonic() - t0
    write_json_atomic(result_path(cfg, combo), {
        "placements": list(combo), "method": cfg.method, "arch": cfg.arch, "metrics": metrics, "history": history,
        "seconds": round(seconds, 1), "finished": time.time(), "device": str(dev), "pid": os.getpid(),
        "settings": {k: getattr(cfg, k) for k in RESULT_SETTINGS},
        "subjects": _CACHE.meta["subjects"],
    })
    return combo_name(combo), seconds


def result_path(cfg: SweepConfig, combo: tuple[str, ...]) -> Path:
    return Path(cfg.out) / "results" / f"{combo_name(combo)}.json"


def check_resumable(cfg: SweepConfig, combos: list[tuple[str, ...]]) -> None:
    """Refuse to resume into a folder whose results were trained otherwise: they would be mixed silently."""
    want = {k: getattr(cfg, k) for k in RESULT_SETTINGS}
    for c in combos:
        path = result_path(cfg, c)
        if not path.is_file():
            continue
        done = json.loads(path.read_text())
        if done.get("settings") != want or done.get("arch") != cfg.arch or done.get("method", "ug") != cfg.method:
            raise ValueError(f"{path}: trained with {done.get('method', 'ug')} {done.get('arch')} {done.get('settings')}, "
                             f"this run asks for {cfg.method} {cfg.arch} {want}; use another --out, or delete that "
                             "folder's results/ to start over")


def sweep(cfg: SweepConfig) -> dict:
    """Run every pending combination on `workers` processes; returns the run's summary."""
    if cfg.method not in ("ug", "ui"):
        raise ValueError(f"the sweep runs ug or ui; got {cfg.method!r} (ua needs a new person with all seven placements)")
    if not cfg.sizes or any(not 1 <= k <= len(PLACEMENTS) for k in cfg.sizes):
        raise ValueError(f"sizes must be in 1..{len(PLACEMENTS)}; got {cfg.sizes}")
    t0 = time.monotonic()
    out = Path(cfg.out)
    cache = build_cache(cfg)
    combos = combinations(sizes=cfg.sizes)
    check_resumable(cfg, combos)
    pending = [c for c in combos if not result_path(cfg, c).is_file()]
    if cfg.limit:
        pending = pending[: cfg.limit]
    print(f"[sweep] {len(combos) - len([c for c in combos if not result_path(cfg, c).is_file()])} of {len(combos)} "
          f"combinations done already; running {len(pending)} on {cfg.workers} worker(s)", flush=True)
    done: list[tuple[str, float]] = []
    if pending:
        jobs = [(cfg, c) for c in pending]
        if cfg.workers <= 1:
            _init_worker(str(cache))
            for j in jobs:
                done.append(run_combo(j))
                print(f"[sweep] {done[-1][0]} in {done[-1][1]:.0f} s ({len(done)}/{len(pending)})", flush=True)
        else:
            ctx = mp.get_context("spawn")  # fresh interpreters: no torch thread pools inherited through fork
            with ctx.Pool(cfg.workers, initializer=_init_worker, initargs=(str(cache),)) as pool:
                for name, seconds in pool.imap_unordered(run_combo, jobs):
                    done.append((name, seconds))
                    print(f"[sweep] {name} in {seconds:.0f} s ({len(done)}/{len(pending)})", flush=True)
                # Let the workers exit on their own (the with-block would terminate them, and a
                # killed worker leaves its semaphores for the resource tracker to complain about).
                pool.close()
                pool.join()
    summary = {"config": asdict(cfg), "combinations": len(combos),
               "done": sum(result_path(cfg, c).is_file() for c in combos),
               "ran_now": len(done), "wall_minutes_now": (time.monotonic() - t0) / 60}
    runs = out / "runs.jsonl"  # one line per invocation: the measured duration of a resumed sweep adds up
    with runs.open("a") as f:
        f.write(json.dumps({**summary, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
    print(f"[sweep] {summary['done']} of {len(combos)} done; this run {summary['wall_minutes_now']:.1f} min", flush=True)
    return summary
