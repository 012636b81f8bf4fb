"""Xsens MT Manager `.txt` exports (MTw Awinda, as used by OpenSense).

Format, as seen across the opensim-core test files (2019-2022 MT Manager,
firmware 4.0-4.4):

- `//` header lines; older exports carry `// Update Rate: 100.0Hz`, newer ones
  `//  DeviceId: 00B42D4B` and no rate at all.
- One column-header row, then data rows. Separator: tab, `;`, `,` or a single
  space; empty fields are kept (two separators in a row), so a space-separated
  row is split on single spaces, never on runs of whitespace.
- Decimal point is `.`; with a non-comma separator a `,` decimal (European
  locale) is accepted too.
- Columns (any subset, any order): PacketCounter, SampleTimeFine, Year..Second,
  UTC_*, Acc_{X,Y,Z} (m/s^2, gravity included), Gyr_{X,Y,Z} (rad/s),
  Mag_{X,Y,Z} (normalised a.u.), Quat_q0..q3 (w,x,y,z), Mat[i][j], Roll/Pitch/Yaw
  (degrees). Cells may be empty or `NaN`.

Orientation is always returned as quaternion w,x,y,z sensor->earth (Xsens'
q_GS). Checked on MT2022_ACC_GYRO_ROT_ALL_TAB_NAN, which exports all three
forms for the same samples: `Mat[i][j]` is row i, column j of R_GS (v_earth =
R v_sensor; the file lists it column by column, which is why the column order
is Mat[1][1], Mat[2][1], Mat[3][1], ...), and Euler angles are ZYX:
R = Rz(yaw) Ry(pitch) Rx(roll), degrees. All three agree to the 6 printed digits.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._text import check_time, infer_rate, numeric_columns, read_text, repair_nan_runs, split_fields
from .errors import DataError
from .types import PLACEMENTS, ImuStream, Trial

# SampleTimeFine counts 10 kHz ticks in a 32-bit register.
_FINE_TICKS_PER_S = 10_000.0

_RATE_RE = re.compile(r"update\s*rate\s*:\s*([0-9]+(?:[.,][0-9]*)?)\s*hz", re.IGNORECASE)
_DEVICE_RE = re.compile(r"deviceid\s*:\s*([0-9a-f]+)", re.IGNORECASE)

# Accepted spellings, lower-case. Old exports wrote Gyr_, some tools Gyro_.
_ACC = (("acc_x",), ("acc_y",), ("acc_z",))
_GYR = (("gyr_x", "gyro_x"), ("gyr_y", "gyro_y"), ("gyr_z", "gyro_z"))
_MAG = (("mag_x",), ("mag_y",), ("mag_z",))
_QUAT = (("quat_q0", "quat_w"), ("quat_q1", "quat_x"), ("quat_q2", "quat_y"), ("quat_q3", "quat_z"))
_MAT = tuple((f"mat[{i}][{j}]",) for i in (1, 2, 3) for j in (1, 2, 3))  # row-major R_GS
_EULER = (("roll",), ("pitch",), ("yaw",))


@dataclass
class XsensRecording:
    path: Path
    sensor_id: str  # e.g. "00B421EF" (DeviceId header, else the file name's last `_` part)
    rate_hz: float
    packet_counter: np.ndarray  # (N,) int64, unwrapped (monotonic); row index when the file has none
    stream: ImuStream  # contract units; gyro is NaN when has_gyro is False
    columns: list[str]  # the file's header, as written
    notes: list[str]
    has_gyro: bool = True


def _detect_separator(header: str) -> str:
    for sep in ("\t", ";", ","):
        if sep in header:
            return sep
    return " "


def _find(columns_lower: list[str], group: tuple[tuple[str, ...], ...]) -> list[int] | None:
    """Column indices for every member of `group`, or None when any is absent."""
    found = []
    for aliases in group:
        idx = next((columns_lower.index(a) for a in aliases if a in columns_lower), None)
        if idx is None:
            return None
        found.append(idx)
    return found


def _unwrap_counter(
    path: Path, counter: np.ndarray, bits: int, lines: np.ndarray, column: str
) -> tuple[np.ndarray, int]:
    """(monotonic int64 counter, duplicates) for a counter that wraps at 2**bits.

    A drop of more than half the range is a wrap; a smaller drop is a
    corrupt or spliced file and raises. A repeated value is the same packet
    written twice: dropped and counted by the caller via the returned mask.
    """
    bad = np.flatnonzero(~np.isfinite(counter))
    if bad.size:
        raise DataError(path, "missing counter value", line=int(lines[bad[0]]), column=column)
    c = counter.astype(np.int64)
    span = 1 << bits
    step = np.diff(c)
    backwards = np.flatnonzero((step < 0) & (step > -span // 2))
    if backwards.size:
        i = backwards[0] + 1
        raise DataError(path, f"counter goes backwards ({c[i]} after {c[i - 1]})", line=int(lines[i]), column=column)
    step = np.where(step < 0, step + span, step)
    return np.concatenate(([c[0]], c[0] + np.cumsum(step))), int((step == 0).sum())


def _counter_bits(counter: np.ndarray, natural: int) -> int:
    # PacketCounter is 16-bit and SampleTimeFine 32-bit on MTw; a larger value
    # means a device with a wider register, which then must not be unwrapped early.
    top = np.nanmax(counter) if counter.size else 0
    return natural if top < (1 << natural) else 64


def read_xsens_txt(path: str | Path, rate_hz: float | None = None, max_nan_run: int = 5) -> XsensRecording:
    """One sensor's MT Manager export in contract units.

    Time: SampleTimeFine / 10 kHz when the column has values (32-bit wrap
    handled), else PacketCounter / rate (16-bit wrap handled, dropped packets
    become gaps in time), else row index / rate. Times are absolute counter
    times, so sensors of one Awinda recording stay aligned.

    Rate: `rate_hz` if given, else the `Update Rate` header, else inferred
    from SampleTimeFine; a file with none of these raises DataError asking
    for `rate_hz`.

    Units: acc m/s^2 and gyro rad/s as Xsens writes them; mag as given.
    No accelerometer -> DataError. No gyroscope -> gyro is NaN, `has_gyro`
    False and a note. Orientation -> `stream.quat` from Quat, Mat or Euler
    (in that order of preference).
    """
    path = Path(path)
    lines = read_text(path).splitlines()
    notes: list[str] = []

    header_rate: float | None = None
    sensor_id: str | None = None
    at = 0
    while at < len(lines) and (lines[at].startswith("//") or not lines[at].strip()):
        if m := _RATE_RE.search(lines[at]):
            header_rate = float(m.group(1).replace(",", "."))
        if m := _DEVICE_RE.search(lines[at]):
            sensor_id = m.group(1).upper()
        at += 1
    if at == len(lines):
        raise DataError(path, "no column header row after the // header")
    header_line_no = at + 1
    sep = _detect_separator(lines[at])
    columns = lines[at].split(sep)
    while columns and not columns[-1].strip():
        columns.pop()  # a separator at the end of the header row
    columns = [c.strip() for c in columns]
    lower = [c.lower() for c in columns]

    rows: list[list[str]] = []
    row_lines: list[int] = []
    for i in range(at + 1, len(lines)):
        if not lines[i].strip() or lines[i].startswith("//"):
            continue
        rows.append(split_fields(path, lines[i], sep, len(columns), i + 1))
        row_lines.append(i + 1)
    line_numbers = np.asarray(row_lines, dtype=np.int64)
    if not rows:
        raise DataError(path, "no data rows", line=header_line_no)

    acc_idx = _find(lower, _ACC)
    if acc_idx is None:
        raise DataError(
            path,
            f"no accelerometer (Acc_X, Acc_Y, Acc_Z) in the header; found {columns}",
            line=header_line_no,
        )
    gyr_idx = _find(lower, _GYR)
    mag_idx = _find(lower, _MAG)
    orientation = next(
        ((kind, idx) for kind, group in (("quat", _QUAT), ("mat", _MAT), ("euler", _EULER)) if (idx := _find(lower, group))),
        None,
    )
    pc_idx = lower.index("packetcounter") if "packetcounter" in lower else None
    stf_idx = lower.index("sampletimefine") if "sampletimefine" in lower else None

    wanted = acc_idx + (gyr_idx or []) + (mag_idx or []) + (orientation[1] if orientation else [])
    clocks = [i for i in (pc_idx, stf_idx) if i is not None]
    # A ',' inside a field of a non-comma file can only be a decimal comma.
    decimal_comma = sep != "," and any("," in rows[0][i] for i in wanted)
    if decimal_comma:
        notes.append("decimal commas read as decimal points")
    values = numeric_columns(path, rows, line_numbers, columns, wanted, decimal_comma)
    clock_values = numeric_columns(path, rows, line_numbers, columns, clocks)
    pc = clock_values[:, clocks.index(pc_idx)] if pc_idx is not None else None
    stf = clock_values[:, clocks.index(stf_idx)] if stf_idx is not None else None

    # --- the clock
    if rate_hz is not None and header_rate is not None and abs(rate_hz - header_rate) > 1e-9:
        notes.append(f"rate_hz={rate_hz} overrides the header's Update Rate {header_rate} Hz")
    rate = rate_hz if rate_hz is not None else header_rate
    keep = np.ones(len(rows), dtype=bool)
    if stf is not None and np.isfinite(stf).all():
        ticks, _ = _unwrap_counter(path, stf, _counter_bits(stf, 32), line_numbers, columns[stf_idx])
        t = ticks / _FINE_TICKS_PER_S
        keep, duplicates = check_time(path, t, line_numbers, columns[stf_idx])
        if rate is None:
            rate = infer_rate(path, t[keep], columns[stf_idx])
        counter = (
            _unwrap_counter(path, pc, _counter_bits(pc, 16), line_numbers, columns[pc_idx])[0]
            if pc is not None
            else np.arange(len(rows), dtype=np.int64)
        )
    elif pc is not None:
        if stf is not None and np.isfinite(stf).any():
            notes.append("SampleTimeFine has gaps: time from PacketCounter instead")
        if rate is None:
            raise DataError(
                path,
                "cannot infer the sample rate: no 'Update Rate' header line and no SampleTimeFine values; "
                "pass rate_hz",
            )
        counter, duplicates = _unwrap_counter(path, pc, _counter_bits(pc, 16), line_numbers, columns[pc_idx])
        keep[1:] = np.diff(counter) > 0
        t = counter / rate
        missing = int((np.diff(counter[keep]) - 1).sum())
        if missing:
            notes.append(f"{missing} missing packets (gaps in PacketCounter)")
    else:
        if rate is None:
            raise DataError(path, "cannot infer the sample rate: no time column and no 'Update Rate'; pass rate_hz")
        counter = np.arange(len(rows), dtype=np.int64)
        t = counter / rate
        duplicates = 0
        notes.append("no PacketCounter/SampleTimeFine: time from row index")
    if duplicates:
        notes.append(f"{duplicates} duplicate packets removed")
    t, values, counter, line_numbers = t[keep], values[keep], counter[keep], line_numbers[keep]

    # --- channels, short NaN runs filled
    repaired = np.empty_like(values)
    for k, i in enumerate(wanted):
        repaired[:, k], filled, runs = repair_nan_runs(path, t, values[:, k], line_numbers, columns[i], max_nan_run)
        if filled:
            notes.append(f"column {columns[i]!r}: {filled} missing values interpolated ({runs} runs)")
    n = len(t)
    acc = repaired[:, 0:3]
    k = 3
    if gyr_idx is not None:
        gyro = repaired[:, k : k + 3]
        k += 3
    else:
        gyro = np.full((n, 3), np.nan)
        notes.append("no gyroscope in file: gyro is NaN")
    mag = None
    if mag_idx is not None:
        mag = repaired[:, k : k + 3]
        k += 3
    quat = None
    if orientation is not None:
        kind, _ = orientation
        block = repaired[:, k:]
        if kind == "quat":
            quat = block / np.linalg.norm(block, axis=1, keepdims=True)
        elif kind == "mat":
            quat = _continuous(matrix_to_quat(block.reshape(n, 3, 3)))
        else:
            quat = _continuous(euler_zyx_deg_to_quat(block[:, 0], block[:, 1], block[:, 2]))

    return XsensRecording(
        path=path,
        sensor_id=sensor_id or path.stem.rsplit("_", 1)[-1].upper(),
        rate_hz=float(rate),
        packet_counter=counter,
        stream=ImuStream(t=t, acc=acc, gyro=gyro, mag=mag, quat=quat),
        columns=columns,
        notes=notes,
        has_gyro=gyr_idx is not None,
    )


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """(N,3,3) rotation matrices -> (N,4) quaternions w,x,y,z (Shepperd's method, w >= 0)."""
    n = r.shape[0]
    q = np.empty((n, 4))
    trace = r[:, 0, 0] + r[:, 1, 1] + r[:, 2, 2]
    # Pick the largest of w,x,y,z to divide by, so no branch loses precision.
    cand = np.stack([trace, r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]], axis=1)
    best = np.argmax(cand, axis=1)
    for b in range(4):
        m = best == b
        if not m.any():
            continue
        rr = r[m]
        if b == 0:
            s = np.sqrt(1.0 + trace[m]) * 2
            q[m] = np.stack([0.25 * s, (rr[:, 2, 1] - rr[:, 1, 2]) / s, (rr[:, 0, 2] - rr[:, 2, 0]) / s, (rr[:, 1, 0] - rr[:, 0, 1]) / s], 1)
        elif b == 1:
            s = np.sqrt(1.0 + rr[:, 0, 0] - rr[:, 1, 1] - rr[:, 2, 2]) * 2
            q[m] = np.stack([(rr[:, 2, 1] - rr[:, 1, 2]) / s, 0.25 * s, (rr[:, 0, 1] + rr[:, 1, 0]) / s, (rr[:, 0, 2] + rr[:, 2, 0]) / s], 1)
        elif b == 2:
            s = np.sqrt(1.0 + rr[:, 1, 1] - rr[:, 0, 0] - rr[:, 2, 2]) * 2
            q[m] = np.stack([(rr[:, 0, 2] - rr[:, 2, 0]) / s, (rr[:, 0, 1] + rr[:, 1, 0]) / s, 0.25 * s, (rr[:, 1, 2] + rr[:, 2, 1]) / s], 1)
        else:
            s = np.sqrt(1.0 + rr[:, 2, 2] - rr[:, 0, 0] - rr[:, 1, 1]) * 2
            q[m] = np.stack([(rr[:, 1, 0] - rr[:, 0, 1]) / s, (rr[:, 0, 2] + rr[:, 2, 0]) / s, (rr[:, 1, 2] + rr[:, 2, 1]) / s, 0.25 * s], 1)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.where(q[:, :1] < 0, -q, q)


def euler_zyx_deg_to_quat(roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Xsens Euler angles (degrees, R = Rz(yaw) Ry(pitch) Rx(roll)) -> (N,4) w,x,y,z."""
    hr, hp, hy = (np.radians(a) / 2 for a in (roll, pitch, yaw))
    cr, sr, cp, sp, cy, sy = np.cos(hr), np.sin(hr), np.cos(hp), np.sin(hp), np.cos(hy), np.sin(hy)
    return np.stack(
        [
            cy * cp * cr + sy * sp * sr,
            cy * cp * sr - sy * sp * cr,
            cy * sp * cr + sy * cp * sr,
            sy * cp * cr - cy * sp * sr,
        ],
        axis=1,
    )


def _continuous(q: np.ndarray) -> np.ndarray:
    """Flip signs so consecutive quaternions lie in one hemisphere (q and -q are one rotation)."""
    if len(q) < 2:
        return q
    flips = np.concatenate(([False], np.sum(q[1:] * q[:-1], axis=1) < 0))
    sign = np.where(np.cumsum(flips) % 2 == 1, -1.0, 1.0)
    return q * sign[:, None]


def xsens_mapping(xml_path: str | Path) -> dict[str, str]:
    """sensor id -> placement from an OpenSense `myIMUMappings.xml`.

    `<ExperimentalSensor name="_00B421EF"><name_in_model>calcn_r_imu</...>`
    becomes `{"00B421EF": "calcn_r"}`: the leading `_` of the name and the
    `_imu` suffix of the model frame are dropped. A frame that is not one of
    PLACEMENTS is a DataError rather than a silently missing sensor.
    """
    xml_path = Path(xml_path)
    try:
        root = ET.fromstring(read_text(xml_path))
    except ET.ParseError as e:
        raise DataError(xml_path, f"not valid XML ({e})", line=e.position[0]) from None
    mapping: dict[str, str] = {}
    for sensor in root.iter("ExperimentalSensor"):
        raw_name = sensor.get("name", "")
        frame = (sensor.findtext("name_in_model") or "").strip()
        sensor_id = raw_name.strip().lstrip("_").upper()
        placement = frame.removesuffix("_imu")
        if not sensor_id:
            raise DataError(xml_path, "ExperimentalSensor without a name")
        if placement not in PLACEMENTS:
            raise DataError(xml_path, f"sensor {raw_name!r}: model frame {frame!r} is not one of {PLACEMENTS}")
        mapping[sensor_id] = placement
    if not mapping:
        raise DataError(xml_path, "no ExperimentalSensor entries")
    return mapping


def read_xsens_trial(xml_path: str | Path, folder: str | Path | None = None, rate_hz: float | None = None) -> Trial:
    """All sensors of one OpenSense trial: `<trial_prefix>_<sensor id>.txt` per mapped sensor.

    `folder` defaults to the XML's folder. The Trial has no angles (Xsens
    exports carry none) and notes prefixed with each placement.
    """
    xml_path = Path(xml_path)
    folder = Path(folder) if folder is not None else xml_path.parent
    try:
        prefix = (ET.fromstring(read_text(xml_path)).findtext(".//trial_prefix") or "").strip()
    except ET.ParseError as e:
        raise DataError(xml_path, f"not valid XML ({e})") from None
    if not prefix:
        raise DataError(xml_path, "no <trial_prefix>")
    imus: dict[str, ImuStream] = {}
    notes: list[str] = []
    rates: set[float] = set()
    sources = [str(xml_path)]
    for sensor_id, placement in xsens_mapping(xml_path).items():
        path = folder / f"{prefix}_{sensor_id}.txt"
        rec = read_xsens_txt(path, rate_hz)
        imus[placement] = rec.stream
        rates.add(rec.rate_hz)
        sources.append(str(path))
        notes += [f"{placement}: {note}" for note in rec.notes]
    if len(rates) != 1:
        raise DataError(xml_path, f"sensors of trial {prefix!r} disagree on the sample rate: {sorted(rates)}")
    return Trial(name=prefix, imus=imus, angles_t=None, angles={}, rate_hz=rates.pop(), source=", ".join(sources), notes=notes)
