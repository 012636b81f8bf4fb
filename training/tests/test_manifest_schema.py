"""One schema for the manifest (issue #9 item 8): every manifest Python writes or
reads follows docs/schema/manifest.schema.json, which the edge generates from its
zod schema (test/contract/manifestJsonSchema.test.ts holds the file to zod). A
contract change on one side only fails here or there."""

import copy
import json

import pytest

from gaitlstm.contract import load_contract
from gaitlstm.manifest_schema import SCHEMA_FILE, ManifestError, pipeline_branches, validate_manifest

SHIPPED = "models/reduced-femur-calcn-lstm/manifest.json"
V1 = "test/fixtures/models/tiny-v1/manifest.json"
V2_FIXTURE = "test/fixtures/contract/manifest.v2.json"  # what export wrote for a tiny v2 run (its README)


def test_the_schema_knows_both_feature_pipelines() -> None:
    assert set(pipeline_branches()) == {"gait-features/1", "gait-features/2"}
    assert "calibration" in pipeline_branches()["gait-features/2"]["required"]
    assert "calibration" not in pipeline_branches()["gait-features/1"]["properties"]
    assert json.loads(SCHEMA_FILE.read_text())["description"].startswith("GENERATED from edge/contract/manifest.ts")


def test_the_shipped_manifest_follows_the_schema(repo) -> None:
    validate_manifest(json.loads((repo / SHIPPED).read_text()), SHIPPED)


def test_the_v2_fixture_follows_the_schema_and_v1_rules_do_not_fit_it(repo) -> None:
    m = json.loads((repo / V2_FIXTURE).read_text())
    validate_manifest(m, V2_FIXTURE)
    sensor = copy.deepcopy(m)
    sensor["channels"][0]["frame"] = "sensor"
    with pytest.raises(ManifestError, match=r"channels\[0\]\.frame: 'sensor' is not one of \['segment', 'euler'\]"):
        validate_manifest(sensor, V2_FIXTURE)
    no_cal = copy.deepcopy(m)
    del no_cal["calibration"]["constants"]["MIN_PLANARITY"]
    with pytest.raises(ManifestError, match=r"calibration\.constants\.MIN_PLANARITY: missing"):
        validate_manifest(no_cal, V2_FIXTURE)
    del no_cal["calibration"]
    with pytest.raises(ManifestError, match=r"manifest\.v2\.json: calibration: missing \(required\)"):
        validate_manifest(no_cal, V2_FIXTURE)


def test_a_fresh_export_follows_the_schema(exported) -> None:
    m, d = exported
    validate_manifest(m, d / "manifest.json")
    assert json.loads((d / "manifest.json").read_text()) == m


def test_the_manifest_says_what_was_trained(trained, exported, demo_dir) -> None:
    """Provenance from the checkpoint's args and the recordings actually used, not constants."""
    _, ck = trained
    m, _ = exported
    p = m["provenance"]
    assert p["subjects"] == {"train": ["ab06"], "val": ["ab06"], "test": ["ab06"]}
    assert p["dataset"] == "data/ab06: trained on ab06, tested on ab06 (the data's source: data/ab06/README.md)"
    assert "AB06" not in p["dataset"]  # no stamped subject: the name is the data's own
    assert p["method"] == ck.config.method == "ui" and p["heldout"] is None
    assert p["train_set"] == [x.to_dict() for x in ck.train_parts]
    assert p["val_set"] == [x.to_dict() for x in ck.val_parts] and p["val_set"]
    assert p["test_set"] == [{"subject": "ab06", "trial": "levelground_ccw_normal_04_01", "start": 0.8, "end": 1.0}]
    assert p["val_trials"] == p["test_trials"] == ["ab06/levelground_ccw_normal_04_01"]
    args = p["train_args"]
    assert args["arch"] == "lstm" and args["pipeline"] == "gait-features/1" and args["max_epochs"] == 1
    assert args["imus"] == list(m["placements"]) and args["joints"] == [j["name"] for j in m["joints"]]
    assert m["architecture"] == {"type": "lstm", "layers": 3, "hidden": 128, "dropout": 0.2}


def test_a_cnn_checkpoint_exports_its_own_architecture(demo_dir, tmp_path) -> None:
    from gaitlstm.config import TrainConfig
    from gaitlstm.export import export
    from gaitlstm.train import train

    train(TrainConfig(data=str(demo_dir), out=str(tmp_path / "run"), arch="cnn", heldout=None, max_epochs=1, threads=1, train_stride=50))
    m = export(tmp_path / "run" / "checkpoint.pt", tmp_path / "m", "cnn-model", "0.0.1")
    assert m["architecture"]["type"] == "cnn" and m["provenance"]["train_args"]["arch"] == "cnn"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m.update(extra=1), r"x\.json: extra: unknown field"),
    (lambda m: m["ahrs"].update(gain=1), r"x\.json: ahrs\.gain: unknown field"),
    (lambda m: m["provenance"].update(subject="AB06"), r"provenance\.subject: unknown field"),
    (lambda m: m.pop("window"), r"x\.json: window: missing \(required\)"),
    (lambda m: m.update(window="50"), r"x\.json: window: '50' is not of type 'integer'"),
    (lambda m: m.update(architecture={"type": "gru"}), r'architecture\.type: expected one of "lstm", "cnn" \(got "gru"\)'),
    (lambda m: m["architecture"].pop("hidden"), r"architecture\.hidden: missing"),
    (lambda m: m.update(feature_pipeline="gait-features/9"), r'feature_pipeline: expected one of gait-features/1, gait-features/2, got "gait-features/9"'),
])
def test_a_bad_manifest_is_refused_naming_the_field(repo, edit, message) -> None:
    m = json.loads((repo / SHIPPED).read_text())
    edit(m)
    with pytest.raises(ManifestError, match=message):
        validate_manifest(m, "x.json")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m["channels"][0].update(frame="segment"), r"channels\[0\]\.frame: 'segment' is not one of \['sensor', 'euler'\]"),
    (lambda m: m.update(calibration={}), r"x\.json: calibration: unknown field"),  # v1 has no calibration step
])
def test_a_bad_v1_manifest_is_refused_naming_the_field(repo, edit, message) -> None:
    # What only a gait-features/1 manifest forbids (the shipped model is v2): on the v1 test model.
    m = json.loads((repo / V1).read_text())
    assert m["feature_pipeline"] == "gait-features/1"
    edit(m)
    with pytest.raises(ManifestError, match=message):
        validate_manifest(m, "x.json")


def test_load_contract_refuses_a_manifest_the_edge_would_refuse(exported, tmp_path) -> None:
    m, d = exported
    bad = copy.deepcopy(m)
    bad["normalization"]["scale"] = [1.0]
    (tmp_path / "model.int8.onnx").write_bytes((d / "model.int8.onnx").read_bytes())
    (tmp_path / "manifest.json").write_text(json.dumps(bad))
    with pytest.raises(ManifestError, match=r"manifest\.json: normalization\.scale: unknown field"):
        load_contract(tmp_path)
