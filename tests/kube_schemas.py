"""Validation against the official Kubernetes OpenAPI schemas, offline and strict.

kubernetes-validate bundles the schemas of each Kubernetes minor release;
"strict" rejects unknown fields, which is what catches a misspelt key that the
API server would silently drop (or reject with a 400 only on a live cluster).
"""

from __future__ import annotations

from typing import Any

VERSIONS = ("1.30", "1.34")


def validate(doc: dict[str, Any], versions: tuple[str, ...] = VERSIONS) -> None:
    import kubernetes_validate

    for version in versions:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.absolute_path)
            raise AssertionError(f"{doc.get('kind')} invalid for Kubernetes {version} "
                                 f"at {path or '(root)'}: {exc.message}") from None
