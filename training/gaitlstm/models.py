"""The two architectures of the study, plus the wrapper that puts the
normalization inside the exported graph (so no code outside can skew it)."""

from __future__ import annotations

import torch
from torch import nn


class LstmRegressor(nn.Module):
    """3-layer LSTM, 128 hidden, dropout 0.2, a linear head per time step."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 128, layers: int = 3, dropout: float = 0.2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_in, hidden, num_layers=layers, dropout=dropout, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(x)
        return self.head(h)


class CnnRegressor(nn.Module):
    """Three 1-D convolutions (24, 8, 10 channels, kernel 5, ReLU), 'same' padding so
    every time step gets an output, then a linear head per time step."""

    def __init__(self, n_in: int, n_out: int, channels: tuple[int, ...] = (24, 8, 10), kernel: int = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_prev = n_in
        for c in channels:
            layers += [nn.Conv1d(c_prev, c, kernel, padding=kernel // 2), nn.ReLU()]
            c_prev = c
        self.conv = nn.Sequential(*layers)
        self.head = nn.Linear(c_prev, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return self.head(h)


def build_model(arch: str, n_in: int, n_out: int) -> nn.Module:
    if arch == "lstm":
        return LstmRegressor(n_in, n_out)
    if arch == "cnn":
        return CnnRegressor(n_in, n_out)
    raise ValueError(f"unknown architecture {arch!r}; valid: lstm, cnn")


class Normalized(nn.Module):
    """z-score the features in, un-z-score the angles out: the exported model
    takes raw contract features and returns degrees."""

    def __init__(self, net: nn.Module, x_mean, x_std, y_mean, y_std) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("x_mean", torch.as_tensor(x_mean, dtype=torch.float32))
        self.register_buffer("x_std", torch.as_tensor(x_std, dtype=torch.float32))
        self.register_buffer("y_mean", torch.as_tensor(y_mean, dtype=torch.float32))
        self.register_buffer("y_std", torch.as_tensor(y_std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.x_mean) / self.x_std) * self.y_std + self.y_mean


def architecture(net: nn.Module) -> dict:
    """The manifest's `architecture`, read off the network itself (not restated)."""
    if isinstance(net, Normalized):
        net = net.net
    if isinstance(net, LstmRegressor):
        lstm = net.lstm
        return {"type": "lstm", "layers": lstm.num_layers, "hidden": lstm.hidden_size, "dropout": lstm.dropout}
    if isinstance(net, CnnRegressor):
        convs = [m for m in net.conv if isinstance(m, nn.Conv1d)]
        return {"type": "cnn", "conv_channels": [c.out_channels for c in convs], "kernel": convs[0].kernel_size[0]}
    raise ValueError(f"no architecture description for {type(net).__name__}")
