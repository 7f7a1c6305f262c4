"""CloudEvents 1.0 in JSON structured mode: the envelope on every message in and out.

Only what this service needs: parse and validate an incoming envelope, build and
serialise an outgoing one. Structured mode keeps the attributes inside the body,
so an event survives any transport (JetStream, a log line, a test fixture) whole.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
REQUIRED = ("specversion", "id", "source", "type")


class InvalidEvent(ValueError):
    """The bytes are not a CloudEvents 1.0 JSON envelope; nothing can be correlated."""


@dataclass(frozen=True)
class CloudEvent:
    type: str
    source: str
    data: Any = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    subject: str | None = None
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    datacontenttype: str = "application/json"
    specversion: str = SPEC_VERSION

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": self.datacontenttype,
        }
        if self.subject is not None:
            out["subject"] = self.subject
        if self.data is not None:
            out["data"] = self.data
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def parse(raw: bytes) -> CloudEvent:
    """Decode a structured-mode envelope, or raise :class:`InvalidEvent` saying why."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidEvent("the envelope is not a JSON object")
    missing = [name for name in REQUIRED if not isinstance(body.get(name), str) or not body[name]]
    if missing:
        raise InvalidEvent(f"missing or empty attributes: {', '.join(missing)}")
    if body["specversion"] != SPEC_VERSION:
        raise InvalidEvent(f"specversion {body['specversion']!r} is not {SPEC_VERSION}")
    subject = body.get("subject")
    return CloudEvent(
        type=body["type"],
        source=body["source"],
        id=body["id"],
        data=body.get("data"),
        subject=subject if isinstance(subject, str) else None,
        time=str(body.get("time") or ""),
        datacontenttype=str(body.get("datacontenttype") or "application/json"),
    )
