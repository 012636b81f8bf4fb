"""The manifest's ONE schema, shared with the edge.

`docs/schema/manifest.schema.json` is generated from the edge's zod schema
(`edge/contract/manifest.ts`, `npm run schema`), so Python does not restate the
contract: `export` validates every manifest against that file before writing
it, and `load_contract` every manifest.json it reads. A contract change made on
one side only therefore fails `make test` on the other: the edge's test fails
when the committed file is not what zod generates, the Python tests when an
export no longer matches the committed file.

The file has one branch per feature pipeline (`oneOf`, told apart by the
`feature_pipeline` constant); the manifest is checked against ITS branch, so
an error names the field ("calibration.seconds: ...") instead of "not valid
under any of the given schemas". The edge additionally checks what JSON Schema
cannot say (unit quaternions, column order, tensor shapes).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .paths import REPO_ROOT

SCHEMA_FILE = REPO_ROOT / "docs" / "schema" / "manifest.schema.json"
MAX_LISTED = 8  # problems listed in one error, as the edge does


class ManifestError(ValueError):
    """A manifest that does not follow the schema; the message names the file and every field at fault."""


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text())
    except OSError as e:
        raise FileNotFoundError(f"{path}: the manifest schema is missing (regenerate it: `npm run schema`)") from e
    Draft202012Validator.check_schema(schema)
    return schema


def pipeline_branches(schema_file: Path = SCHEMA_FILE) -> dict[str, dict[str, Any]]:
    """The schema's branch for each feature pipeline it knows, by `feature_pipeline` value."""
    schema = _load(schema_file)
    return {b["properties"]["feature_pipeline"]["const"]: b for b in schema["oneOf"]}


def field_path(path: Any) -> str:
    """`a.b[0].c`, as the edge writes field names ("(top level)" for the root)."""
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def _meant_branch(errors: list[ValidationError]) -> list[ValidationError] | None:
    """Of a oneOf's failing branches, the errors of the one whose discriminator (a `const`)
    matched; None when no branch's did (the discriminator itself is wrong)."""
    by_branch: dict[Any, list[ValidationError]] = {}
    for e in errors:
        by_branch.setdefault(e.relative_schema_path[0] if e.relative_schema_path else None, []).append(e)
    meant = [es for es in by_branch.values() if not any(e.validator == "const" for e in es)]
    return min(meant, key=len) if meant else None


def _problems(error: ValidationError) -> list[str]:
    """One line per field an error is about, named."""
    if error.context:  # a nested oneOf (e.g. `architecture`): the errors of the branch it meant
        meant = _meant_branch(error.context)
        if meant is not None:
            return [p for e in meant for p in _problems(e)]
        consts = [e for e in error.context if e.validator == "const"]
        where = field_path(consts[0].absolute_path) if consts else field_path(error.absolute_path)
        options = ", ".join(json.dumps(e.validator_value) for e in consts)
        return [f"{where}: expected one of {options} (got {json.dumps(consts[0].instance if consts else error.instance)[:60]})"]
    where = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        return [f"{field_path([*where, k])}: unknown field (not part of the contract; a typo, or a newer contract?)"
                for k in sorted(set(error.instance) - known)]
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [f"{field_path([*where, k])}: missing (required)" for k in missing]
    got = json.dumps(error.instance)
    got = got if len(got) <= 60 else got[:57] + "..."
    return [f"{field_path(where)}: {error.message if len(error.message) <= 120 else error.message[:117] + '...'} (got {got})"]


def validate_manifest(manifest: dict, source: str | Path, schema_file: Path = SCHEMA_FILE) -> None:
    """Raise ManifestError naming `source` and each field at fault, unless `manifest` follows the schema."""
    branches = pipeline_branches(schema_file)
    if not isinstance(manifest, dict):
        raise ManifestError(f"{source}: expected a JSON object, got {type(manifest).__name__}")
    pipeline = manifest.get("feature_pipeline")
    if pipeline not in branches:
        raise ManifestError(f"{source}: feature_pipeline: expected one of {', '.join(branches)}, got {json.dumps(pipeline)}")
    validator = Draft202012Validator(branches[pipeline])
    problems = [p for e in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path))) for p in _problems(e)]
    if problems:
        listed = problems[:MAX_LISTED] + ([f"... and {len(problems) - MAX_LISTED} more problems"] if len(problems) > MAX_LISTED else [])
        raise ManifestError("\n".join(f"{source}: {p}" for p in listed))
