"""What a Kubernetes run leaves as evidence, written before anything is deleted.

Pod JSON carries the containers' environment, where passwords live; values of
variables whose names look secret are replaced before writing, and every file
goes through the masker as well.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml

from ci.masking import redact

SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
MASK = "***"


def mask_env(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Pod, Job or manifest with secret-looking env values replaced."""
    out = copy.deepcopy(obj)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "name" in node and "value" in node and SECRET_NAME.search(str(node["name"])):
                node["value"] = MASK
            if node.get("kind") == "Secret":
                for key in ("data", "stringData"):
                    if isinstance(node.get(key), dict):
                        node[key] = {k: MASK for k in node[key]}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(out)
    return out


def to_yaml(manifests: list[dict[str, Any]]) -> str:
    docs = [yaml.safe_dump(mask_env(m), sort_keys=False) for m in manifests]
    return redact("---\n" + "---\n".join(docs))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(text), encoding="utf-8")
    return path


def write_json(path: Path, data: Any) -> Path:
    return write(path, json.dumps(mask_env(data) if isinstance(data, dict) else data,
                                  indent=2, default=str))
