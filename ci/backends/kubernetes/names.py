"""Names and labels the API server accepts, derived from service names and run ids.

The API server rejects a name or label value that breaks its rules with a 422
after part of a run exists; checking here turns that into a config error
before anything starts. The rules are the API server's own (apimachinery's
``IsDNS1123Label`` and ``IsValidLabelValue``).
"""

from __future__ import annotations

import hashlib
import re

MAX_LABEL = 63
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")

DOMAIN = "tiers.dev"
"""Prefix of this framework's own label and annotation keys."""
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "tiers"
RUN_ID = f"{DOMAIN}/run-id"
SERVICE = f"{DOMAIN}/service"
CHECKOUT = f"{DOMAIN}/checkout"
BACKING = f"{DOMAIN}/backing"
ROLE = f"{DOMAIN}/role"
OWNER = f"{DOMAIN}/owner"
HOST = f"{DOMAIN}/host"
EXPIRES = f"{DOMAIN}/expires"
KEPT = f"{DOMAIN}/kept"


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def is_dns_label(text: str) -> bool:
    return len(text) <= MAX_LABEL and bool(DNS1123_LABEL.match(text))


def is_label_value(text: str) -> bool:
    return len(text) <= MAX_LABEL and bool(LABEL_VALUE.match(text))


def dns_label(text: str, max_len: int = MAX_LABEL) -> str:
    """``text`` as a DNS-1123 label: lower case, ``_`` and other marks mapped to ``-``.

    When mapping or truncation loses information, a hash of the original is
    appended so two different inputs cannot end up with one name.
    """
    mapped = re.sub(r"-{2,}", "-", _NOT_DNS.sub("-", text.lower()).strip("-"))
    if mapped and mapped == text.lower().replace("_", "-") and len(mapped) <= max_len:
        return mapped  # only case and `_` changed: a documented, readable mapping
    suffix = short_hash(text, 6)
    head = mapped[: max_len - len(suffix) - 1].strip("-")
    return f"{head}-{suffix}" if head else suffix


def label_value(text: str) -> str:
    """``text`` as a label value (``[A-Za-z0-9_.-]``, alphanumeric at both ends, ≤ 63)."""
    if is_label_value(text):
        return text
    mapped = _NOT_LABEL.sub("-", text).strip("-_.")
    suffix = short_hash(text, 6)
    head = mapped[: MAX_LABEL - len(suffix) - 1].strip("-_.")
    return f"{head}-{suffix}" if head else suffix


def namespace_name(service: str, run_id: str) -> str:
    """``tiers-<service>-<runid>``, shortening the service part (never the run id)."""
    run = dns_label(run_id, 16)
    room = MAX_LABEL - len("tiers-") - len(run) - 1
    return f"tiers-{dns_label(service, room)}-{run}"


def checkout_hash(checkout: str) -> str:
    """A label value standing for a checkout path (paths are not valid label values)."""
    return short_hash(checkout, 16)
