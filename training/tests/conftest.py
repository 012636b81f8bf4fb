import gzip
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "training"))

SHARED = REPO.parent / "shared" / "data"
DEMO_TRIAL = REPO / "data" / "ab06"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def demo_dir() -> Path:
    return DEMO_TRIAL


def shared_or_skip(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not present (clone without ../shared); covered by shipped fixtures")
    return p


# ---------------------------------------------------------------- tiny training runs, shared by
# test_train, test_export, test_evaluate, test_splits (session scope: each runs once)

TINY = dict(max_epochs=1, train_stride=25, batch_size=32, threads=2)


@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> Path:
    """Three 'subjects' cut from the shipped AB06 trial at different offsets, two trials each."""
    root = tmp_path_factory.mktemp("cohort")
    imu = gzip.open(DEMO_TRIAL / "levelground_ccw_normal_04_01_imu.csv.gz", "rt").read().splitlines()
    ik = gzip.open(DEMO_TRIAL / "levelground_ccw_normal_04_01_ik.csv.gz", "rt").read().splitlines()
    for s in range(3):
        d = root / f"S{s}" / "trials"
        d.mkdir(parents=True)
        for k in range(2):
            a = 1 + s * 300 + k * 900
            rows = slice(a, a + 1400)
            (d / f"walk_{k:02d}_01_imu.csv").write_text("\n".join([imu[0], *imu[rows]]) + "\n")
            (d / f"walk_{k:02d}_01_ik.csv").write_text("\n".join([ik[0], *ik[rows]]) + "\n")
    return root


@pytest.fixture(scope="session")
def rotated_cohort(cohort, tmp_path_factory) -> Path:
    """The cohort with S2's thigh and foot accelerometers worn turned 90 degrees
    (x -> z, z -> -x): its mean gravity direction differs from S0's and S1's."""
    root = tmp_path_factory.mktemp("rotated")
    for s in ("S0", "S1", "S2"):
        shutil.copytree(cohort / s, root / s)
    for f in (root / "S2" / "trials").glob("*_imu.csv"):
        lines = f.read_text().splitlines()
        header = lines[0].split(",")
        out = [lines[0]]
        for line in lines[1:]:
            v = line.split(",")
            for seg in ("thigh", "foot"):
                x, z = header.index(f"{seg}_Accel_X"), header.index(f"{seg}_Accel_Z")
                v[x], v[z] = v[z], str(-float(v[x]))
            out.append(",".join(v))
        f.write_text("\n".join(out) + "\n")
    return root


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    from gaitlstm.config import TrainConfig
    from gaitlstm.train import train

    out = tmp_path_factory.mktemp("run")
    ck = train(TrainConfig(data=str(DEMO_TRIAL), out=str(out), heldout=None, **TINY))
    return out, ck


@pytest.fixture(scope="session")
def exported(trained, tmp_path_factory):
    from gaitlstm.export import export

    out, _ = trained
    d = tmp_path_factory.mktemp("export") / "model"
    return export(out / "checkpoint.pt", d, "test-model", "0.0.1"), d

