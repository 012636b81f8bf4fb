"""The two baselines the study's numbers are read against, on the same split:
the training mean per joint, and ridge regression from the z-scored 50-sample
accelerometer/gyroscope windows to the window's angles."""

from __future__ import annotations

import numpy as np

from .dataset import Recording
from .predict import Predict
from .features import N_CH, FeatureConfig


def mean_predictor(y_train: np.ndarray) -> Predict:
    mean = y_train.reshape(-1, y_train.shape[-1]).mean(0)
    return lambda x: np.broadcast_to(mean, (x.shape[0], x.shape[1], mean.size)).copy()


def imu_columns(n_placements: int) -> np.ndarray:
    """The accelerometer and gyroscope columns of every placement (no orientation)."""
    return np.concatenate([np.arange(p * N_CH, p * N_CH + 6) for p in range(n_placements)])


def ridge_predictor(x_train: np.ndarray, y_train: np.ndarray, n_placements: int, alpha: float = 100.0) -> Predict:
    """Closed-form ridge on flattened windows: (n, window*channels) -> (n, window*joints)."""
    cols = imu_columns(n_placements)
    xs = x_train[:, :, cols]
    mu = xs.reshape(-1, xs.shape[-1]).mean(0)
    sd = xs.reshape(-1, xs.shape[-1]).std(0) + 1e-6
    a = ((xs - mu) / sd).reshape(len(xs), -1)
    b = y_train.reshape(len(y_train), -1)
    a1 = np.hstack([a, np.ones((len(a), 1))])
    reg = alpha * np.eye(a1.shape[1])
    reg[-1, -1] = 0.0
    w = np.linalg.solve(a1.T @ a1 + reg, a1.T @ b)
    window, joints = y_train.shape[1], y_train.shape[2]

    def predict(x: np.ndarray) -> np.ndarray:
        z = ((x[:, :, cols] - mu) / sd).reshape(len(x), -1)
        return (np.hstack([z, np.ones((len(z), 1))]) @ w).reshape(len(x), window, joints)

    return predict


def training_windows(recs: list[Recording], cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[r.windows(cfg)[:2] for r in recs])
    return np.concatenate(xs), np.concatenate(ys)
