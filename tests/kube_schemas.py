"""Validation against the official Kubernetes OpenAPI schemas, offline and strict.

The schemas are the ones kubernetes-validate bundles for each Kubernetes minor
release; "strict" rejects unknown fields, which is what catches a misspelt
key that the API server would drop or reject only on a live cluster. The
validators are cached: the fake API server checks every body it sends.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

VERSIONS = ("1.30", "1.34")
SERVER_VERSION = "1.34"
# Bodies that are not a typed object with apiVersion/kind: the schema file by name.
SPECIAL = {"Status": "status-meta-v1", "WatchEvent": "watchevent-meta-v1",
           "Info": "info-pkg-version"}


def _folder(version: str) -> Any:
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return root / f"v{version}.0-local-strict"


@functools.lru_cache(maxsize=64)
def _validator(version: str, schema_file: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    folder = _folder(version)
    schema = json.loads((folder / f"{schema_file}.json").read_text())
    definitions = json.loads((folder / "_definitions.json").read_text())
    registry = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_file(doc: dict[str, Any]) -> str:
    kind = str(doc.get("kind", ""))
    if kind in SPECIAL:
        return SPECIAL[kind]
    group_version = str(doc["apiVersion"])
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", group_version)
    return f"{kind.lower()}-{api}"


def errors(doc: dict[str, Any], version: str, kind: str | None = None) -> list[str]:
    validator = _validator(version, SPECIAL[kind] if kind else schema_file(doc))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in validator.iter_errors(doc)]


def validate(doc: dict[str, Any], versions: tuple[str, ...] = VERSIONS) -> None:
    for version in versions:
        found = errors(doc, version)
        if found:
            raise AssertionError(f"{doc.get('kind')} invalid for Kubernetes {version}: "
                                 + "; ".join(found[:5]))
