"""The one fit loop: `train`, UA fine-tuning and the study all train through `fit`.

Adam on the MSE of z-scored targets (the model's normalization buffers do the
scaling, so the exported graph takes raw features and returns degrees); with
validation data it keeps the epoch of the best validation RMSE and stops after
`patience` epochs without one.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .config import FitConfig
from .dataset import Recording
from .features import FeatureConfig
from .models import Normalized, build_model
from .predict import torch_predictor

Windows = tuple[np.ndarray, np.ndarray]  # (x, y): (n, window, features), (n, window, joints)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def stack(recs: list[Recording], fc: FeatureConfig, stride: int) -> Windows:
    """Every full window of `recs` at `stride`, concatenated."""
    xs, ys = zip(*[r.windows(fc, stride)[:2] for r in recs]) if recs else ((), ())
    xs = [x for x in xs if len(x)]
    ys = [y for y in ys if len(y)]
    if not xs:
        raise ValueError("no full window in the training split")
    return np.concatenate(xs), np.concatenate(ys)


def normalization(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Per-column mean and std of the training windows (float32, as the graph stores them)."""
    flat_x, flat_y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    norm = {
        "x_mean": flat_x.mean(0), "x_std": flat_x.std(0) + 1e-6,
        "y_mean": flat_y.mean(0), "y_std": flat_y.std(0) + 1e-6,
    }
    return {k: v.astype(np.float32) for k, v in norm.items()}


def new_model(arch: str, fc: FeatureConfig, x: np.ndarray, y: np.ndarray) -> tuple[Normalized, dict[str, np.ndarray]]:
    """A fresh network whose normalization comes from the training windows."""
    norm = normalization(x, y)
    return Normalized(build_model(arch, fc.n_features, y.shape[-1]), **norm), norm


def val_rmse(model: nn.Module, x: np.ndarray, y: np.ndarray, dev: torch.device) -> float:
    predict = torch_predictor(model, dev)
    pred = np.concatenate([predict(x[i : i + 512]) for i in range(0, len(x), 512)])
    return float(np.mean(np.sqrt(np.mean((pred - y) ** 2, axis=(0, 1)))))


def fit(
    model: Normalized, x: np.ndarray, y: np.ndarray, cfg: FitConfig, dev: torch.device,
    val: Windows | None = None, on_epoch: Callable[[int], None] | None = None,
) -> list[dict]:
    """Train `model` in place for up to `cfg.epochs`; returns one history entry per epoch.

    Without `val` every epoch runs (fine-tuning, a refit for a known epoch count).
    `on_epoch(epoch)` runs after each epoch (1-based), e.g. to score the 1-, 5- and
    15-epoch points of the UA curve in one run.
    """
    opt = torch.optim.Adam(model.net.parameters(), lr=cfg.lr)
    xt = torch.from_numpy(x)
    yt = (torch.from_numpy(y) - model.y_mean.cpu()) / model.y_std.cpu()
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []
    best: tuple[float, dict | None] = (math.inf, None)
    bad_epochs = 0
    t0 = time.monotonic()
    bar = tqdm(range(cfg.epochs), desc="epochs", unit="ep")
    for epoch in bar:
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            xb = (xt[idx].to(dev) - model.x_mean) / model.x_std
            loss = nn.functional.mse_loss(model.net(xb), yt[idx].to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        entry = {"epoch": epoch + 1, "train_loss": total / len(xt), "minutes": (time.monotonic() - t0) / 60}
        if val is not None:
            entry["val_rmse_deg"] = val_rmse(model, *val, dev)
            if entry["val_rmse_deg"] < best[0]:
                best = (entry["val_rmse_deg"], {k: v.detach().clone() for k, v in model.state_dict().items()})
                bad_epochs = 0
            else:
                bad_epochs += 1
        history.append(entry)
        bar.set_postfix({k: round(v, 4) for k, v in entry.items() if k != "epoch"})
        if on_epoch is not None:
            on_epoch(epoch + 1)
        if val is not None and bad_epochs >= cfg.patience:
            break
        if entry["minutes"] > cfg.max_minutes:
            tqdm.write(f"stopping: time budget of {cfg.max_minutes} min reached")
            break
    if best[1] is not None:
        model.load_state_dict(best[1])
    return history


def fit_new(
    arch: str, cfg: FitConfig, fc: FeatureConfig, train: list[Recording], val: list[Recording],
    dev: torch.device, train_stride: int,
) -> tuple[Normalized, dict[str, np.ndarray], list[dict]]:
    """(model, normalization, history): a fresh model seeded with `cfg.seed`, trained on
    `train` windows at `train_stride`, early-stopped on `val` (none: every epoch runs)."""
    seed_everything(cfg.seed)
    x, y = stack(train, fc, train_stride)
    model, norm = new_model(arch, fc, x, y)
    model.to(dev)
    history = fit(model, x, y, cfg, dev, stack(val, fc, fc.stride) if val else None)
    return model, norm, history
